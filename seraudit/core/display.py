"""How every figure is printed for a person: one rule per kind of number, for the report's pages and the audit's texts.

The report's templates use these through Jinja filters (`reports.display`); the texts the
audit writes into ``audit.json`` (a check's ``figure``) call them directly, so a page and
the file say a figure the same way. Stored values stay numbers: only the text goes through here.

======================  ==================  ===========================================
kind                    function            shown as
======================  ==================  ===========================================
p-value                 `pvalue`            ``p = 0.003``; below 0.001 ``p < 0.001``
UAR, accuracy, recall   `points`            percent points, one decimal: ``56.5``
their difference        `points_change`     signed, one decimal: ``+0.7``
its interval            `points_interval`   ``[-1.0, +2.6]``
probability             `probability`       two decimals: ``0.83``
change of probability   `probability_change` signed, three decimals: ``+0.012``
share of clips, flips   `percent`           whole percent: ``74 %``
anything else           `value`             three decimals; a count as an integer
======================  ==================  ===========================================

A missing figure (None, NaN, a p-value outside [0, 1]) is an em dash, never "nan" or 0.
"""

from __future__ import annotations

import math
from typing import Any

MISSING = "—"
#: p-values below this are shown as "p < 0.001": a smaller figure says nothing the test can back.
P_FLOOR = 0.001


def _number(value: Any) -> float | None:
    """`value` as a finite float; None for a missing, non-numeric, boolean or non-finite value."""
    if value is None or isinstance(value, (bool, str)):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _signed(number: float, digits: int) -> str:
    """``+0.7`` / ``-1.2``; a figure that rounds to zero is ``+0.0``, never ``-0.0``."""
    if round(number, digits) == 0:
        number = 0.0
    return f"{number:+.{digits}f}"


def value(value: Any, digits: int = 3) -> str:
    """A number at a fixed precision (a count as an integer, a yes/no as "yes"/"no"), text as it is, missing as "—"."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)  # counts (clips, dimensions) have no decimals
    if isinstance(value, str):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(number):
        return MISSING
    return f"{number:.{digits}f}" if digits > 0 else f"{int(round(number))}"


def percent(fraction: Any) -> str:
    """A fraction in [0, 1] as a whole percentage ("74 %")."""
    number = _number(fraction)
    return MISSING if number is None else f"{100.0 * number:.0f} %"


def interval(bounds: Any, digits: int = 3) -> str:
    """``[low, high]`` with signs ("[-0.004, +0.067]"); missing (too few clips) as "—"."""
    if not isinstance(bounds, (list, tuple)) or len(bounds) != 2:
        return MISSING
    low, high = (_number(b) for b in bounds)
    if low is None or high is None:
        return MISSING
    return f"[{_signed(low, digits)}, {_signed(high, digits)}]"


def pvalue(p: Any, bare: bool = False) -> str:
    """``p = 0.003``, ``p = 0.050``, ``p < 0.001`` (`bare`: ``0.003``, ``< 0.001``, for a column headed "p")."""
    number = _number(p)
    if number is None or not 0.0 <= number <= 1.0:
        return MISSING
    text = f"< {P_FLOOR:.3f}" if number < P_FLOOR else f"{number:.3f}"
    if bare:
        return text
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def points(value: Any) -> str:
    """A score in percent (UAR, accuracy, recall) in percent points with one decimal: ``56.5``."""
    number = _number(value)
    return MISSING if number is None else f"{number:.1f}"


def points_change(value: Any) -> str:
    """A difference of two scores in percent points, signed, one decimal: ``+0.7``."""
    number = _number(value)
    return MISSING if number is None else _signed(number, 1)


def points_interval(bounds: Any) -> str:
    """The interval of a difference in percent points: ``[-1.0, +2.6]``."""
    return interval(bounds, 1)


def probability(value: Any) -> str:
    """A probability (a model's score for a class) with two decimals: ``0.83``."""
    number = _number(value)
    return MISSING if number is None else f"{number:.2f}"


def probability_change(value: Any) -> str:
    """A change of probability (an edit's effect), signed, three decimals: ``+0.012`` (the effects are small)."""
    number = _number(value)
    return MISSING if number is None else _signed(number, 3)
