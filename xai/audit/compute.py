"""What an audit computes for one clip: every model's prediction, every model x method map, and every registered metric.

Plain data only (`ClipAudit`); `audit_folder.ClipWriter` renders and saves it (starting on each model's maps
as soon as they exist, through `audit_clip`'s ``explained``).
The metrics are whatever `xai.metrics.registry` holds: this module names none of them.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from seraudit.core.constants import SAMPLE_RATE
from seraudit.core.threads import single_threaded_blas
from seraudit.xai.attribution import Attribution
from seraudit.xai.audit.clip_identity import ClipSpec, clip_id_for
from seraudit.xai.audit.folder import clip_dir
from seraudit.xai.metrics.base import Metric, MetricContext, MetricResult

Scores = dict[tuple[str, str], dict[str, MetricResult]]  # (model, method) -> metric id -> result


@dataclass
class ClipAudit:
    """Everything computed for one clip (plain data; `write_clip_audit` renders and saves it).

    ``scores`` hold every registered metric's result per model and method; ``faithfulness``
    and ``curves`` are the clip record's long-standing flat view of the same results
    (``deletion_auc``, ...), ``agreement`` the per-model agreement matrices drawn in the report.
    """

    spec: ClipSpec
    clip_id: str
    predictions: dict[str, dict[str, Any]]
    attributions: list[Any]
    faithfulness: dict[tuple[str, str], dict[str, Any]]
    agreement: dict[str, dict[str, Any]]
    egemaps_deviation: list[dict[str, Any]]
    duration_s: float
    curves: dict[tuple[str, str], dict[str, list[float]]] = field(default_factory=dict)  # faithfulness curves
    scores: Scores = field(default_factory=dict)


def method_explainers(settings: Any) -> dict[str, Any]:
    """The audit's explainers by method name, configured by ``settings.explainer_params``."""
    from seraudit.xai.explainers.registry import make_explainer

    return {m: make_explainer(m, **settings.explainer_params.get(m, {})) for m in settings.methods}


def score(metric: Metric, context: MetricContext) -> MetricResult:
    """One metric on one context; an optional metric's failure becomes a null value with the reason."""
    if metric.required:
        return metric(context)
    try:
        return metric(context)
    except Exception as error:  # noqa: BLE001 -- an optional metric never loses the clip
        return metric.result(None, error=f"{type(error).__name__}: {error}")


def score_attributions(
    models: Sequence[Any],
    clip: Any,
    attributions: Sequence[Any],
    metrics: Sequence[Metric],
    explainers: Mapping[str, Any],
) -> Scores:
    """Every metric on every attribution of one clip (one shared memo, so metrics reuse each other's passes)."""
    shared: dict[Any, Any] = {}
    scores: Scores = {}
    for model in models:
        own = {a.method: a for a in attributions if a.model == model.name}
        for method, attribution in own.items():
            context = MetricContext(model, clip, attribution, own, explainers, shared)
            scores[(model.name, method)] = {m.id: score(m, context) for m in metrics}
    return scores


def flat_metrics(metrics: Sequence[Metric], results: Mapping[str, MetricResult], seconds: float) -> dict[str, Any]:
    """The clip record's ``metrics`` dict: each metric's ``record_key`` and ``control_key``, then ``seconds``."""
    present = [m for m in metrics if m.id in results]
    fields: dict[str, Any] = {m.record_key: results[m.id].value for m in present if m.record_key}
    fields.update({m.control_key: results[m.id].control for m in present if m.control_key})
    fields["seconds"] = seconds
    return fields


def merged_curves(results: Mapping[str, MetricResult]) -> dict[str, list[float]] | None:
    """Every curve the metrics of one attribution drew (``details["curves"]``), merged; None when none did."""
    curves: dict[str, list[float]] = {}
    for result in results.values():
        curves.update(result.details.get("curves", {}))
    return curves or None


