"""Classification metrics of emotion predictions: UAR (headline), accuracy, macro-F1, per-class recall, confusion matrix.

All scalar metrics are reported in percent. UAR is scikit-learn's balanced
accuracy: the mean recall over the classes present in the true labels.
"""

from __future__ import annotations

import numpy as np

SCALAR_METRICS = ("uar", "accuracy", "macro_f1")


def classification_metrics(y_true, y_pred, labels: list[str]) -> dict:
    """Metrics of integer predictions against integer truths (indices into `labels`)."""
    import warnings

    from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score, recall_score

    y_true, y_pred = np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)
    present = np.unique(y_true)
    all_idx = np.arange(len(labels))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        recalls = recall_score(y_true, y_pred, labels=present, average=None, zero_division=0)
        out = {
            "uar": 100.0 * balanced_accuracy_score(y_true, y_pred),
            "accuracy": 100.0 * accuracy_score(y_true, y_pred),
            "macro_f1": 100.0 * f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0),
        }
    out["per_class_recall"] = {labels[c]: 100.0 * float(r) for c, r in zip(present, recalls)}
    out["confusion_matrix"] = confusion_matrix(y_true, y_pred, labels=all_idx).tolist()
    out["n"] = int(len(y_true))
    return {k: (float(v) if isinstance(v, (np.floating, float)) else v) for k, v in out.items()}


def summarize(per_fold: list[dict], pooled: dict) -> dict:
    """Mean ± std (population std over folds) of each scalar metric, plus the pooled metrics over all test clips."""
    out: dict = {}
    for key in SCALAR_METRICS:
        values = np.array([f[key] for f in per_fold], dtype=float)
        out[key] = {"mean": float(values.mean()), "std": float(values.std()), "pooled": float(pooled[key]), "folds": values.tolist()}
    out["per_class_recall"] = pooled["per_class_recall"]
    out["confusion_matrix"] = pooled["confusion_matrix"]
    out["n_clips"] = pooled["n"]
    return out
