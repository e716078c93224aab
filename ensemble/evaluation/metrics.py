"""Classification metrics of emotion predictions: UAR (headline), accuracy, macro-F1, top-k accuracy, per-class recall, confusion matrix.

All scalar metrics are reported in percent. UAR is scikit-learn's balanced
accuracy: the mean recall over the classes present in the true labels.

Top-k accuracy (k = 2, 3) needs the class probabilities: the share of clips whose
true class is among the k most probable (scikit-learn's ``top_k_accuracy_score``
over all classes; an exact tie at the k-th place is broken by its stable order,
which ranks the later class of `labels` first). It is left out when k is not
below the number of classes, where it would be 100 % whatever the model does:
with 3 emotions only top-2 is reported, with 2 neither.
"""

from __future__ import annotations

import numpy as np

SCALAR_METRICS = ("uar", "accuracy", "macro_f1")
TOP_K = (2, 3)
TOP_K_METRICS = tuple(f"top{k}_accuracy" for k in TOP_K)


def classification_metrics(y_true, y_pred, labels: list[str], probabilities=None) -> dict:
    """Metrics of integer predictions against integer truths (indices into `labels`).

    `probabilities` ``[n, len(labels)]`` (columns in label order) adds top-k accuracy.
    """
    import warnings

    from sklearn.metrics import (
        accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score, recall_score, top_k_accuracy_score,
    )

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
    if probabilities is not None:
        scores = np.asarray(probabilities, dtype=float)
        if scores.shape != (len(y_true), len(labels)):
            raise ValueError(f"probabilities must be [{len(y_true)}, {len(labels)}] (clips x labels), got {scores.shape}")
        for k, key in zip(TOP_K, TOP_K_METRICS):
            if k < len(labels):
                out[key] = 100.0 * top_k_accuracy_score(y_true, scores, k=k, labels=all_idx)
    out["per_class_recall"] = {labels[c]: 100.0 * float(r) for c, r in zip(present, recalls)}
    out["confusion_matrix"] = confusion_matrix(y_true, y_pred, labels=all_idx).tolist()
    out["n"] = int(len(y_true))
    return {k: (float(v) if isinstance(v, (np.floating, float)) else v) for k, v in out.items()}


def summarize(per_fold: list[dict], pooled: dict) -> dict:
    """Mean ± std (population std over folds) of each scalar metric, plus the pooled metrics over all test clips.

    Top-k accuracies are summarised when the pooled and every fold's metrics have them.
    """
    out: dict = {}
    top_k = [key for key in TOP_K_METRICS if key in pooled and all(key in f for f in per_fold)]
    for key in (*SCALAR_METRICS, *top_k):
        values = np.array([f[key] for f in per_fold], dtype=float)
        out[key] = {"mean": float(values.mean()), "std": float(values.std()), "pooled": float(pooled[key]), "folds": values.tolist()}
    out["per_class_recall"] = pooled["per_class_recall"]
    out["confusion_matrix"] = pooled["confusion_matrix"]
    out["n_clips"] = pooled["n"]
    return out
