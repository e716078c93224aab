"""What an audit concludes over its clips: every registered metric's mean per model and method, and how surely it beats its control.

Reads clip records (the dicts `audit_folder.write_clip_audit` returns) and metric
results; computes nothing from a model. Two views of the same numbers: the generic
``metrics`` section (one entry per registered metric, `metric_sections`) and the
long-standing ``summary`` (flat keys such as ``deletion_auc``, `summarise`).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from seraudit.xai.metrics.base import Metric, MetricResult
from seraudit.xai.metrics.registry import registered_metrics
from seraudit.xai.metrics.sanity import summarise_randomisation as summarise_sanity  # noqa: F401 -- its old home

Scored = tuple[str, str, str, MetricResult]  # (clip id, model, method, result)
#: A map passes a null-calibrated check only when its mean gain beats this quantile of random maps' mean gains.
NULL_QUANTILE = 0.95


def summarise(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """Per model and method over the audited clips: the mean of each metric, the clip count and the faithfulness verdict.

    Beside the mean of every flat key (``deletion_auc``, ...), for each registered metric
    with a ``record_key`` and a ``control_key``, ``<id>_beats_random`` is the fraction of
    clips on which the map beat its control (for deletion and insertion: its own random
    baseline) and ``<id>_gain_ci`` the 95 % bootstrap interval (over clips) of the mean gain
    over the control: an interval that holds 0 means this audit cannot tell the map from a
    random ranking.
    """
    controlled = [m for m in registered_metrics().values() if m.record_key and m.control_key]
    values: dict[str, dict[str, dict[str, list[float]]]] = {}
    gains: dict[tuple[str, str], dict[str, list[float]]] = {}
    for record in records:
        for model, per_method in record.get("methods", {}).items():
            for method, rec in per_method.items():
                slot = values.setdefault(model, {}).setdefault(method, {})
                metrics = rec.get("metrics", {})
                for key, value in metrics.items():
                    if isinstance(value, (int, float)) and np.isfinite(value):
                        slot.setdefault(key, []).append(float(value))
                for metric in controlled:
                    value, control = metrics.get(metric.record_key), metrics.get(metric.control_key)
                    if isinstance(value, (int, float)) and isinstance(control, (int, float)):
                        sign = 1.0 if metric.higher_is_better else -1.0
                        gains.setdefault((model, method), {}).setdefault(metric.id, []).append(sign * (value - control))
    out: dict[str, dict[str, dict[str, float]]] = {}
    for model, per_method in values.items():
        for method, metrics in per_method.items():
            entry: dict[str, Any] = {k: float(np.mean(v)) for k, v in metrics.items()}
            entry["n_clips"] = max((len(v) for v in metrics.values()), default=0)
            for kind, kind_gains in gains.get((model, method), {}).items():
                kind_gains = np.asarray(kind_gains, dtype=np.float64)
                entry[f"{kind}_beats_random"] = float(np.mean(kind_gains > 0))
                entry[f"{kind}_gain_ci"] = gain_interval(kind_gains)
            out.setdefault(model, {})[method] = entry
    return out


def gain_interval(gains: np.ndarray, confidence: float = 0.95, seed: int = 0) -> list[float] | None:
    """Percentile-bootstrap interval of the mean gain over clips; None with fewer than 3 clips or no spread."""
    from scipy.stats import bootstrap

    gains = np.asarray(gains, dtype=np.float64)
    gains = gains[np.isfinite(gains)]
    if gains.size < 3 or np.ptp(gains) == 0:
        return None
    result = bootstrap((gains,), np.mean, confidence_level=confidence, n_resamples=2000, method="percentile", rng=seed)
    return [float(result.confidence_interval.low), float(result.confidence_interval.high)]


def metric_rows(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per clip x model x method: the metrics a person compares across methods."""
    rows = []
    for record in records:
        for model, per_method in record.get("methods", {}).items():
            for method, rec in per_method.items():
                row = {"clip": record["id"], "path": record["path"], "model": model, "method": method,
                       "target_label": rec.get("target_label"), **rec.get("metrics", {})}
                if "scores" in rec:
                    row["scores"] = rec["scores"]
                rows.append(row)
    return rows


# --------------------------------------------------------------------------- the generic section
def record_scores(records: Iterable[dict[str, Any]], metrics: Sequence[type[Metric]]) -> list[Scored]:
    """Every clip x model x method result of ``metrics`` found in clip records.

    A record's ``scores`` come first; a record written before them gives what its flat
    ``metrics`` keys hold (a metric's ``record_key`` and ``control_key``).
    """
    scored = []
    for record in records:
        for model, per_method in record.get("methods", {}).items():
            for method, rec in per_method.items():
                scores, flat = rec.get("scores") or {}, rec.get("metrics") or {}
                for metric in metrics:
                    threshold, nulls = None, None
                    if metric.id in scores:
                        saved = scores[metric.id] or {}
                        value, control = saved.get("value"), saved.get("control")
                        threshold, nulls = saved.get("threshold"), saved.get("null_gains")
                    elif metric.record_key and metric.record_key in flat:
                        value, control = flat[metric.record_key], flat.get(metric.control_key) if metric.control_key else None
                    else:
                        continue
                    nulls = None if nulls is None else tuple(float(g) for g in nulls if isinstance(g, (int, float)))
                    scored.append((record["id"], model, method,
                                   MetricResult(metric.id, value, control, metric.higher_is_better,
                                                threshold=threshold, null_gains=nulls)))
    return scored


