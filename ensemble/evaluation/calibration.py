"""How far a model's confidence can be trusted: expected calibration error, reliability bins, temperature scaling.

Everything works on clip probabilities ``[n, C]`` (rows summing to 1) and integer labels.

* `reliability_bins`: the top-label confidence cut into `n_bins` equal-width bins over (0, 1]
  (bin b holds confidences in (b/n, (b+1)/n]); per bin its clips, mean confidence and accuracy.
* `expected_calibration_error`: sum over bins of |accuracy - confidence| weighted by the bin's
  share of clips (Guo et al. 2017, 10 bins by default), as a fraction (0-1).
* `fit_temperature`: the T > 0 minimising the log-loss of ``softmax(log p / T)`` (temperature
  scaling). Dividing every class log-probability by the same T never changes the argmax. The
  models pool patches as a geometric mean, so scaling the pooled clip distribution equals
  scaling the patch logits (and, for late fusion, the branch weights).
* `calibration_summary`: ECE, reliability bins, mean confidence and accuracy of each model of a
  cross-validation predictions table (its ``p_<label>`` columns), with and without the per-fold
  temperatures a run recorded.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

N_BINS = 10
LOG_EPS = 1e-12
T_RANGE = (0.05, 20.0)  # the temperatures the fit may choose


def scale_probabilities(probabilities, temperature: float) -> np.ndarray:
    """``softmax(log p / T)`` row by row (T = 1 returns the rows renormalised)."""
    logp = np.log(np.clip(np.asarray(probabilities, dtype=np.float64), LOG_EPS, 1.0)) / float(temperature)
    logp -= logp.max(axis=1, keepdims=True)
    p = np.exp(logp)
    return p / p.sum(axis=1, keepdims=True)


def reliability_bins(probabilities, y, n_bins: int = N_BINS) -> list[dict]:
    """Per confidence bin: its bounds, clips, mean top-label confidence and accuracy (None for an empty bin)."""
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(y, dtype=int)
    confidence, predicted = p.max(axis=1), p.argmax(axis=1)
    which = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    bins = []
    for b in range(n_bins):
        rows = which == b
        n = int(rows.sum())
        bins.append({"low": b / n_bins, "high": (b + 1) / n_bins, "n": n,
                     "confidence": float(confidence[rows].mean()) if n else None,
                     "accuracy": float((predicted[rows] == y[rows]).mean()) if n else None})
    return bins


def expected_calibration_error(probabilities, y, n_bins: int = N_BINS) -> float:
    """ECE (fraction, 0-1): the clip-weighted mean gap between accuracy and top-label confidence over `n_bins` bins."""
    bins = reliability_bins(probabilities, y, n_bins)
    total = sum(b["n"] for b in bins)
    if not total:
        return float("nan")
    return float(sum(b["n"] * abs(b["accuracy"] - b["confidence"]) for b in bins if b["n"]) / total)


def log_loss(probabilities, y) -> float:
    p = np.asarray(probabilities, dtype=np.float64)
    return float(-np.mean(np.log(np.clip(p[np.arange(len(p)), np.asarray(y, dtype=int)], LOG_EPS, 1.0))))


def fit_temperature(probabilities, y) -> float:
    """Temperature scaling: the T in `T_RANGE` minimising the log-loss of ``softmax(log p / T)`` (1.0 without clips)."""
    from scipy.optimize import minimize_scalar

    if not len(y):
        return 1.0
    lo, hi = np.log(T_RANGE[0]), np.log(T_RANGE[1])
    result = minimize_scalar(lambda t: log_loss(scale_probabilities(probabilities, np.exp(t)), y),
                             bounds=(lo, hi), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(result.x))


def _model_scores(frame: pd.DataFrame, labels: list[str]) -> tuple[np.ndarray, np.ndarray] | None:
    columns = [f"p_{lab}" for lab in labels]
    if not set(columns) <= set(frame.columns):
        return None
    index = {lab: i for i, lab in enumerate(labels)}
    return frame[columns].to_numpy(dtype=float), frame["label"].map(index).to_numpy()


def model_calibration(frame: pd.DataFrame, labels: list[str], temperatures: dict[int, float] | None = None,
                      applied: bool = False, n_bins: int = N_BINS) -> dict | None:
    """One model's calibration from its out-of-fold predictions (None without probability columns).

    `temperatures` maps fold -> the temperature fitted on that fold's validation speakers; `applied` says
    the table's probabilities already carry it. The entry gives ECE, mean confidence, accuracy and the
    reliability bins of the raw probabilities (``"raw"``) and of the temperature-scaled ones
    (``"scaled"``, when temperatures are known), and which of them the predictions hold (``"shown"``).
    """
    scored = _model_scores(frame, labels)
    if scored is None:
        return None
    p, y = scored
    folds = frame["fold"].to_numpy()
    known = bool(temperatures) and all(f in temperatures for f in np.unique(folds))
    raw, scaled = p, None
    if known:
        t = np.array([temperatures[f] for f in folds], dtype=np.float64)
        factor = t if applied else 1.0 / t  # undo (p^T) or apply (p^(1/T)), fold by fold
        logp = np.log(np.clip(p, LOG_EPS, 1.0)) * factor[:, None]
        other = np.exp(logp - logp.max(axis=1, keepdims=True))
        other /= other.sum(axis=1, keepdims=True)
        raw, scaled = (other, p) if applied else (p, other)

    def entry(q: np.ndarray) -> dict:
        return {"ece": expected_calibration_error(q, y, n_bins), "mean_confidence": float(q.max(axis=1).mean()),
                "accuracy": float((q.argmax(axis=1) == y).mean()), "log_loss": log_loss(q, y),
                "bins": reliability_bins(q, y, n_bins)}

    out = {"n_bins": n_bins, "n_clips": int(len(y)), "raw": entry(raw),
           "temperatures": {str(f): float(temperatures[f]) for f in sorted(temperatures)} if known else None,
           "scaled": entry(scaled) if scaled is not None else None,
           "shown": "scaled" if (known and applied) else "raw"}
    out["ece"] = out[out["shown"]]["ece"]
    return out


def calibration_summary(predictions: pd.DataFrame, labels: list[str], histories: list[dict] | None = None,
                        n_bins: int = N_BINS) -> dict:
    """Model name -> `model_calibration` of its out-of-fold predictions, with the per-fold temperatures `histories`
    (a run's ``cv_histories``) recorded; runs from before temperatures existed give raw figures only."""
    out = {}
    for name, frame in predictions.groupby("model", sort=False):
        temps, applied = {}, False
        for h in histories or []:
            record = (h.get("calibration") or {})
            if name in record.get("temperature", {}):
                temps[h.get("fold")] = float(record["temperature"][name])
                applied = bool(record.get("applied", False))
        entry = model_calibration(frame, labels, temps or None, applied, n_bins)
        if entry is not None:
            out[name] = entry
    return out
