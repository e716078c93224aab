"""Calibration: ECE against a hand-computed answer, temperature scaling on an over-confident set, per-fold tables."""

import numpy as np
import pandas as pd
import pytest

from seraudit.ensemble.evaluation.calibration import (
    calibration_summary,
    expected_calibration_error,
    fit_temperature,
    reliability_bins,
    scale_probabilities,
)


def test_ece_matches_a_hand_computed_answer():
    # confidences 0.95, 0.95 (one right, one wrong) -> bin (0.9, 1]: accuracy 0.5, confidence 0.95, gap 0.45
    # confidences 0.6, 0.6, 0.6, 0.6 (three right)  -> bin (0.5, 0.6]: accuracy 0.75, confidence 0.6, gap 0.15
    # ECE = 2/6 * 0.45 + 4/6 * 0.15 = 0.25
    p = np.array([[0.95, 0.05], [0.95, 0.05], [0.6, 0.4], [0.6, 0.4], [0.4, 0.6], [0.4, 0.6]])
    y = np.array([0, 1, 0, 0, 1, 0])
    assert expected_calibration_error(p, y, n_bins=10) == pytest.approx(0.25)
    bins = reliability_bins(p, y)
    assert [b["n"] for b in bins] == [0, 0, 0, 0, 0, 4, 0, 0, 0, 2]
    assert bins[9]["accuracy"] == 0.5 and bins[5]["confidence"] == pytest.approx(0.6)


def test_temperature_scaling_lowers_ece_of_an_over_confident_set_and_keeps_every_argmax():
    rng = np.random.default_rng(0)
    n, c = 600, 4
    y = rng.integers(0, c, n)
    logits = rng.normal(0, 1, (n, c))
    logits[np.arange(n), y] += 1.0  # right about half the time ...
    p = scale_probabilities(np.exp(logits) / np.exp(logits).sum(1, keepdims=True), 0.2)  # ... and far too sure
    t = fit_temperature(p, y)
    scaled = scale_probabilities(p, t)
    assert t > 1.5  # over-confidence is cooled
    assert expected_calibration_error(scaled, y) < 0.5 * expected_calibration_error(p, y)
    assert (scaled.argmax(1) == p.argmax(1)).all()


def test_a_run_table_is_scored_raw_and_with_each_folds_temperature():
    rng = np.random.default_rng(1)
    rows = []
    for fold in (0, 1):
        y = rng.integers(0, 3, 90)
        z = rng.normal(0, 1, (90, 3)) * 4 + 4.0 * np.eye(3)[y] * (rng.random(90) < 0.5)[:, None]
        p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
        rows.append(pd.DataFrame({"model": "m", "fold": fold, "label": np.array(list("abc"))[y],
                                  "p_a": p[:, 0], "p_b": p[:, 1], "p_c": p[:, 2]}))
    table = pd.concat(rows, ignore_index=True)
    histories = [{"fold": 0, "calibration": {"temperature": {"m": 3.0}, "applied": False}},
                 {"fold": 1, "calibration": {"temperature": {"m": 2.0}, "applied": False}}]
    entry = calibration_summary(table, list("abc"), histories)["m"]
    assert entry["temperatures"] == {"0": 3.0, "1": 2.0} and entry["shown"] == "raw"
    assert entry["scaled"]["ece"] < entry["raw"]["ece"] == entry["ece"]
    assert entry["scaled"]["accuracy"] == entry["raw"]["accuracy"]
    shown = table.copy()  # a run whose predictions carry the temperatures: raw figures are recovered from them
    for fold, t in ((0, 3.0), (1, 2.0)):
        rows = shown["fold"] == fold
        shown.loc[rows, ["p_a", "p_b", "p_c"]] = scale_probabilities(table.loc[rows, ["p_a", "p_b", "p_c"]].to_numpy(), t)
    for h in histories:
        h["calibration"]["applied"] = True
    applied = calibration_summary(shown, list("abc"), histories)["m"]
    assert applied["shown"] == "scaled" and applied["ece"] == applied["scaled"]["ece"]
    assert applied["raw"]["ece"] == pytest.approx(entry["raw"]["ece"]) and applied["scaled"]["ece"] == pytest.approx(entry["scaled"]["ece"])
    old = calibration_summary(table, list("abc"), [])["m"]  # a run from before temperatures: raw only
    assert old["scaled"] is None and old["temperatures"] is None and old["ece"] == entry["raw"]["ece"]
