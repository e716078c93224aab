"""Probing against controls: a probe on features that know nothing is reported as control-level, one on features
that linearly encode a target sits above control, and label-permuted fits give a null near 0."""

from __future__ import annotations

import numpy as np
import pytest

from seraudit.xai.probing.controls import ALL, SpeakerBootstrap, _r2_per_feature, control_verdict, probe_controls

CATEGORIES = {"loud_a": "energy", "loud_b": "energy", "pitch_a": "pitch", "pitch_b": "pitch"}
FEATURES = list(CATEGORIES)


@pytest.fixture(scope="module")
def corpus():
    """10 speakers x 12 clips; 'energy' features are linear in the trained embedding, 'pitch' features in nothing."""
    rng = np.random.default_rng(3)
    n = 120
    speakers = np.repeat([f"s{i}" for i in range(10)], 12)
    energy = rng.normal(size=(n, 2))
    Y = np.column_stack([energy, rng.normal(size=(n, 2))])
    trained = np.column_stack([energy @ rng.normal(size=(2, 6)), rng.normal(size=(n, 10))]) + 0.3 * rng.normal(size=(n, 16))
    random_weights = rng.normal(size=(n, 16))  # the same clips through a network that learned nothing
    return trained, random_weights, Y, speakers


def by_group(table):
    return {row["category"]: row for row in table.to_dict("records")}


def test_features_that_encode_a_target_are_above_control_and_noise_is_control_level(corpus):
    trained, random_weights, Y, speakers = corpus
    rows = by_group(probe_controls(trained, Y, speakers, FEATURES, control=random_weights, categories=CATEGORIES,
                                   n_bootstrap=300, n_splits=5))
    energy, pitch = rows["energy"], rows["pitch"]
    assert energy["r2"] > 0.8 and energy["control_ci_low"] > 0.5  # far above the random-weight control
    assert control_verdict(energy["control_ci_low"], energy["control_ci_high"]) == "above control"
    # pitch is in neither embedding: the difference's interval holds 0
    assert pitch["control_ci_low"] < 0 < pitch["control_ci_high"]
    assert control_verdict(pitch["control_ci_low"], pitch["control_ci_high"]) == "control-level"
    assert rows[ALL]["n_features"] == 4 and rows[ALL]["n_clips"] == 120 and rows[ALL]["n_speakers"] == 10


def test_random_features_against_random_features_are_control_level(corpus):
    _, random_weights, Y, speakers = corpus
    other_seed = np.random.default_rng(11).normal(size=random_weights.shape)
    rows = by_group(probe_controls(random_weights, Y, speakers, FEATURES, control=other_seed, categories=CATEGORIES,
                                   n_bootstrap=300))
    for group in ("energy", "pitch", ALL):
        assert rows[group]["control_ci_low"] < 0 < rows[group]["control_ci_high"], group
        assert control_verdict(rows[group]["control_ci_low"], rows[group]["control_ci_high"]) == "control-level"


def test_label_permuted_fits_give_a_null_near_zero(corpus):
    trained, _, Y, speakers = corpus
    rows = by_group(probe_controls(trained, Y, speakers, FEATURES, categories=CATEGORIES, n_bootstrap=200,
                                   n_permutations=3))
    for group in ("energy", "pitch", ALL):
        assert abs(rows[group]["null_r2"]) < 0.1, group
    assert rows["energy"]["null_ci_low"] > 0.5  # a real encoding clears the null
    assert rows["pitch"]["null_ci_low"] < 0.05  # noise does not
    assert np.isnan(rows["energy"]["control_r2"])  # no random-weight control given: no such columns


def test_a_bootstrap_over_speakers_draws_whole_speakers():
    speakers = np.array(["a", "a", "b", "b", "b", "c"])
    boot = SpeakerBootstrap(speakers, 20, np.random.default_rng(0))
    assert (boot.counts.sum(axis=1) == 3).all()  # as many speakers as there are, with replacement
    for d in range(20):
        drawn = speakers[boot.rows(d)]
        for s in set(drawn):
            assert np.sum(drawn == s) % np.sum(speakers == s) == 0  # all of a speaker's clips, once or more


def test_bootstrap_r2_equals_r2_computed_on_each_draws_rows():
    rng = np.random.default_rng(4)
    speakers = np.repeat(np.array(["a", "b", "c", "d", "e"]), [3, 5, 2, 6, 4])
    Y = np.column_stack([200.0 + rng.normal(size=20), rng.normal(size=20), np.full(20, 3.0)])  # large mean; constant
    P = Y + rng.normal(scale=0.5, size=Y.shape)
    boot = SpeakerBootstrap(speakers, 30, np.random.default_rng(1))
    fast = _r2_per_feature(Y, P, boot)
    for d in range(30):
        rows = boot.rows(d)
        y, p = Y[rows], P[rows]
        expected = 1.0 - ((y - p) ** 2).sum(axis=0)[:2] / ((y - y.mean(axis=0)) ** 2).sum(axis=0)[:2]
        np.testing.assert_allclose(fast[d, :2], expected, rtol=1e-9)
    assert np.isnan(fast[:, 2]).all()  # a constant target has no R²
    whole = _r2_per_feature(Y, P, None)[0, :2]
    np.testing.assert_allclose(whole, 1.0 - ((Y - P) ** 2).sum(axis=0)[:2] / ((Y - Y.mean(axis=0)) ** 2).sum(axis=0)[:2])


def test_a_std_mean_ratio_whose_mean_crosses_zero_is_left_out(corpus):
    trained, random_weights, Y, speakers = corpus
    ratio = Y[:, 0].copy()
    ratio[5] = -16000.0  # the mean crossed zero for one clip
    categories = {**CATEGORIES, "mfcc2_sma3_stddevNorm": "energy"}
    rows = by_group(probe_controls(trained, np.column_stack([Y, ratio]), speakers, [*FEATURES, "mfcc2_sma3_stddevNorm"],
                                   control=random_weights, categories=categories, n_bootstrap=100, n_permutations=2))
    assert rows["energy"]["n_features"] == 2 and rows[ALL]["n_features"] == 4