def audit_clip(
    models: Sequence[Any],
    features: Any,
    spec: ClipSpec,
    settings: Any,
    *,
    deviations: Callable[[ClipSpec], list[dict[str, Any]]] | None = None,
    explained: Callable[[list[Attribution]], None] | None = None,
) -> ClipAudit:
    """Predict, explain (every model x method) and score one clip with an `AuditSettings`; nothing is written.

    Every registered metric that runs on every clip (``on_every_clip``) scores every map.
    ``explained`` is handed each model's maps (every method) as soon as they exist, before any
    metric runs: `audit_folder.ClipWriter.explained` starts writing them while the clip is scored.
    """
    from seraudit.xai.explainers.registry import explain_clip
    from seraudit.xai.metrics.agreement import agreement_record
    from seraudit.xai.metrics.registry import build_metrics

    predictions = {m.name: m.predict_clip(features).as_dict() for m in models}
    explainers = method_explainers(settings)
    attributions = []
    for model in models:  # model-major, method-minor, as `explain_clip` orders them
        own = explain_clip([model], features, list(explainers.values()), target=settings.target)
        attributions += own
        if explained is not None:
            explained(own)
    metrics = [m for m in build_metrics(settings) if m.on_every_clip]
    scores = score_attributions(models, features, attributions, metrics, explainers)
    seconds = {(a.model, a.method): a.seconds for a in attributions}
    faithfulness = {key: flat_metrics(metrics, results, seconds[key]) for key, results in scores.items()}
    curves = {key: c for key, results in scores.items() if (c := merged_curves(results)) is not None}
    agreement = {}
    for model in models:
        own = {a.method: a for a in attributions if a.model == model.name}
        if len(own) >= 2:
            agreement[model.name] = agreement_record(own)
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
        scores=scores,
    )


def saved_map(out_dir: str | os.PathLike | None, record: dict[str, Any], model: str, method: str) -> Attribution | None:
    """The attribution the audit wrote for (clip, model, method), or None when it has none on disk."""
    entry = (record.get("methods", {}).get(model) or {}).get(method) or {}
    if out_dir is None or not entry.get("attribution"):
        return None
    path = clip_dir(out_dir, record["id"]) / entry["attribution"]
    return Attribution.load(path) if path.is_file() else None


def score_sampled_clips(
    models: Sequence[Any],
    records: Sequence[dict[str, Any]],
    settings: Any,
    load_features: Callable[[str], Any],
    out_dir: str | os.PathLike | None = None,
) -> tuple[list[tuple[str, str, str, MetricResult]], dict[str, Any]]:
    """The costly metrics (``on_every_clip`` False: model randomisation) on the first ``settings.sanity_clips`` records.

    The metrics compare with the maps the audit saved for each clip (read from `out_dir`,
    the audit folder); a map that is not there is computed again (same method, the target
    its record names). Returns every ``(clip id, model, method, result)`` and each metric's
    long-standing index entry by its ``index_key``.
    """
    from seraudit.xai.explainers.perturbation import resolve_target
    from seraudit.xai.metrics.registry import build_metrics

    metrics = [m for m in build_metrics(settings) if not m.on_every_clip]
    chosen = list(records[: settings.sanity_clips]) if metrics and settings.sanity_clips > 0 else []
    if not chosen:
        return [], {}
    explainers = method_explainers(settings)
    started = time.perf_counter()
    scored = []
    with single_threaded_blas():  # as for the clips themselves (`runner.audit_one`)
        for record in chosen:
            features = load_features(record["path"])
            shared: dict[Any, Any] = {}
            for model in (models(record) if callable(models) else models):  # per record: the models that explained it
                first = next(iter(record["methods"].get(model.name, {}).values()), None)
                target = resolve_target(model, features, None if first is None else int(first["target"]))
                originals = {name: saved_map(out_dir, record, model.name, name) or explainer.explain(model, features, target)
                             for name, explainer in explainers.items()}
                for method, attribution in originals.items():
                    context = MetricContext(model, features, attribution, originals, explainers, shared)
                    scored += [(record["id"], model.name, method, score(m, context)) for m in metrics]
    seconds = time.perf_counter() - started
    entries = {m.index_key: m.index_entry([(clip, r) for clip, _, _, r in scored if r.metric == m.id], seconds)
               for m in metrics if m.index_key}
    return scored, entries
