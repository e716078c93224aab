"""Scores say what each test fold holds: results carry the emotions a fold lacks, `evaluate`'s table says it, and
the per-fold UAR is labelled as taken over the emotions present."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from seraudit.ensemble.data.fold_coverage import FOLD_UAR_OVER, coverage_lines, fold_coverage
from seraudit.ensemble.evaluation.scoring import comparison_table, evaluate_predictions
from seraudit.ensemble.heads.search import present_uar

LABELS = ["neutral", "happy", "sad"]


def _predictions() -> pd.DataFrame:
    """Fold 0 (speaker a) holds neutral and happy only; fold 1 (speaker b) every emotion; the model predicts sad in
    fold 0, an emotion that fold's clips do not hold."""
    rows = [(0, "a", "neutral", "neutral"), (0, "a", "neutral", "sad"), (0, "a", "happy", "happy"),
            (1, "b", "neutral", "neutral"), (1, "b", "happy", "sad"), (1, "b", "sad", "sad"), (1, "b", "sad", "sad")]
    return pd.DataFrame([{"model": "yamnet", "fold": f, "speaker": s, "label": y, "prediction": p, "path": f"/c/{i}.wav"}
                         for i, (f, s, y, p) in enumerate(rows)])


def test_a_fold_lacking_an_emotion_is_recorded_with_its_clip_counts():
    coverage = fold_coverage(_predictions(), LABELS)
    first, second = coverage["folds"]
    assert first == {"fold": 0, "test_clips": 3, "clips_per_emotion": {"neutral": 2, "happy": 1, "sad": 0},
                     "missing": ["sad"], "missing_clips_in_corpus": {"sad": 2}}
    assert second["missing"] == [] and coverage["folds_missing_emotions"] == 1
    assert coverage["fold_uar_over"] == FOLD_UAR_OVER


def test_results_carry_the_coverage_and_the_table_labels_the_fold_uar_beside_the_pooled_one():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no library warning escapes the scoring
        results = evaluate_predictions(_predictions(), LABELS, {}, n_boot=20)
    assert results["fold_coverage"]["folds"][0]["missing"] == ["sad"]
    uar = results["models"]["yamnet"]["uar"]
    assert uar["folds"] == pytest.approx([75.0, 100.0 * (1 + 0 + 1) / 3])  # fold 0: over neutral and happy only
    table = comparison_table(results, "t").splitlines()
    assert "pooled UAR" in table[1]
    at = table.index("1 test fold(s) lack an emotion: their UAR is over the emotions present in each test fold; "
                     "compare the pooled UAR (all test clips at once)")
    assert table[at + 1] == "  fold 0 (3 test clips) lacks 'sad' (2 clips in the corpus)"
    assert coverage_lines(fold_coverage(_predictions()[lambda p: p["fold"] == 1], LABELS)) == []


def test_the_uar_of_the_layer_search_equals_balanced_accuracy_and_warns_about_nothing():
    from sklearn.metrics import balanced_accuracy_score

    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 3, 50), rng.integers(0, 5, 50)  # predictions of classes the truths never hold
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = balanced_accuracy_score(y, p)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert present_uar(y, p) == pytest.approx(expected)
