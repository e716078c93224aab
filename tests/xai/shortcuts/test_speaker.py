"""The speaker checks: a probe finds speaker identity where the features carry it and not where they do not;
per-speaker normalisation gains where speaker offsets hide the emotion and not where there are none."""

from __future__ import annotations

import numpy as np
import pytest

from seraudit.xai.shortcuts.rules import FAIL, PASS, WARN
from seraudit.xai.shortcuts.speaker import normalise_by_speaker, normalised_uar, speaker_checks, speaker_probe
from seraudit.xai.shortcuts.features import RunFeatures

N_SPEAKERS, N_EMOTIONS, PER_CELL, DIMS = 8, 4, 6, 40
FOLDS = [{"index": i, "test_speakers": [f"s{2 * i}", f"s{2 * i + 1}"]} for i in range(4)]


def corpus(speaker_scale: float, emotion_scale: float, seed: int = 0):
    """Clip features = the speaker's offset + the emotion's direction + noise; (x, emotion ids, speakers)."""
    rng = np.random.default_rng(seed)
    speakers = np.repeat([f"s{i}" for i in range(N_SPEAKERS)], N_EMOTIONS * PER_CELL)
    y = np.tile(np.repeat(np.arange(N_EMOTIONS), PER_CELL), N_SPEAKERS)
    offsets = rng.normal(0, speaker_scale, (N_SPEAKERS, DIMS))
    directions = rng.normal(0, emotion_scale, (N_EMOTIONS, DIMS))
    x = offsets[np.array([int(s[1:]) for s in speakers])] + directions[y] + rng.normal(0, 1, (len(y), DIMS))
    return x, y, speakers


def test_a_probe_names_speakers_whose_features_carry_them_far_above_chance():
    x, _, speakers = corpus(speaker_scale=2.0, emotion_scale=0.5)
    result = speaker_probe(x, speakers, n_permutations=3)
    assert result["chance"] == pytest.approx(1 / N_SPEAKERS)
    assert result["accuracy"] > 0.9
    assert max(result["permuted"]) < 0.3  # the control: the same probe on permuted speakers
    assert result["interval"][0] > result["permuted_q95"]


def test_shuffled_features_leave_the_probe_near_chance():
    x, _, speakers = corpus(speaker_scale=2.0, emotion_scale=0.5)
    shuffled = x[np.random.default_rng(1).permutation(len(x))]
    result = speaker_probe(shuffled, speakers, n_permutations=3)
    assert abs(result["accuracy"] - 1 / N_SPEAKERS) < 0.1


def test_normalising_each_speaker_centres_and_scales_its_clips():
    x, _, speakers = corpus(speaker_scale=2.0, emotion_scale=0.5)
    z = normalise_by_speaker(x, speakers)
    for s in np.unique(speakers):
        np.testing.assert_allclose(z[speakers == s].mean(axis=0), 0.0, atol=1e-9)
        np.testing.assert_allclose(z[speakers == s].std(axis=0), 1.0, atol=1e-9)


def test_normalisation_gains_where_speaker_offsets_hide_the_emotion():
    x, y, speakers = corpus(speaker_scale=4.0, emotion_scale=0.6)
    result = normalised_uar(x, y, speakers, FOLDS, n_boot=200)
    assert result["gap"] > 15 and result["interval"][0] > 0
    assert abs(result["control_gap"]) < result["gap"] / 2  # normalising random groups does not do it


def test_no_speaker_offsets_no_gain():
    x, y, speakers = corpus(speaker_scale=0.0, emotion_scale=0.6)
    result = normalised_uar(x, y, speakers, FOLDS, n_boot=200)
    assert result["interval"][0] <= 0 <= result["interval"][1] or abs(result["gap"]) < 5


class Run:
    folds = {"folds": FOLDS}
    results = {"models": {"m": {"display_name": "Model M (VGGish untrained)", "uar": {"pooled": 50.0}}}}


@pytest.mark.parametrize("speaker_scale, probe_status, norm_status", [(4.0, WARN, FAIL), (0.0, PASS, PASS)])
def test_the_checks_read_as_the_rules_say(speaker_scale, probe_status, norm_status):
    x, y, speakers = corpus(speaker_scale=speaker_scale, emotion_scale=0.6)
    features = RunFeatures(table=None, labels=[str(i) for i in range(N_EMOTIONS)], y=y, speakers=speakers,
                           features={"m": x})
    probe, norm = speaker_checks(Run(), ["m"], features=features, n_permutations=3)
    assert (probe["id"], norm["id"]) == ("shortcut.speaker_probe.m", "shortcut.speaker_norm.m")
    assert probe["status"] == probe_status and norm["status"] == norm_status
    assert probe["threshold"] == pytest.approx(np.quantile(probe["permuted"], 0.95))
    assert norm["threshold"] == 10.0 and norm["model_uar"] == 50.0 and "Model M" in norm["name"]
    assert "(" not in probe["name"] + norm["name"]  # short names: the report's banner says which model is untrained


def test_a_corpus_too_small_to_probe_gives_skipped_checks_not_an_error():
    x, y, speakers = corpus(speaker_scale=1.0, emotion_scale=0.6)
    one_clip_each = np.flatnonzero(np.r_[True, speakers[1:] != speakers[:-1]])  # the first clip of every speaker
    features = RunFeatures(table=None, labels=[], y=y[one_clip_each], speakers=speakers[one_clip_each],
                           features={"m": x[one_clip_each]})
    checks = speaker_checks(Run(), ["m"], features=features, n_permutations=2)
    assert [c["status"] for c in checks] == ["skipped", "skipped"] and "two clips" in checks[0]["reason"]
