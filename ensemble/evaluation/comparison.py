"""Paired comparison of two models on the same clips: McNemar's test and a bootstrap CI of the UAR difference.

McNemar: the exact two-sided binomial test on the discordant clips when
there are fewer than 25 of them, else the chi-square test with continuity
correction. Bootstrap: speakers are resampled with replacement (a cluster
bootstrap: clips of one speaker are not independent), seeded; the 95 % CI is
the percentile interval of UAR(a) - UAR(b) in percentage points.

Also defined here, once: which models the ensemble is compared with
(`compared_with_ensemble`), and what an interval says (`interval_verdict`), which
the text table, the report and the audit's checks all phrase from.
"""

from __future__ import annotations

import numpy as np

from seraudit.ensemble.backbones.registry import BACKBONES
from seraudit.ensemble.model.spec import BASELINE_MODEL

EXACT_BELOW = 25

BETTER, WORSE, UNCLEAR, NO_INTERVAL = "better", "worse", "no clear difference", "no interval"
_WHY = {BETTER: "interval excludes 0", WORSE: "interval excludes 0", UNCLEAR: "interval includes 0"}


def compared_with_ensemble() -> tuple[str, ...]:
    """The models the ensemble is compared with, in order: every registered backbone alone, then the eGeMAPS baseline."""
    return (*BACKBONES, BASELINE_MODEL)


def interval_verdict(low: float | None, high: float | None, explain: bool = False) -> str:
    """What an interval of a difference (a - b) says: better above 0, worse below 0, no clear difference across 0.

    "no interval" when a bound is missing. `explain` adds why, e.g. ``"better (interval excludes 0)"``.

    >>> interval_verdict(0.4, 3.1), interval_verdict(-2.0, 1.0, explain=True)
    ('better', 'no clear difference (interval includes 0)')
    """
    if low is None or high is None:
        return NO_INTERVAL
    verdict = BETTER if low > 0 else WORSE if high < 0 else UNCLEAR
    return f"{verdict} ({_WHY[verdict]})" if explain else verdict


def mcnemar(correct_a, correct_b) -> dict:
    """McNemar test of two models' per-clip correctness (boolean arrays over the same clips)."""
    from scipy.stats import binomtest, chi2

    a, b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    n = only_a + only_b
    if n == 0:
        return {"only_a": 0, "only_b": 0, "statistic": 0.0, "p_value": 1.0, "method": "exact binomial"}
    if n < EXACT_BELOW:
        p = binomtest(only_a, n, 0.5, alternative="two-sided").pvalue
        return {"only_a": only_a, "only_b": only_b, "statistic": float(min(only_a, only_b)), "p_value": float(min(1.0, p)), "method": "exact binomial"}
    stat = (abs(only_a - only_b) - 1) ** 2 / n
    return {"only_a": only_a, "only_b": only_b, "statistic": float(stat), "p_value": float(chi2.sf(stat, 1)), "method": "chi-square, continuity corrected"}


def _uar_from_counts(hits: np.ndarray, totals: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = hits / totals
    return 100.0 * np.nanmean(np.where(totals > 0, recall, np.nan), axis=-1)


def bootstrap_uar_difference(y_true, pred_a, pred_b, groups=None, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> dict:
    """Percentile bootstrap CI of UAR(a) - UAR(b), resampling `groups` (speakers; clips when None)."""
    y = np.asarray(y_true, int)
    groups = np.arange(len(y)) if groups is None else np.asarray(groups).astype(str)
    _, g = np.unique(groups, return_inverse=True)
    n_groups, n_classes = g.max() + 1, y.max() + 1
    totals = np.zeros((n_groups, n_classes))
    hits_a, hits_b = np.zeros_like(totals), np.zeros_like(totals)
    np.add.at(totals, (g, y), 1)
    np.add.at(hits_a, (g, y), np.asarray(pred_a) == y)
    np.add.at(hits_b, (g, y), np.asarray(pred_b) == y)
    observed = float(_uar_from_counts(hits_a.sum(0), totals.sum(0)) - _uar_from_counts(hits_b.sum(0), totals.sum(0)))
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_groups, size=(n_boot, n_groups))
    mult = np.stack([np.bincount(d, minlength=n_groups) for d in draws]).astype(float)  # [B, G]
    diff = _uar_from_counts(mult @ hits_a, mult @ totals) - _uar_from_counts(mult @ hits_b, mult @ totals)
    alpha = (1 - level) / 2
    low, high = np.nanquantile(diff, [alpha, 1 - alpha])
    return {
        "difference": observed,
        "ci_low": float(low),
        "ci_high": float(high),
        "level": level,
        "n_boot": n_boot,
        "resampled": "speakers" if n_groups < len(y) else "clips",
        "seed": seed,
    }


def compare_models(y_true, pred_a, pred_b, speakers=None, n_boot: int = 2000, seed: int = 0) -> dict:
    """McNemar + bootstrap for model a vs model b on the same clips."""
    y = np.asarray(y_true)
    return {
        "mcnemar": mcnemar(np.asarray(pred_a) == y, np.asarray(pred_b) == y),
        "bootstrap": bootstrap_uar_difference(y, pred_a, pred_b, speakers, n_boot=n_boot, seed=seed),
    }