def _finite(values: Iterable[Any]) -> np.ndarray:
    array = np.asarray([v for v in values if isinstance(v, (int, float))], dtype=np.float64)
    return array[np.isfinite(array)]


def null_quantile(null_gains: Sequence[Sequence[float]], quantile: float = NULL_QUANTILE,
                  draws: int = 2000, seed: int = 0) -> float | None:
    """The gain over the control that random maps beat with probability ``1 - quantile``, as a mean over the clips.

    ``null_gains[i]`` are gains random maps score on clip ``i`` (e.g. one random order against the
    others); each draw takes one per clip and averages over clips, as the map's own mean gain is
    averaged, so the quantile is calibrated on the same clips and the same number of them.
    """
    per_clip = [np.asarray(g, dtype=np.float64) for g in null_gains]
    per_clip = [g[np.isfinite(g)] for g in per_clip]
    per_clip = [g for g in per_clip if g.size]
    if not per_clip:
        return None
    rng = np.random.default_rng(seed)
    means = np.mean([g[rng.integers(0, g.size, draws)] for g in per_clip], axis=0)
    return float(np.quantile(means, quantile))


def summary_cell(metric: type[Metric], results: Sequence[MetricResult]) -> dict[str, Any]:
    """One model x method of a metric over clips: mean value and control, clips scored, how surely it beats the control.

    A calibrated metric also gets its ``threshold`` here, beside the value it judges:

    * results with a per-clip ``threshold`` (model randomisation): the mean threshold, and
      ``margin_ci``, the bootstrap interval of the mean margin by which the clips' values beat
      their own thresholds;
    * results with ``null_gains`` (deletion, insertion): the mean control moved by the
      `NULL_QUANTILE` quantile of what random maps gain over it on the same clips
      (``null_gain_q95``), i.e. the value a random map beats on 5 % of audits of these clips;
    * otherwise the metric's fixed ``threshold`` when it declares one.
    """
    values, controls = _finite(r.value for r in results), _finite(r.control for r in results)
    gains = _finite(r.gain for r in results)
    cell: dict[str, Any] = {
        "value": float(values.mean()) if values.size else None,
        "control": float(controls.mean()) if controls.size else None,
        "n_clips": int(values.size),
        "beats_control": float(np.mean(gains > 0)) if gains.size else None,
        "gain_ci": gain_interval(gains) if gains.size else None,
    }
    thresholds = _finite(r.threshold for r in results)
    nulls = [r.null_gains for r in results if r.null_gains]
    if thresholds.size:
        margins = _finite(r.margin for r in results)
        cell["threshold"] = float(thresholds.mean())
        cell["margin_ci"] = gain_interval(margins) if margins.size else None
        cell["beats_threshold"] = float(np.mean(margins > 0)) if margins.size else None
    elif nulls and cell["control"] is not None:
        q = null_quantile(nulls)
        if q is not None:
            sign = 1.0 if metric.higher_is_better else -1.0
            cell["null_gain_q95"] = q
            cell["threshold"] = cell["control"] + sign * q
    elif metric.threshold is not None:
        cell["threshold"] = float(metric.threshold)
    cell.update(metric.summary_extras(list(results)))
    return cell


def metric_summary(metric: type[Metric], scored: Iterable[Scored]) -> dict[str, dict[str, dict[str, Any]]]:
    """``{model: {method: cell}}`` of one metric over every clip it scored."""
    grouped: dict[str, dict[str, list[MetricResult]]] = {}
    for _, model, method, result in scored:
        if result.metric == metric.id:
            grouped.setdefault(model, {}).setdefault(method, []).append(result)
    return {model: {method: summary_cell(metric, results) for method, results in per_method.items()}
            for model, per_method in grouped.items()}


def metric_section(metric: type[Metric], summary: Mapping[str, Any]) -> dict[str, Any]:
    """One entry of ``audit.json["metrics"]``: what the metric is (name, direction, control, threshold) and its summary."""
    return {
        "name": metric.name,
        "description": metric.description,
        "higher_is_better": metric.higher_is_better,
        "control_name": metric.control_name,
        "threshold": metric.threshold,
        "threshold_rule": getattr(metric, "threshold_rule", None),
        "summary": dict(summary),
    }


def summarise_metrics(scored: Sequence[Scored], metrics: Sequence[type[Metric]] | None = None) -> dict[str, Any]:
    """``audit.json["metrics"]``: one section per registered metric, in registration order."""
    metrics = list(registered_metrics().values()) if metrics is None else list(metrics)
    return {m.id: metric_section(m, metric_summary(m, scored)) for m in metrics}


def metric_sections(index: Mapping[str, Any]) -> dict[str, Any]:
    """The ``metrics`` section of an audit index; for a folder written before it, the same rebuilt from the old keys.

    What the checks and the report loop over, so an old audit folder reads like a new one.
    """
    if index.get("metrics") is not None:
        return dict(index["metrics"])
    return {m.id: metric_section(m, m.legacy_summary(index)) for m in registered_metrics().values()}
