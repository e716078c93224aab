"""Metrics match values computed by hand."""

import numpy as np
import pytest

from seraudit.ensemble.metrics import classification_metrics, summarize

LABELS = ["neutral", "happy", "sad"]


def test_uar_accuracy_f1_and_confusion_by_hand():
    y_true = [0, 0, 0, 0, 1, 1, 2, 2]
    y_pred = [0, 0, 0, 1, 1, 0, 2, 1]
    m = classification_metrics(y_true, y_pred, LABELS)
    # recalls: neutral 3/4, happy 1/2, sad 1/2 -> UAR = 58.33 %
    assert m["uar"] == pytest.approx(100 * (0.75 + 0.5 + 0.5) / 3)
    assert m["accuracy"] == pytest.approx(100 * 5 / 8)
    # F1: neutral P=3/4 R=3/4 -> .75; happy P=1/3 R=1/2 -> .4; sad P=1 R=1/2 -> 2/3
    assert m["macro_f1"] == pytest.approx(100 * (0.75 + 0.4 + 2 / 3) / 3)
    assert m["per_class_recall"] == pytest.approx({"neutral": 75.0, "happy": 50.0, "sad": 50.0})
    assert m["confusion_matrix"] == [[3, 1, 0], [1, 1, 0], [0, 1, 1]]


def test_summary_is_mean_and_std_over_folds_plus_pooled():
    folds = [classification_metrics([0, 1], [0, 1], LABELS), classification_metrics([0, 1], [1, 1], LABELS)]
    pooled = classification_metrics([0, 1, 0, 1], [0, 1, 1, 1], LABELS)
    s = summarize(folds, pooled)
    assert s["uar"]["mean"] == pytest.approx(75.0) and s["uar"]["std"] == pytest.approx(25.0)
    assert s["uar"]["pooled"] == pytest.approx(75.0)
    assert s["accuracy"]["folds"] == [100.0, 50.0]
    assert s["accuracy"]["mean"] == pytest.approx(75.0) and s["accuracy"]["pooled"] == pytest.approx(75.0)
    assert s["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [0, 0, 0]]  # the pooled clips, not a fold's
    assert s["per_class_recall"] == pytest.approx({"neutral": 50.0, "happy": 100.0})
    assert s["n_clips"] == 4


def test_a_class_absent_from_the_truth_does_not_count_in_uar_or_macro_f1():
    """A fold without "sad" clips is scored on the classes it has; predicting "sad" still costs recall."""
    m = classification_metrics([0, 0, 1, 1, 1], [0, 2, 1, 1, 0], LABELS)
    assert m["uar"] == pytest.approx(100 * (1 / 2 + 2 / 3) / 2)
    # F1: neutral P=1/2 R=1/2 -> .5; happy P=1 R=2/3 -> .8; "sad" (no true clip) is left out, not scored 0
    assert m["macro_f1"] == pytest.approx(100 * (0.5 + 0.8) / 2)
    assert set(m["per_class_recall"]) == {"neutral", "happy"}
    assert m["confusion_matrix"] == [[1, 0, 1], [1, 2, 0], [0, 0, 0]]  # still every label, in label order
    assert m["n"] == 5
