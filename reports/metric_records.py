"""The audit's explanation metrics as the report shows them: one record per registered metric, read, never recomputed.

``audit.json`` holds a record per metric of the family `xai.metrics.registry`
(name, description, direction, control, and per model and method the mean value, the
control's mean, the share of clips that beat the control and the gain's interval).
The report loops over those records, so a metric registered in `xai` reaches every
page with no edit here. Audit folders written before the family are read through the
audit's own fallback (`xai.audit.summary.metric_sections`) and, per clip, through the
legacy keys each metric declares (``record_key``/``control_key``).
"""

from __future__ import annotations

from typing import Any


def metric_records(index: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Metric id -> its record (``name``, ``description``, ``higher_is_better``, ``control_name``, ``threshold_rule``,
    ``summary``); the record of a metric with a long-standing index entry (``"sanity"``) also gets its ``cascade``
    (`randomisation_cascades`)."""
    from seraudit.xai.audit.summary import metric_sections
    from seraudit.xai.metrics.registry import registered_metrics

    records = {str(metric_id): dict(record) for metric_id, record in (metric_sections(index) or {}).items()}
    for metric_id, metric in registered_metrics().items():
        entry = index.get(metric.index_key) if metric.index_key else None
        if metric_id in records and isinstance(entry, dict) and entry.get("stages"):
            records[metric_id]["cascade"] = randomisation_cascades(entry, index)
    return records


def randomisation_cascades(entry: dict[str, Any], index: dict[str, Any]) -> dict[str, Any]:
    """The cascade of ``audit.json["sanity"]`` as the report draws it: one inline SVG per model, the clips, the time.

    ``{"figures": [{"model", "title", "svg"}], "clips", "seconds", "seconds_per_clip_model"}``.
    """
    from seraudit.reports.plots import randomisation_cascade_svg

    models = list(dict.fromkeys(str(s.get("model")) for s in entry.get("stages", [])))
    figures = []
    for model in models:
        title = str((index.get("models", {}).get(model) or {}).get("display_name") or model)
        stages = [s for s in entry["stages"] if str(s.get("model")) == model]
        rows = [r for r in entry.get("rows", []) if str(r.get("model")) == model]
        figures.append({"model": model, "title": title, "svg": randomisation_cascade_svg(stages, rows, title)})
    return {"figures": figures, "clips": len(entry.get("clips") or []), "seconds": entry.get("seconds"),
            "seconds_per_clip_model": entry.get("seconds_per_clip_model")}


def clip_scores(method_record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Metric id -> ``{"value", "control"}`` of one method's map of one clip (a clip record's ``scores``).

    A clip record from before the family keeps its figures under flat keys; each registered
    metric names its own (``record_key``, ``control_key``), so the fallback needs no list here.
    """
    scores = method_record.get("scores")
    if isinstance(scores, dict) and scores:
        return {str(k): {"value": (v or {}).get("value"), "control": (v or {}).get("control"),
                         "threshold": (v or {}).get("threshold")} for k, v in scores.items()}
    from seraudit.xai.metrics.registry import registered_metrics

    legacy = method_record.get("metrics") or {}
    out = {}
    for metric_id, metric in registered_metrics().items():
        key, control_key = getattr(metric, "record_key", None), getattr(metric, "control_key", None)
        if key and legacy.get(key) is not None:
            out[metric_id] = {"value": legacy[key], "control": legacy.get(control_key) if control_key else None}
    return out


def metric_rows(record: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per model and method of a metric's summary: ``{"model", "method", **cell}``."""
    return [{"model": model, "method": method, **(cell or {})}
            for model, per_method in (record.get("summary") or {}).items() for method, cell in per_method.items()]
