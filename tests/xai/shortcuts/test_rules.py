"""The shortcut rules against known answers: Wilson intervals, and each status at the edges of its rule."""

from __future__ import annotations

import pytest

from seraudit.xai.shortcuts.rules import FAIL, MIN_UAR_GAP, PASS, WARN, flip_status, gap_status, probe_status, uar, wilson


def test_wilson_interval_known_values():
    assert wilson(0, 10) == pytest.approx((0.0, 1.959964**2 / (10 + 1.959964**2)), abs=1e-6)  # 0.2775
    low, high = wilson(8, 12)
    assert (low, high) == pytest.approx((0.3906, 0.8619), abs=1e-4)
    assert wilson(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize("flips, n, control, expected", [
    (10, 10, 0, FAIL),  # far beyond the null and large
    (3, 10, 0, WARN),  # large (30 %) but its lower bound (11 %) is inside the null's upper bound (28 %)
    (30, 200, 0, WARN),  # beyond the null (lower bound 11 % > 2 %) but under the 20 % share
    (1, 10, 0, PASS),
    (6, 10, 6, WARN),  # 60 % flips, but the null edit flips as many: jitter that large cannot be told from an effect
])
def test_flip_status_at_the_edges_of_its_rule(flips, n, control, expected):
    assert flip_status(flips, n, control, n) == expected


@pytest.mark.parametrize("gap, beyond, expected", [
    (MIN_UAR_GAP + 0.1, True, FAIL), (MIN_UAR_GAP - 0.1, True, WARN), (30.0, False, PASS), (float("nan"), True, WARN),
])
def test_gap_status(gap, beyond, expected):
    assert gap_status(gap, beyond) == expected


def test_probe_status_warns_only_above_the_permuted_refits():
    assert probe_status(90, 100, [0.1, 0.12, 0.15]) == WARN
    assert probe_status(16, 100, [0.1, 0.12, 0.15]) == PASS  # lower bound 10 % under the refits' 95th percentile


def test_uar_is_the_mean_recall_over_present_classes():
    assert uar([0, 0, 1, 1, 1, 1], [0, 1, 1, 1, 1, 1]) == pytest.approx(75.0)
