"""One way to print each kind of figure: p-values, percent points, probabilities, shares; a missing figure as a dash."""

from __future__ import annotations

import pytest

from seraudit.core import display


@pytest.mark.parametrize(("p", "shown", "bare"), [
    (0.0, "p < 0.001", "< 0.001"),  # never "p = 0.0000"
    (1e-11, "p < 0.001", "< 0.001"),  # never "1.51e-11" or "1e-11"
    (0.0004, "p < 0.001", "< 0.001"),
    (0.001, "p = 0.001", "0.001"),
    (0.05, "p = 0.050", "0.050"),
    (0.7594628653799336, "p = 0.759", "0.759"),
    (1.0, "p = 1.000", "1.000"),
])
def test_a_p_value_has_three_decimals_and_a_floor(p, shown, bare):
    assert display.pvalue(p) == shown
    assert display.pvalue(p, bare=True) == bare


@pytest.mark.parametrize("p", [None, float("nan"), -0.1, 1.5, "0.3", True])
def test_a_p_value_that_is_not_one_is_a_dash(p):
    assert display.pvalue(p) == "—"


def test_uar_and_other_percent_scores_have_one_decimal_in_percent_points():
    assert display.points(56.4583) == "56.5" and display.points(41.5) == "41.5" and display.points(40) == "40.0"
    assert display.points_change(0.7161) == "+0.7" and display.points_change(-6.901) == "-6.9"
    assert display.points_change(-0.04) == "+0.0"  # rounds to zero: no "-0.0"
    assert display.points_interval([-1.0417, 2.6042]) == "[-1.0, +2.6]"
    assert display.points(None) == display.points(float("inf")) == "—"


def test_probabilities_have_two_decimals_and_their_changes_three_with_a_sign():
    assert display.probability(0.8333378787579757) == "0.83" and display.probability(1) == "1.00"
    assert display.probability_change(0.0123) == "+0.012" and display.probability_change(-0.2) == "-0.200"
    assert display.probability(None) == "—"


def test_other_numbers_shares_and_intervals():
    assert display.value(8) == "8" and display.value(0.5) == "0.500" and display.value(0.5, 1) == "0.5"
    assert display.value(True) == "yes" and display.value("text") == "text" and display.value(float("nan")) == "—"
    assert display.percent(0.745) == "74 %" and display.percent(None) == "—"
    assert display.interval([-0.004, 0.067]) == "[-0.004, +0.067]" and display.interval([None, 1]) == "—"
