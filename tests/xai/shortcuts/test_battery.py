"""The edit battery catches a model that keys on a planted cue and passes one that does not.

Hand-built models read the log-mel patches of each clip directly: one keys on energy above
6 kHz (above the telephone band too), one on the overall level, one on a level-free spectral
shape inside the band. The clips are synthesised harmonic tones, so the cue each model reads is known.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seraudit.core.constants import SAMPLE_RATE as RATE
from seraudit.preprocessing.pipeline import clip_features
from seraudit.xai.shortcuts.battery import edit_battery, edit_checks
from seraudit.xai.shortcuts.edits import EDITS, NULL_EDIT
from seraudit.xai.shortcuts.rules import FAIL, PASS

N_CLIPS = 10
KEYS = {"id", "name", "status", "value", "threshold", "control", "figure", "evidence", "evidence_audit"}


def harmonic(f0: float, seconds: float = 1.5, seed: int = 0) -> np.ndarray:
    """A harmonic comb up to 7.9 kHz with a slow loudness swing, plus a little noise: voiced, energy in every band."""
    t = np.arange(int(seconds * RATE)) / RATE
    comb = sum(np.sin(2 * np.pi * f0 * h * t) / np.sqrt(h) for h in range(1, int(7900 / f0) + 1))
    wave = 0.03 * comb * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    return (wave + np.random.default_rng(seed).normal(0, 1e-3, t.size)).astype(np.float32)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


class CueModel:
    """A two-class model over each clip's pooled patches ``[S, K, 96, 64]``: P("angry") from one number of the log-mel."""

    pools_in_graph = True

    def __init__(self, name: str, cue):
        self.name, self.cue, self.labels = name, cue, ["calm", "angry"]
        self.display_name = name.replace("_", " ")

    def predict_clips(self, patch_sets: np.ndarray, batch_size: int = 64) -> np.ndarray:
        p = sigmoid(np.array([self.cue(np.asarray(s, np.float64)) for s in patch_sets]))
        return np.stack([1 - p, p], axis=1)


MODELS = {
    # energy above 6 kHz (mel bands 59-63, 5.9-7.5 kHz) against the band's middle
    "treble": CueModel("treble", lambda s: 2.0 * (s[:, :, 59:].mean() - s[:, :, 10:40].mean() + 3.0)),
    # the overall level of the log-mel (+6 dB raises it by ln 2 = 0.69; the clips sit at -0.3 to -0.8)
    "level": CueModel("level", lambda s: 20.0 * (s.mean() + 0.2)),
    # a level-free shape inside the band: the slope between two groups of mid bands
    "shape": CueModel("shape", lambda s: 5.0 * (s[:, :, 20:30].mean() - s[:, :, 30:40].mean() + 1.0)),
}


class FakeRun:
    """What the battery asks of a run: cut a clip, find the clip's fold, and give the fold's model (loads counted)."""

    gds_threshold = -1.0

    def __init__(self, waves: dict[str, np.ndarray]):
        self.waves = waves
        self.loads: list[tuple[str, int | None]] = []

    def clip(self, source):
        return clip_features((self.waves[source], RATE) if isinstance(source, str) else source)

    def corpus_row(self, path):
        return pd.DataFrame({"speaker": [f"s{int(path.split('_')[1]) % 2}"]})

    def fold_of(self, speaker):
        return int(speaker[1:])

    def model_for_clip(self, name, path, *, base=None):
        self.loads.append((name, self.fold_of(self.corpus_row(path)["speaker"].iloc[0])))
        return MODELS[name]


@pytest.fixture(scope="module")
def waves() -> dict[str, np.ndarray]:
    return {f"clip_{i}": harmonic(150.0 + 9.0 * i, seed=i) for i in range(N_CLIPS)}


@pytest.fixture(scope="module", autouse=True)
def voicing_rule():
    """The synthetic harmonic clips are voiced by the voicing rule but are not speech to the Silero detector behind
    `voiced_mask`; the trim edit reads the voicing rule here, so every edit applies to every clip."""
    import seraudit.preprocessing.speech as speech

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(speech, "voiced_mask", speech.voicing_mask)
        yield


@pytest.fixture(scope="module")
def battery(waves):
    run = FakeRun({**waves, "clip_99_silent": np.zeros(RATE, np.float32)})
    result = edit_battery(run, [*waves, "clip_99_silent"], list(MODELS))
    result["loads"] = run.loads
    return result


def by_id(result) -> dict[str, dict]:
    return {c["id"]: c for c in result["checks"]}


def test_every_edit_and_model_gets_one_check_in_the_audit_format(battery):
    checks = by_id(battery)
    assert set(checks) == {f"shortcut.{e}.{m}" for e in EDITS for m in MODELS}
    for c in checks.values():
        assert KEYS <= set(c) and c["model"] in MODELS and c["edit"] in EDITS
        assert c["n_clips"] == N_CLIPS and c["threshold"] == 0.2 and c["null_edit"] == NULL_EDIT
        assert len(c["clips"]) == N_CLIPS and {"original", "edited", "control"} <= set(c["clips"][0])


@pytest.mark.parametrize("edit", ["telephone", "high_band"])
def test_a_model_keyed_on_high_frequencies_fails_the_telephone_and_high_band_checks(battery, edit):
    c = by_id(battery)[f"shortcut.{edit}.treble"]
    assert c["status"] == FAIL
    assert c["value"] == 1.0 and c["control"] == 0.0 and c["flips"] == N_CLIPS
    assert c["delta_p"] > 0.9 and c["control_delta_p"] < 0.05
    assert all(clip["original"]["label"] == "angry" and clip["edited"]["label"] == "calm" for clip in c["clips"])


def test_a_level_keyed_model_fails_gain_up_and_a_band_shape_model_passes_everything(battery):
    checks = by_id(battery)
    assert checks["shortcut.gain_up.level"]["status"] == FAIL
    assert checks["shortcut.gain_up.level"]["mean_level_change_db"] == pytest.approx(6.0, abs=0.05)
    assert checks["shortcut.gain_down.level"]["status"] == PASS  # quieter only moves it further from its threshold
    assert {checks[f"shortcut.{e}.shape"]["status"] for e in EDITS} == {PASS}
    assert checks["shortcut.telephone.level"]["control"] == 0.0


def test_an_unusable_clip_is_recorded_and_the_batch_goes_on(battery):
    assert [f["clip"] for f in battery["failures"]] == ["clip_99_silent"]
    assert "silent" in battery["failures"][0]["error"] and battery["failures"][0]["stage"] == "shortcuts"


def test_each_fold_model_is_loaded_once(battery):
    assert sorted(battery["loads"]) == sorted((m, f) for m in MODELS for f in (0, 1))


def test_edit_checks_returns_the_checks(waves):
    run = FakeRun(waves)
    checks = edit_checks(run, list(waves)[:2], ["shape"])
    assert [c["id"] for c in checks] == [f"shortcut.{e}.shape" for e in EDITS]


def test_clips_without_headroom_are_left_out_of_gain_up_and_the_check_says_why(waves):
    loud = {name: wave / np.max(np.abs(wave)) * 0.9 for name, wave in list(waves.items())[:2]}
    checks = {c["id"]: c for c in edit_checks(FakeRun(loud), list(loud), ["shape"])}
    up = checks["shortcut.gain_up.shape"]
    assert up["status"] == "skipped" and up["value"] is None and len(up["skipped"]) == 2
    assert "would clip" in up["figure"] and "would clip" in up["skipped"][0]["reason"]
    assert checks["shortcut.gain_down.shape"]["n_clips"] == 2  # the other edits are judged as usual
