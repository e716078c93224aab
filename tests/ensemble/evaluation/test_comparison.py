"""McNemar and the bootstrap CI say 'no difference' for identical models and 'better' for a clearly better one."""

import numpy as np
import pytest

from seraudit.ensemble.evaluation.comparison import (
    bootstrap_uar_difference,
    compare_models,
    compared_with_ensemble,
    interval_verdict,
    mcnemar,
)


@pytest.fixture()
def clips():
    y = np.repeat(np.arange(4), 60)
    speakers = np.tile(np.arange(12), 20)
    return y, speakers


def test_identical_predictions_give_p_one_and_a_zero_interval(clips, rng):
    y, speakers = clips
    pred = np.where(rng.random(len(y)) < 0.5, y, (y + 1) % 4)
    result = compare_models(y, pred, pred.copy(), speakers, n_boot=300, seed=1)
    assert result["mcnemar"]["p_value"] == 1.0
    boot = result["bootstrap"]
    assert boot["difference"] == boot["ci_low"] == boot["ci_high"] == 0.0  # every resample of identical models ties
    assert boot["resampled"] == "speakers"


def test_clearly_better_model_has_a_ci_above_zero_and_small_p(clips, rng):
    y, speakers = clips
    good = np.where(rng.random(len(y)) < 0.9, y, (y + 1) % 4)
    poor = np.where(rng.random(len(y)) < 0.4, y, (y + 2) % 4)
    result = compare_models(y, good, poor, speakers, n_boot=300, seed=1)
    assert result["bootstrap"]["ci_low"] > 0
    assert result["bootstrap"]["difference"] == pytest.approx(100 * ((good == y).mean() - (poor == y).mean()), abs=1e-9)
    assert result["mcnemar"]["p_value"] < 1e-6


def test_mcnemar_is_exact_binomial_for_few_discordant_clips():
    a = np.array([True] * 6 + [False] * 0 + [True] * 10)
    b = np.array([False] * 6 + [True] * 10)
    r = mcnemar(a, b)
    assert r["method"] == "exact binomial" and (r["only_a"], r["only_b"]) == (6, 0)
    assert r["p_value"] == pytest.approx(2 * 0.5**6)


@pytest.fixture()
def uneven_speakers(rng):
    """Model a is right on most clips of half the speakers and few of the others; b is right on 60 % of all clips."""
    y = np.repeat(np.arange(4), 60)
    speakers = np.tile(np.arange(12), 20)
    skill = np.where(np.arange(12) < 6, 0.95, 0.35)[speakers]
    a = np.where(rng.random(len(y)) < skill, y, (y + 1) % 4)
    b = np.where(rng.random(len(y)) < 0.6, y, (y + 2) % 4)
    return y, a, b, speakers


def test_bootstrap_is_seeded_and_its_interval_holds_the_observed_difference(uneven_speakers):
    y, a, b, speakers = uneven_speakers
    first = bootstrap_uar_difference(y, a, b, speakers, n_boot=200, seed=5)
    assert bootstrap_uar_difference(y, a, b, speakers, n_boot=200, seed=5) == first
    other = bootstrap_uar_difference(y, a, b, speakers, n_boot=200, seed=6)
    assert (other["ci_low"], other["ci_high"]) != (first["ci_low"], first["ci_high"])
    assert other["difference"] == first["difference"]  # the seed moves the interval, never the observed value
    recall = lambda pred: np.mean([(pred[y == c] == c).mean() for c in range(4)])  # noqa: E731
    assert first["difference"] == pytest.approx(100 * (recall(a) - recall(b)))
    assert first["ci_low"] < first["difference"] < first["ci_high"]
    assert first["seed"] == 5 and first["n_boot"] == 200 and first["resampled"] == "speakers"


def test_resampling_speakers_widens_the_interval_when_speakers_differ(uneven_speakers):
    """Clips of one speaker are not independent: the cluster bootstrap must not be as confident as a clip bootstrap."""
    y, a, b, speakers = uneven_speakers
    by_speaker = bootstrap_uar_difference(y, a, b, speakers, n_boot=300, seed=0)
    by_clip = bootstrap_uar_difference(y, a, b, None, n_boot=300, seed=0)
    assert by_clip["resampled"] == "clips"
    assert by_speaker["ci_high"] - by_speaker["ci_low"] > 1.5 * (by_clip["ci_high"] - by_clip["ci_low"])


@pytest.mark.parametrize("low, high, verdict", [
    (0.4, 3.1, "better"), (-3.0, -0.2, "worse"), (-2.0, 1.0, "no clear difference"),
    (0.0, 2.0, "no clear difference"), (-2.0, 0.0, "no clear difference"),  # an interval touching 0 holds it
    (None, 1.0, "no interval"), (1.0, None, "no interval"),
])  # fmt: skip
def test_an_interval_says_better_or_worse_only_when_it_excludes_zero(low, high, verdict):
    assert interval_verdict(low, high) == verdict
    reason = {"better": " (interval excludes 0)", "worse": " (interval excludes 0)",
              "no clear difference": " (interval includes 0)", "no interval": ""}[verdict]
    assert interval_verdict(low, high, explain=True) == verdict + reason


def test_the_ensemble_is_compared_with_every_registered_backbone_then_the_baseline():
    from seraudit.ensemble.backbones.registry import BACKBONES

    assert compared_with_ensemble() == (*BACKBONES, "egemaps") == ("yamnet", "vggish", "egemaps")

