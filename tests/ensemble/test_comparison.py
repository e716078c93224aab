"""McNemar and the bootstrap CI say 'no difference' for identical models and 'better' for a clearly better one."""

import numpy as np
import pytest

from seraudit.ensemble.comparison import bootstrap_uar_difference, compare_models, mcnemar


@pytest.fixture()
def clips(rng):
    y = np.repeat(np.arange(4), 60)
    speakers = np.tile(np.arange(12), 20)
    return y, speakers


def test_identical_predictions_give_p_one_and_a_ci_around_zero(clips, rng):
    y, speakers = clips
    pred = np.where(rng.random(len(y)) < 0.5, y, (y + 1) % 4)
    result = compare_models(y, pred, pred.copy(), speakers, n_boot=300, seed=1)
    assert result["mcnemar"]["p_value"] == 1.0
    assert result["bootstrap"]["ci_low"] <= 0 <= result["bootstrap"]["ci_high"]
    assert result["bootstrap"]["resampled"] == "speakers"


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


def test_bootstrap_is_seeded():
    y = np.array([0, 1] * 20)
    a, b = y.copy(), np.zeros_like(y)
    assert bootstrap_uar_difference(y, a, b, n_boot=100, seed=5) == bootstrap_uar_difference(y, a, b, n_boot=100, seed=5)
