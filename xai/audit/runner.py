"""Audit a batch of clips: every model x method explained, rendered as sound and pictures, scored, written atomically.

The orchestration only: what to compute (`AuditSettings`) and `run_audit`'s steps,
one function each: sort the batch (`sort_clips`: reused, failed, repeated, pending),
compute the pending clips (`compute_pending`, or an engine), collect the outcomes in
order (`collect`), run the costly metrics on the first clips
(`audit_compute.score_sampled_clips`) and assemble the index (`audit_index`). One
clip's computation is `audit_compute.audit_clip`, its folder and the index are written
by `audit_folder`, clips are identified and reused through `clip_identity`, and the
summary over clips is `audit_summary`; the metrics are whatever `xai.metrics.registry`
holds.

Which model explains a clip is decided per clip (`clip_identity.explained_by`, applied by
`run_audit`; `ClipModels` loads them): a corpus clip is explained by the model of the fold that
tested its speaker, so the explanation is of a model that never heard that speaker; other
files by the given (final) models. Clips are computed fold by fold, and the models of one clip
share one `EmbeddingMemo` (fold models hold the final model's frozen towers). Aggregates over
clips (summary, metrics, sampled metrics, checks) use every clip but in-sample ones.

A clip that fails is recorded in ``failures`` and the batch goes on. A clip whose
folder already holds a record with the same cache key (file, models, methods,
settings) and a score of every registered metric is reused.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from seraudit.core import provenance
from seraudit.core.errors import SerauditError
from seraudit.core.threads import single_threaded_blas
from seraudit.ensemble.run import Run
from seraudit.ensemble.inference.shared_backbones import sharing_backbones
from seraudit.preprocessing.audio import check_audio_path
from seraudit.preprocessing.speech import NO_SPEECH_WARNING
from seraudit.xai.audit.checks import audit_checks, overall_status
from seraudit.xai.audit.compute import audit_clip, score_sampled_clips
from seraudit.xai.audit.folder import ClipWriter, clip_dir, clip_entry, write_audit_index
from seraudit.xai.audit.summary import metric_rows, record_scores, summarise, summarise_metrics
from seraudit.xai.audit.clip_identity import (
    ClipSpec, cache_key, cached_record, clip_id_for, explained_by, in_aggregates, record_source,
)

DEFAULT_METHODS = ("gradcam", "gradcam++", "lime", "occlusion")
PROBE = "probe"  # pseudo-method: eGeMAPS deviations from the speaker's neutral clips
REFERENCE_MODEL = "ensemble"  # the model the report compares every single model with


@dataclass(frozen=True)
class AuditSettings:
    """What an audit computes; every field but the sanity ones enters the cache key. Never changed once built."""

    methods: tuple[str, ...] = DEFAULT_METHODS
    probe: bool = True
    target: str | None = None
    faithfulness_steps: int = 20
    faithfulness_random: int = 5  # random orders per map: the null that calibrates the check
    faithfulness_block: tuple[int, int] = (16, 16)  # frames x bands removed at once (see xai.metrics.faithfulness)
    seed: int = 0
    sanity_clips: int = 0
    sanity_blocks: int = 2
    explainer_params: dict[str, dict[str, Any]] = field(default_factory=dict)

    def key(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("sanity_clips")
        data.pop("sanity_blocks")
        data["methods"] = list(self.methods)
        data["faithfulness_block"] = list(self.faithfulness_block)
        return data


def parse_methods(text: str | Sequence[str]) -> tuple[tuple[str, ...], bool]:
    """Split a `methods` value (comma list or names) into attribution methods and whether ``probe`` was asked for."""
    from seraudit.xai.explainers.registry import EXPLAINERS

    names = [m.strip() for m in (text.split(",") if isinstance(text, str) else text) if m.strip()]
    if not names:
        raise SerauditError(f"`methods` is empty; choose from {', '.join([*EXPLAINERS, PROBE])}")
    unknown = [m for m in names if m not in EXPLAINERS and m != PROBE]
    if unknown:
        raise SerauditError(
            f"unknown method(s) {', '.join(map(repr, unknown))} in `methods`; choose from {', '.join([*EXPLAINERS, PROBE])}"
        )
    return tuple(dict.fromkeys(m for m in names if m != PROBE)), PROBE in names


class ClipModels:
    """Which trained models explain each clip: the fold's models for a clip a fold model explains, else the given ones.

    `models` are the given (final) models, one per name; a fold's models are loaded from
    `run` on first use (`Run.model(name, fold, base=final)`: the fold's heads on the final
    model's towers), and only the last fold asked for is kept, so a batch computed fold by
    fold holds at most one fold's models besides the final ones.
    """

    def __init__(self, models: Sequence[Any], run: Run | None = None):
        self.models = list(models)
        self.run = run
        self._fold: tuple[int, list[Any]] | None = None

    @staticmethod
    def fold_of(source: dict[str, Any] | None) -> int | None:
        """The fold whose models an ``explained_by`` record names; None for the final models."""
        return ClipSpec("", explained_by=source).fold

    def for_fold(self, fold: int | None) -> list[Any]:
        if fold is None:
            return self.models
        if self.run is None:
            raise SerauditError(f"a clip is to be explained by the fold {fold} model, but no run was given to load it from")
        if self._fold is None or self._fold[0] != fold:
            self._fold = None  # release the previous fold's graphs before building the next
            self._fold = (fold, [self.run.model(m.name, fold, base=m) for m in self.models])
        return self._fold[1]

    def for_spec(self, spec: ClipSpec) -> list[Any]:
        return self.for_fold(spec.fold)

    def for_record(self, record: dict[str, Any]) -> list[Any]:
        """The models a saved clip record was explained with (its ``explained_by``)."""
        return self.for_fold(self.fold_of(record_source(record)))


def with_sources(run: Run | None, specs: Sequence[ClipSpec], names: Sequence[str]) -> list[ClipSpec]:
    """`specs`, each with the model that explains it (`clip_identity.explained_by`) unless it already names one."""
    return [spec if spec.explained_by is not None else dataclasses.replace(spec, explained_by=explained_by(run, spec, names))
            for spec in specs]


@dataclass
class ClipSorting:
    """Where each clip of a batch stands before computing: done (reused or failed), to compute, or a repeat.

    ``outcomes``: spec index -> (record, None) or (None, failure); ``pending``: (spec index,
    spec, cache key) still to compute; ``repeats``: spec index -> the pending index of the
    same clip folder (computed once, listed twice).
    """

    outcomes: dict[int, tuple[dict[str, Any] | None, dict[str, str] | None]] = field(default_factory=dict)
    pending: list[tuple[int, ClipSpec, str]] = field(default_factory=list)
    repeats: dict[int, int] = field(default_factory=dict)
    reused: int = 0


def feature_loader(run: Run | None) -> Callable[[str], Any]:
    """Clip features cut and pooled with the GDS threshold of ``run`` (the run the models come from), else the default."""
    from seraudit.preprocessing.gds import DEFAULT_GDS_THRESHOLD
    from seraudit.preprocessing.pipeline import clip_features

    threshold = run.gds_threshold if run is not None else DEFAULT_GDS_THRESHOLD
    return functools.partial(clip_features, gds_threshold=threshold)


def scores_complete(record: dict[str, Any], metrics: Sequence[Any]) -> bool:
    """Whether a clip record holds every metric that runs on every clip (in ``scores`` or its older flat keys).

    A record written before a metric was registered is computed again rather than reused without it.
    """
    for per_method in record.get("methods", {}).values():
        for rec in per_method.values():
            scores, flat = rec.get("scores") or {}, rec.get("metrics") or {}
            if any(m.id not in scores and not (m.record_key and m.record_key in flat) for m in metrics):
                return False
    return True


def reusable_record(spec: ClipSpec, folder: Path, key: str, require_speech: bool) -> dict[str, Any] | None:
    """The clip's saved record when it is current (same cache key, every metric); raises for a refused clip."""
    from seraudit.xai.metrics.registry import registered_metrics

    check_audio_path(spec.path)  # a pipe, folder or bad link gets its own message and is never opened
    cached = cached_record(folder, key)
    if cached is not None and require_speech and NO_SPEECH_WARNING in cached.get("warnings", []):
        raise SerauditError(f"{spec.path}: no speech detected (rule: `require_speech`); fix: leave the "
                            "file out, or leave `require_speech` off to keep it with a warning")
    every_clip = [m for m in registered_metrics().values() if m.on_every_clip]
    return cached if cached is not None and scores_complete(cached, every_clip) else None


def sort_clips(
    models: Sequence[Any], specs: Sequence[ClipSpec], out_dir: Path, settings: AuditSettings, require_speech: bool, bar: Any
) -> ClipSorting:
    """Sort the batch into reused, failed, repeated and pending clips (a bad path fails here, never opened)."""
    sorting = ClipSorting()
    settings_key = settings.key()
    first_of: dict[Path, int] = {}
    for i, spec in enumerate(specs):
        folder = clip_dir(out_dir, clip_id_for(spec.path))
        try:
            key = cache_key(spec, models, settings_key)
            cached = reusable_record(spec, folder, key, require_speech)
        except Exception as error:  # e.g. a file that vanished: recorded like any other bad clip
            sorting.outcomes[i] = (None, failure_entry(spec.path, error))
            bar.update(1)
            continue
        if cached is not None:
            sorting.outcomes[i] = (cached, None)
            sorting.reused += 1
            bar.update(1)
        elif folder in first_of:
            sorting.repeats[i] = first_of[folder]
        else:
            first_of[folder] = i
            sorting.pending.append((i, spec, key))
    return sorting


def compute_pending(
    models: Sequence[Any] | ClipModels,
    pending: Sequence[tuple[int, ClipSpec, str]],
    out_dir: Path,
    settings: AuditSettings,
    load_features: Callable[[str], Any],
    deviations: Callable[[ClipSpec], list[dict[str, Any]]] | None,
    bar: Any,
) -> dict[int, tuple[dict[str, Any] | None, dict[str, str] | None]]:
    """Compute and write every pending clip in this process, fold by fold (`ClipModels`); a failing clip is recorded
    and the batch goes on."""
    chooser = models if isinstance(models, ClipModels) else ClipModels(models)
    outcomes = {}
    groups: dict[int | None, list[tuple[int, ClipSpec, str]]] = {}
    for item in pending:
        groups.setdefault(item[1].fold, []).append(item)
    for fold, items in sorted(groups.items(), key=lambda kv: -1 if kv[0] is None else kv[0]):
        try:
            clip_models = chooser.for_fold(fold)
        except Exception as error:  # a fold model that cannot load fails its clips, never the batch
            for i, spec, _ in items:
                outcomes[i] = (None, failure_entry(spec.path, error))
                bar.update(1)
            continue
        # One memo for the clip's models: their frozen towers embed each perturbed patch once for all of them.
        with sharing_backbones(clip_models) as memo:
            for i, spec, key in items:
                bar.set_postfix_str(Path(spec.path).name[:40])
                try:
                    outcomes[i] = (audit_one(clip_models, spec, key, out_dir, settings, load_features, deviations), None)
                except Exception as error:  # one bad clip never stops the batch; the reason is recorded
                    outcomes[i] = (None, failure_entry(spec.path, error))
                finally:
                    memo.clear()  # perturbations of one clip never recur in another
                bar.update(1)
    return outcomes


def collect(
    sorting: ClipSorting, computed: dict[int, tuple[dict[str, Any] | None, dict[str, str] | None]], bar: Any
) -> tuple[list[dict[str, Any]], list[dict[str, str]], int]:
    """Records and failures in the batch's order (a repeated clip takes its first listing's outcome), and the reused count."""
    outcomes = {**sorting.outcomes, **computed}
    reused = sorting.reused
    for i, first in sorting.repeats.items():
        outcomes[i] = outcomes[first]
        reused += outcomes[first][0] is not None
        bar.update(1)
    records = [outcomes[i][0] for i in sorted(outcomes) if outcomes[i][0] is not None]
    failures = [outcomes[i][1] for i in sorted(outcomes) if outcomes[i][0] is None]
    return records, failures, reused


def run_audit(
    models: Sequence[Any],
    specs: Sequence[ClipSpec],
    out_dir: str | os.PathLike,
    settings: AuditSettings | None = None,
    *,
    load_features: Callable[[str], Any] | None = None,
    deviations: Callable[[ClipSpec], list[dict[str, Any]]] | None = None,
    probing: dict[str, Any] | Callable[[], dict[str, Any] | None] | None = None,
    run: Run | None = None,
    title: str = "",
    progress: bool = True,
    failures: Sequence[dict[str, str]] = (),
    require_speech: bool = False,
    engine: Any = None,
    selection: str = "",
) -> dict[str, Any]:
    """Audit every clip (reusing complete clip folders with the same cache key) and write the index.

    ``settings`` (None: `AuditSettings()`) say what is computed. ``failures`` are files that
    failed before the audit (e.g. in training); they are listed in the index and in
    ``failures.csv`` with the audit's own. ``require_speech`` also refuses a reused clip
    record that carries the "no speech detected" warning (pass ``load_features`` with
    ``require_speech=True`` for the clips computed now). ``probing`` (the eGeMAPS probing rows the index
    shows) may be a callable: it is asked once the clips are computed.

    Clips are cut and pooled with the GDS threshold of ``run`` (the run the models
    come from), else the default. Returns the index written to ``audit.json``:
    models (display names, untrained branches, labels), methods, clips, failures,
    per-model/method metric means, every registered metric's section (``metrics``), the
    sanity check when ``settings.sanity_clips`` > 0, and the pass/warn/fail ``checks`` of
    `xai.audit.checks`. ``engine`` (None: this process) computes the clips not reused, e.g.
    on Ray (`xai.engines.ray_engine.RayEngine.audit_clips`); the index is written here either way.

    Each clip is explained by the model `clip_identity.explained_by` names (with ``run``: its
    fold's model for a corpus clip); the index's summary, metrics and checks leave in-sample
    clips out. ``selection`` is the rule that picked the clips, as the report states it.
    """
    from tqdm.auto import tqdm

    settings = settings if settings is not None else AuditSettings()
    load_features = load_features if load_features is not None else feature_loader(run)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    specs = with_sources(run, specs, [m.name for m in models])
    chooser = ClipModels(models, run)
    bar = tqdm(total=len(specs), desc="audit", unit="clip", disable=not progress)
    sorting = sort_clips(models, specs, out_dir, settings, require_speech, bar)
    if engine is not None:  # e.g. `xai.engines.ray_engine.RayEngine`: the same clip computation on a pool of workers
        computed = {}
        by_fold = sorted(sorting.pending, key=lambda item: -1 if item[1].fold is None else item[1].fold)  # fewer loads
        for i, outcome in engine.audit_clips(run, models, settings, out_dir, by_fold, deviations,
                                             load_features=load_features):
            computed[i] = outcome
            bar.update(1)
    else:
        computed = compute_pending(chooser, sorting.pending, out_dir, settings, load_features, deviations, bar)
    records, audit_failures, reused = collect(sorting, computed, bar)
    bar.close()
    aggregated = [r for r in records if in_aggregates(r)]
    sampled, entries = score_sampled_clips(chooser.for_record, aggregated, settings, load_features, out_dir)
    if callable(probing):  # computed beside the clips (e.g. the main job's probing thread): needed from here on
        probing = probing()
    index = audit_index(
        models, records, [*failures, *audit_failures], settings, sampled=sampled, entries=entries,
        probing=probing, run_dir=run.path if run is not None else "", title=title, reused=reused,
        selection=selection,
    )
    index["checks"] = audit_checks(index, run.results if run is not None else None,
                                   run.failures if run is not None else [], audit_dir=out_dir)
    index["status"] = overall_status(index["checks"])  # the worst check's
    return write_audit_index(out_dir, index, metric_rows(records))


def audit_one(
    models: Sequence[Any],
    spec: ClipSpec,
    key: str,
    out_dir: str | os.PathLike,
    settings: AuditSettings,
    load_features: Callable[[str], Any],
    deviations: Callable[[ClipSpec], list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """Compute one clip and write its folder (atomically) under ``out_dir``; returns its ``clip.json`` record.

    The folder is written while the clip is computed (`audit_folder.ClipWriter`): each model's maps are saved,
    rendered and drawn as soon as they exist, while the metrics score them. numpy's BLAS runs on one thread
    meanwhile (`core.threads.single_threaded_blas`).
    """
    features = load_features(spec.path)
    clip_id = clip_id_for(spec.path)
    with (single_threaded_blas(),  # TensorFlow's passes hold every core; BLAS threads would only spin beside them
          ClipWriter(clip_dir(out_dir, clip_id), features, {m.name: m for m in models}, clip_id, cache=key) as writer):
        audit = audit_clip(models, features, spec, settings, deviations=deviations, explained=writer.explained)
        return writer.finish(audit)


def failure_entry(path: str | os.PathLike, error: BaseException, detail: str | None = None) -> dict[str, str]:
    """How ``failures`` lists a clip that failed: its path, the reason, and a short traceback for unexpected errors.

    Called inside the ``except`` block (``detail`` defaults to the current traceback).
    """
    expected = isinstance(error, SerauditError)
    message = str(error) if expected else f"{type(error).__name__}: {error}"
    if detail is None:
        detail = "" if expected else traceback.format_exc(limit=3)
    return {"clip": os.fspath(path), "error": message, "stage": "audit", "detail": "" if expected else detail}


def audit_index(
    models: Sequence[Any],
    records: Sequence[dict[str, Any]],
    failures: Sequence[dict[str, str]],
    settings: AuditSettings,
    *,
    sampled: Sequence[Any] = (),
    entries: dict[str, Any] | None = None,
    probing: dict[str, Any] | None = None,
    run_dir: str | os.PathLike = "",
    title: str = "",
    reused: int = 0,
    selection: str = "",
) -> dict[str, Any]:
    """The ``audit.json`` index of clip records already on disk (`audit_folder.write_audit_index` writes it).

    Every clip is listed; the summary and metrics are over the clips `in_aggregates` keeps
    (``explained_by`` says how many of each kind, and the rule; ``selection``: how the clips were picked).

    ``models`` need ``name``, ``display_name``, ``untrained_branches`` and ``labels``.
    ``sampled`` are the results of the metrics run on a few clips only and ``entries`` their
    long-standing index keys (`xai.audit.compute.score_sampled_clips`; ``"sanity"``, null when not run).
    ``settings`` holds the cache key's settings and the sanity check's (clips, blocks); ``created`` and
    ``software`` say when and by which version the index was written.
    """
    from seraudit.xai.metrics.registry import registered_metrics

    metrics = list(registered_metrics().values())
    every_clip = [m for m in metrics if m.on_every_clip]
    entries = entries or {}
    aggregated = [r for r in records if in_aggregates(r)]
    names = [m.name for m in models]
    return {
        "title": title or "SERAudit audit",
        "run": os.fspath(run_dir),
        "created": provenance.utc_now(),
        "software": provenance.software(),  # SERAudit's version and, from a git checkout, its commit
        "reference_model": REFERENCE_MODEL if REFERENCE_MODEL in names else (names[0] if names else ""),
        "methods": list(settings.methods),
        "probe": settings.probe,
        "settings": {**settings.key(), "sanity_clips": settings.sanity_clips, "sanity_blocks": settings.sanity_blocks},
        "models": {
            m.name: {
                "display_name": m.display_name,
                "untrained_branches": list(getattr(m, "untrained_branches", [])),
                "labels": list(m.labels),
            }
            for m in models
        },
        "clips": [clip_entry(r) for r in records],
        "failures": list(failures),
        "reused": reused,
        "selection": selection,
        "explained_by": explained_by_summary(records),
        "summary": summarise(aggregated),
        **{m.index_key: entries.get(m.index_key) for m in metrics if m.index_key},
        "probing": probing,
        "metrics": summarise_metrics([*record_scores(aggregated, every_clip), *sampled], metrics),
    }


EXPLAINED_BY_RULE = ("A corpus clip is explained by the model of the cross-validation fold whose test speakers include "
                     "its speaker (a model that never trained on that speaker); a file outside the corpus by the final "
                     "model. Clips explained by a model that trained on their speaker are marked in-sample and left "
                     "out of every aggregate (summary, checks, class maps, method agreement).")


def explained_by_summary(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """How the audit's clips were explained: the rule, the count of each kind, and how many enter the aggregates."""
    kinds = [record_source(r)["kind"] for r in records]
    return {"rule": EXPLAINED_BY_RULE, "counts": {k: kinds.count(k) for k in dict.fromkeys(kinds)},
            "aggregated": sum(in_aggregates(r) for r in records)}
