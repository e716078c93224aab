"""One result type: a gain over the control in the metric's direction, null for what cannot be scored; one memo per clip."""

from __future__ import annotations

import math

import pytest

from seraudit.xai.metrics.base import Metric, MetricContext, MetricResult


def test_the_gain_follows_the_metrics_direction():
    assert MetricResult("m", 0.2, 0.5, higher_is_better=False).gain == pytest.approx(0.3)
    assert MetricResult("m", 0.2, 0.5, higher_is_better=True).gain == pytest.approx(-0.3)
    assert MetricResult("m", 0.2, None).gain is None and MetricResult("m", None, 0.5).gain is None


def test_a_result_is_stored_as_value_and_control_with_nan_as_null():
    class Mass(Metric):
        id, name = "mass", "Mass"

        def __call__(self, context):
            return self.result(float("nan"), 1.5, curve=[1.0])

    result = Mass()(MetricContext(None, None, None))
    assert result.as_record() == {"value": None, "control": 1.5}
    assert result.metric == "mass" and result.n == 1 and result.details["curve"] == [1.0]
    with pytest.raises(TypeError):
        result.details["curve"] = []  # details are read-only


def test_the_memo_computes_once_per_clip_for_every_context_that_shares_it():
    shared, calls = {}, []
    first = MetricContext(None, None, None, shared=shared)
    second = MetricContext(None, None, None, shared=shared)
    assert first.memo("k", lambda: calls.append(1) or 7) == 7
    assert second.memo("k", lambda: calls.append(1) or 8) == 7 and calls == [1]


def test_the_default_check_figure_says_what_the_metric_compares_with():
    class Peak(Metric):
        id, name, threshold, higher_is_better = "peak", "Peak", 0.5, False

    assert Peak.describe({"value": 0.25, "n_clips": 2}) == "Peak 0.250 over 2 clips; passes below 0.500"
    assert math.isclose(Peak.threshold, 0.5)

    class Beats(Metric):
        id, name, control_name = "beats", "Beats", "shuffled"

    text = Beats.describe({"value": 0.3, "n_clips": 4, "beats_control": 0.75, "gain_ci": [0.01, 0.2]})
    assert text == "beats shuffled on 75 % of 4 clips, gain 95 % CI [+0.010, +0.200]"
