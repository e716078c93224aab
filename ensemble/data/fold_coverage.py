"""What each cross-validation test fold holds: its clips per emotion and the emotions it lacks.

On a corpus whose speakers each speak only some emotions, a speaker-independent test
fold can lack whole emotions. Its UAR is then the mean recall over the emotions it
holds (scikit-learn's balanced accuracy is taken over the classes present in the true
labels), which is not the same quantity as the UAR over all emotions: the pooled UAR
(every test clip at once) is. `fold_coverage` records which emotions each fold lacks
and how many clips of them the corpus has; `coverage_lines` says it in the words the
`evaluate` command prints, `results.json` stores the record (``fold_coverage``) and the
report's folds section shows it.
"""

from __future__ import annotations

import pandas as pd

#: How a per-fold UAR is labelled: it averages recall over the emotions that fold's test clips hold.
FOLD_UAR_OVER = "the emotions present in each test fold"


def fold_coverage(predictions: pd.DataFrame, labels: list[str] | None = None) -> dict:
    """Per test fold: clips, clips per emotion and the emotions missing (with the corpus's count of each).

    `predictions` is a cross-validation predictions table (``fold``, ``path``, ``label``;
    every model scores the same clips, so each clip counts once). `labels` orders the
    emotions (default: as first seen).
    """
    clips = predictions.drop_duplicates("path") if "path" in predictions else predictions
    labels = list(labels) if labels is not None else list(dict.fromkeys(clips["label"].astype(str)))
    corpus_counts = clips["label"].astype(str).value_counts()
    folds = []
    for fold, rows in clips.groupby("fold", sort=True):
        counts = rows["label"].astype(str).value_counts()
        per_emotion = {label: int(counts.get(label, 0)) for label in labels}
        missing = [label for label in labels if per_emotion[label] == 0]
        folds.append({"fold": int(fold), "test_clips": int(len(rows)), "clips_per_emotion": per_emotion,
                      "missing": missing, "missing_clips_in_corpus": {m: int(corpus_counts.get(m, 0)) for m in missing}})
    return {"folds": folds, "fold_uar_over": FOLD_UAR_OVER, "folds_missing_emotions": sum(bool(f["missing"]) for f in folds)}


def missing_text(fold: dict) -> str:
    """``fold 2 (40 test clips) lacks 'angry' (24 clips in the corpus), 'sad' (12 clips in the corpus)``; "" when it lacks none."""
    if not fold.get("missing"):
        return ""
    corpus = fold.get("missing_clips_in_corpus", {})
    lacks = ", ".join(f"{m!r} ({corpus.get(m, 0)} clips in the corpus)" for m in fold["missing"])
    return f"fold {fold['fold']} ({fold['test_clips']} test clips) lacks {lacks}"


def coverage_lines(coverage: dict | None) -> list[str]:
    """What the `evaluate` command prints about the folds: nothing when every fold holds every emotion."""
    if not coverage or not coverage.get("folds_missing_emotions"):
        return []
    return ["", f"{coverage['folds_missing_emotions']} test fold(s) lack an emotion: their UAR is over "
                f"{coverage.get('fold_uar_over', FOLD_UAR_OVER)}; compare the pooled UAR (all test clips at once)",
            *(f"  {missing_text(f)}" for f in coverage["folds"] if f["missing"])]
