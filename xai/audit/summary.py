"""What an audit concludes over its clips: mean metrics and the faithfulness verdict per model and method, sanity tables.

Reads clip records (the dicts `audit_folder.write_clip_audit` returns) and sanity
tables; computes nothing from a model.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from seraudit.xai.audit.folder import plain


def summarise(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """Per model and method over the audited clips: the mean of each metric, the clip count and the faithfulness verdict.

    Beside the mean AUCs, ``deletion_beats_random`` / ``insertion_beats_random`` are the
    fractions of clips on which the map beat its own random baseline, and
    ``deletion_gain_ci`` / ``insertion_gain_ci`` the 95 % bootstrap interval (over clips)
    of the mean gain over random: an interval that holds 0 means this audit cannot tell
    the map from a random ranking.
    """
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
                for kind, sign in (("deletion", -1.0), ("insertion", 1.0)):
                    auc, random_auc = metrics.get(f"{kind}_auc"), metrics.get(f"random_{kind}_auc")
                    if isinstance(auc, (int, float)) and isinstance(random_auc, (int, float)):
                        gains.setdefault((model, method), {}).setdefault(kind, []).append(sign * (auc - random_auc))
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
                rows.append({"clip": record["id"], "path": record["path"], "model": model, "method": method,
                             "target_label": rec.get("target_label"), **rec.get("metrics", {})})
    return rows


def summarise_sanity(tables: Sequence[pd.DataFrame], clips: Sequence[str], seconds: float) -> dict[str, Any]:
    """The model-randomisation check over audited clips, as the index stores it.

    ``tables`` are `xai.metrics.sanity.model_randomisation` tables, each with a ``clip``
    column. ``rows``: per model and method, the mean Spearman correlation at the
    last (most randomised) stage; ``stages``: the mean at every stage.
    """
    if not tables:
        return {"rows": [], "stages": [], "seconds": 0.0}
    table = pd.concat(tables, ignore_index=True)
    last_stage = table.groupby(["model", "method"])["stage"].transform("max") == table["stage"]
    summary = (
        table[last_stage].groupby(["model", "method"])
        .agg(spearman=("spearman", "mean"), n_clips=("clip", "nunique"), stage_name=("stage_name", "first"))
        .reset_index()
    )
    stages = (
        table.groupby(["model", "method", "stage", "stage_name"])["spearman"].mean().reset_index().to_dict("records")
    )
    return {
        "rows": [{k: plain(v) for k, v in row.items()} for row in summary.to_dict("records")],
        "stages": [{k: plain(v) for k, v in row.items()} for row in stages],
        "clips": list(clips),
        "seconds": seconds,
    }
