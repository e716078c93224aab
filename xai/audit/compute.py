"""What an audit computes for one clip: every model's prediction, every model x method map, its faithfulness and agreement.

Plain data only (`ClipAudit`); `audit_folder.write_clip_audit` renders and saves it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from seraudit.core.constants import SAMPLE_RATE
from seraudit.xai.audit.clip_identity import ClipSpec, clip_id_for


@dataclass
class ClipAudit:
    """Everything computed for one clip (plain data; `write_clip_audit` renders and saves it)."""

    spec: ClipSpec
    clip_id: str
    predictions: dict[str, dict[str, Any]]
    attributions: list[Any]
    faithfulness: dict[tuple[str, str], dict[str, Any]]
    agreement: dict[str, dict[str, Any]]
    egemaps_deviation: list[dict[str, Any]]
    duration_s: float
    curves: dict[tuple[str, str], dict[str, list[float]]] = field(default_factory=dict)  # faithfulness curves


def audit_clip(
    models: Sequence[Any],
    features: Any,
    spec: ClipSpec,
    settings: Any,
    *,
    deviations: Callable[[ClipSpec], list[dict[str, Any]]] | None = None,
) -> ClipAudit:
    """Predict, explain (every model x method) and score one clip with an `AuditSettings`; nothing is written."""
    from seraudit.xai.metrics.agreement import method_agreement
    from seraudit.xai.explainers.registry import explain_clip
    from seraudit.xai.metrics.faithfulness import deletion_insertion

    predictions = {m.name: m.predict_clip(features).as_dict() for m in models}
    attributions = explain_clip(
        list(models), features, list(settings.methods), target=settings.target, params=settings.explainer_params
    )
    by_name = {m.name: m for m in models}
    faithfulness, curves = {}, {}
    for attribution in attributions:
        result = deletion_insertion(
            by_name[attribution.model],
            features,
            attribution,
            steps=settings.faithfulness_steps,
            n_random=settings.faithfulness_random,
            seed=settings.seed,
            block=settings.faithfulness_block,
        )
        faithfulness[(attribution.model, attribution.method)] = {
            "deletion_auc": result.deletion_auc,
            "insertion_auc": result.insertion_auc,
            "random_deletion_auc": result.random_deletion_auc,
            "random_insertion_auc": result.random_insertion_auc,
            "seconds": attribution.seconds,
        }
        curves[(attribution.model, attribution.method)] = {
            key: [float(v) for v in getattr(result, key)]
            for key in ("fractions", "deletion", "insertion", "random_deletion", "random_insertion")
        }
    agreement = {}
    for model in models:
        own = {a.method: a for a in attributions if a.model == model.name}
        if len(own) >= 2:
            try:
                result = method_agreement(own)
            except (ValueError, IndexError) as error:  # agreement is a side figure: never lose the clip over it
                agreement[model.name] = {"methods": list(own), "error": f"{type(error).__name__}: {error}"}
                continue
            agreement[model.name] = {
                "methods": list(result.spearman.index),
                "matrix": _finite_matrix(result.spearman.to_numpy()),
                "top_iou": _finite_matrix(result.top_iou.to_numpy()),
                "top_fraction": result.top_fraction,
            }
    egemaps_deviation = deviations(spec) if (settings.probe and deviations is not None) else []
    waveform = np.asarray(features.audio.waveform)
    return ClipAudit(
        spec=spec,
        clip_id=clip_id_for(spec.path),
        predictions=predictions,
        attributions=attributions,
        faithfulness=faithfulness,
        agreement=agreement,
        egemaps_deviation=egemaps_deviation,
        duration_s=float(waveform.size / SAMPLE_RATE),
        curves=curves,
    )


def _finite_matrix(matrix: np.ndarray) -> list[list[float | None]]:
    """JSON-ready matrix; undefined correlations (a constant map) become null."""
    return [[float(v) if np.isfinite(v) else None for v in row] for row in np.asarray(matrix, dtype=np.float64)]
