"""Metrics match values computed by hand."""

import pytest

from seraudit.ensemble.evaluation.metrics import classification_metrics, summarize

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


LABELS4 = ["neutral", "happy", "sad", "angry"]
# Four clips whose true class is ranked 1st, 2nd, 3rd and 4th by the model.
RANKED_PROBS = [
    [0.70, 0.10, 0.15, 0.05],  # true neutral: 1st
    [0.50, 0.30, 0.15, 0.05],  # true happy: 2nd
    [0.40, 0.35, 0.20, 0.05],  # true sad: 3rd
    [0.30, 0.40, 0.25, 0.05],  # true angry: 4th
]


def test_top_k_accuracy_counts_the_true_class_among_the_k_most_probable():
    m = classification_metrics([0, 1, 2, 3], [0, 0, 0, 1], LABELS4, probabilities=RANKED_PROBS)
    assert m["accuracy"] == pytest.approx(25.0)
    assert m["top2_accuracy"] == pytest.approx(50.0)  # 1st and 2nd
    assert m["top3_accuracy"] == pytest.approx(75.0)  # 1st, 2nd and 3rd


def test_top_k_is_absent_without_probabilities_and_where_it_could_only_be_100_percent():
    assert "top2_accuracy" not in classification_metrics([0, 1], [0, 1], LABELS)
    three = classification_metrics([0, 1, 2], [0, 0, 0], LABELS, probabilities=[[0.6, 0.3, 0.1]] * 3)
    assert three["top2_accuracy"] == pytest.approx(200 / 3)  # neutral and happy are in the top 2, sad is not
    assert "top3_accuracy" not in three  # 3 of 3 classes: always 100 %, so not reported
    two = classification_metrics([0, 1], [0, 0], ["neutral", "happy"], probabilities=[[0.9, 0.1], [0.8, 0.2]])
    assert "top2_accuracy" not in two and "top3_accuracy" not in two
    with pytest.raises(ValueError, match="clips x labels"):
        classification_metrics([0, 1], [0, 1], LABELS, probabilities=[[0.5, 0.5], [0.5, 0.5]])


def test_a_tie_at_the_kth_place_follows_scikit_learn():
    """Happy and sad tie for 2nd place; scikit-learn's stable order ranks the later label (sad) first."""
    tie = [[0.4, 0.3, 0.3, 0.0]]
    assert classification_metrics([2], [0], LABELS4, probabilities=tie)["top2_accuracy"] == 100.0
    assert classification_metrics([1], [0], LABELS4, probabilities=tie)["top2_accuracy"] == 0.0


def test_summary_reports_top_k_over_folds_when_the_metrics_have_it():
    fold_a = classification_metrics([0, 1], [0, 0], LABELS4, probabilities=RANKED_PROBS[:2])  # top-2 100 %
    fold_b = classification_metrics([2, 3], [0, 1], LABELS4, probabilities=RANKED_PROBS[2:])  # top-2 0 %, top-3 50 %
    pooled = classification_metrics([0, 1, 2, 3], [0, 0, 0, 1], LABELS4, probabilities=RANKED_PROBS)
    s = summarize([fold_a, fold_b], pooled)
    assert s["top2_accuracy"] == {"mean": 50.0, "std": 50.0, "pooled": 50.0, "folds": [100.0, 0.0]}
    assert s["top3_accuracy"] == {"mean": 75.0, "std": 25.0, "pooled": 75.0, "folds": [100.0, 50.0]}
    plain = summarize([classification_metrics([0, 1], [0, 1], LABELS4)], classification_metrics([0, 1], [0, 1], LABELS4))
    assert "top2_accuracy" not in plain and "top3_accuracy" not in plain
