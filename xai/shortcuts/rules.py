"""The shortcut checks' rules: intervals, the thresholds fixed before any corpus is seen, and the status they give.

Every rule compares a figure with its control on the same clips; the fixed shares below
are stated a priori (none was tuned on RAVDESS or EmoDB):

* an edit (`xai.shortcuts.battery`): its label flip rate against the flip rate of the null
  edit. **fail** when the flip rate's 95 % Wilson lower bound exceeds the control's upper
  bound *and* at least `MIN_FLIP_SHARE` (20 %) of the labels flip; **warn** when only one of
  the two holds (a small but real effect, or a large one on too few clips to tell from the
  control); **pass** when neither does;
* what the features give away (`xai.shortcuts.speaker`, `xai.shortcuts.lexical`): a probe's
  accuracy against label-permuted refits of the same probe. Decodable (the accuracy's
  Wilson lower bound above the permuted refits' 95th percentile) **warns**: encoded is not
  used, so a probe alone never fails; otherwise **pass**;
* a UAR gap (per-speaker normalisation, statements): **fail** when it lies beyond its
  control (interval above 0, or above the permutation null's 95th percentile) and is at
  least `MIN_UAR_GAP` (10 UAR points); **warn** when it lies beyond the control but is
  smaller; **pass** otherwise.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

PASS, WARN, FAIL = "pass", "warn", "fail"
#: A check that does not apply (a corpus without lexical codes): listed with its reason, never judged.
SKIPPED = "skipped"
MIN_FLIP_SHARE = 0.20
MIN_UAR_GAP = 10.0  # UAR points
LEVEL = 0.95
Z = 1.959963984540054  # the two-sided 95 % normal quantile

EDIT_RULE = (f"fails when the flip rate's 95 % lower bound exceeds the null edit's upper bound and at least "
             f"{MIN_FLIP_SHARE:.0%} of labels flip; warns when only one holds")
PROBE_RULE = ("warns when the accuracy's 95 % lower bound exceeds the 95th percentile of label-permuted refits "
              "(decodable: a decision could key on it; encoded is not used, so it never fails alone)")
GAP_RULE = (f"fails when the gap lies beyond its control and is at least {MIN_UAR_GAP:g} UAR points; warns when it lies "
            "beyond the control but is smaller")


def wilson(successes: int, n: int, z: float = Z) -> tuple[float, float]:
    """The Wilson score interval of a proportion (0, 1 for n = 0)."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def flip_status(flips: int, n: int, control_flips: int, control_n: int) -> str:
    """An edit's verdict on its flip count against the null edit's (see the module's rule)."""
    if n == 0:
        return WARN
    beyond = wilson(flips, n)[0] > wilson(control_flips, control_n)[1]
    large = flips / n >= MIN_FLIP_SHARE
    return FAIL if beyond and large else WARN if beyond or large else PASS


def probe_status(correct: int, n: int, permuted: Sequence[float]) -> str:
    """A probe's verdict: warn when its accuracy lies above the permuted refits' 95th percentile (decodable)."""
    if n == 0 or not len(permuted):
        return WARN
    return WARN if wilson(correct, n)[0] > float(np.quantile(permuted, LEVEL)) else PASS


def gap_status(gap: float, beyond_control: bool) -> str:
    """A UAR gap's verdict (points): fail beyond its control and at least `MIN_UAR_GAP`, warn beyond it, else pass."""
    if not np.isfinite(gap):
        return WARN
    if not beyond_control:
        return PASS
    return FAIL if abs(gap) >= MIN_UAR_GAP else WARN


def uar(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Unweighted average recall in points over the classes present in `y_true` (NaN when none)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    classes = np.unique(y_true)
    if classes.size == 0:
        return float("nan")
    return 100.0 * float(np.mean([np.mean(y_pred[y_true == c] == c) for c in classes]))
