"""Audit a batch of clips: every model x method explained, rendered as sound and pictures, scored, written atomically.

Layout of an audit folder (what `reports` reads back)::

    AUDIT/audit.json                       index: models, methods, clips, failures, summary, sanity
    AUDIT/metrics.json                     one row per clip x model x method (faithfulness, seconds)
    AUDIT/clips/<clip-id>/clip.json        predictions, artefact paths and metrics of one clip
    AUDIT/clips/<clip-id>/original.wav     the clip as the models heard it (16 kHz)
    AUDIT/clips/<clip-id>/<model>/<method>.npz                  the attribution (`Attribution.save`)
    AUDIT/clips/<clip-id>/<model>/*__{excerpt,listened,ignored}.wav, *__overlay.png

Each clip folder is written in a temporary folder and moved into place only when
complete, so an interrupted audit never leaves half a clip; a clip that fails is
recorded in ``failures`` and the batch goes on. A clip whose folder already holds
a record with the same cache key (file, models, methods, settings) is reused.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from seraudit.ensemble.shared_backbones import sharing_backbones
from seraudit.core.errors import SerauditError
from seraudit.core.io import atomic_directory, write_json

AUDIT_FORMAT_VERSION = 1  # read by reports.model.AUDIT_FORMAT_VERSION
AUDIT_INDEX = "audit.json"
METRICS_FILE = "metrics.json"
CLIP_INDEX = "clip.json"
CLIPS_DIR = "clips"
DEFAULT_METHODS = ("gradcam", "gradcam++", "lime", "occlusion")
PROBE = "probe"  # pseudo-method: eGeMAPS deviations from the speaker's neutral clips
METRIC_KEYS = ("deletion_auc", "insertion_auc", "random_deletion_auc", "random_insertion_auc", "seconds")
# Signed methods whose negative cells argue against the target; Grad-CAM maps are non-negative.
REFERENCE_MODEL = "ensemble"


@dataclass
class ClipSpec:
    """One clip to audit, with what is known about it (label and speaker come from a corpus table)."""

    path: str
    true_label: str | None = None
    speaker: str | None = None


@dataclass
class AuditSettings:
    """What an audit computes; every field enters the cache key."""

    methods: tuple[str, ...] = DEFAULT_METHODS
    probe: bool = True
    target: str | None = None
    faithfulness_steps: int = 20
    faithfulness_random: int = 3
    faithfulness_block: tuple[int, int] = (16, 16)  # frames x bands removed at once (see xai.faithfulness)
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


def parse_methods(text: str | Sequence[str]) -> tuple[tuple[str, ...], bool]:
    """Split a ``--methods`` value into attribution methods and whether ``probe`` was asked for."""
    from seraudit.xai.explain import EXPLAINERS

    names = [m.strip() for m in (text.split(",") if isinstance(text, str) else text) if m.strip()]
    if not names:
        raise SerauditError(f"--methods is empty; choose from {', '.join([*EXPLAINERS, PROBE])}")
    unknown = [m for m in names if m not in EXPLAINERS and m != PROBE]
    if unknown:
        raise SerauditError(
            f"unknown method(s) {', '.join(map(repr, unknown))} in --methods; choose from {', '.join([*EXPLAINERS, PROBE])}"
        )
    return tuple(dict.fromkeys(m for m in names if m != PROBE)), PROBE in names


def clip_id_for(path: str | os.PathLike) -> str:
    """A folder-safe, collision-free id for a clip: its file stem plus a hash of its absolute path."""
    path = os.path.abspath(os.fspath(path))
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(path).stem).strip("._")[:60] or "clip"
    return f"{stem}-{hashlib.sha1(path.encode('utf-8')).hexdigest()[:8]}"


def model_fingerprint(model: Any) -> str:
    """Identity of a trained model for the cache: name, labels, untrained branches, provenance."""
    payload = json.dumps(
        {
            "name": model.name,
            "labels": list(model.labels),
            "untrained": list(getattr(model, "untrained_branches", [])),
            "provenance": getattr(model, "provenance", {}),
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha1(payload.encode("utf-8")).hexdigest()[:16]


def cache_key(spec: ClipSpec, models: Sequence[Any], settings: AuditSettings) -> str:
    stat = os.stat(spec.path)
    payload = json.dumps(
        {
            "path": os.path.abspath(spec.path),
            "size": stat.st_size,
            "mtime": stat.st_mtime_ns,
            "label": spec.true_label,
            "speaker": spec.speaker,
            "models": [model_fingerprint(m) for m in models],
            "settings": settings.key(),
            "format": AUDIT_FORMAT_VERSION,
        },
        sort_keys=True,
    )
    return hashlib.sha1(payload.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- computing
def audit_clip(
    models: Sequence[Any],
    features: Any,
    spec: ClipSpec,
    settings: AuditSettings,
    *,
    deviations: Callable[[ClipSpec], list[dict[str, Any]]] | None = None,
) -> ClipAudit:
    """Predict, explain (every model x method) and score one clip; nothing is written."""
    from seraudit.xai.agreement import method_agreement
    from seraudit.xai.explain import explain_clip
    from seraudit.xai.faithfulness import deletion_insertion

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
    from seraudit.core.constants import SAMPLE_RATE

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


# --------------------------------------------------------------------------- writing
def write_clip_audit(
    audit: ClipAudit,
    features: Any,
    clip_dir: str | os.PathLike,
    models: dict[str, Any],
    *,
    cache: str = "",
) -> dict[str, Any]:
    """Render and save one clip's audit into ``clip_dir`` (replaced atomically); returns its ``clip.json`` record.

    ``models`` maps each model name to the object whose display name titles the
    figures (a `TrainedModel`, so an untrained branch shows in every picture).
    """
    from seraudit.xai.render_audio import render_attribution_audio, write_wav
    from seraudit.xai.render_image import image_name, plot_faithfulness_curves, plot_overlay, plot_time_profiles

    clip_dir = Path(clip_dir)
    waveform = np.asarray(features.audio.waveform, dtype=np.float32)
    record: dict[str, Any] = {
        "format_version": AUDIT_FORMAT_VERSION,
        "id": audit.clip_id,
        "path": os.path.abspath(audit.spec.path),
        "true_label": audit.spec.true_label,
        "speaker": audit.spec.speaker,
        "duration_s": audit.duration_s,
        "original": "original.wav",
        "predictions": audit.predictions,
        "methods": {},
        "agreement": audit.agreement,
        "egemaps_deviation": audit.egemaps_deviation,
        "time_profile": {},
        "faithfulness_curves": {},
        "cache_key": cache,
    }
    with atomic_directory(clip_dir) as tmp:
        write_wav(tmp / "original.wav", waveform)
        for attribution in audit.attributions:
            model, method = attribution.model, attribution.method
            sub = re.sub(r"[^A-Za-z0-9._-]+", "_", model)
            out = tmp / sub
            npz = attribution.save(out / f"{re.sub(r'[^A-Za-z0-9._+-]+', '_', method)}.npz")
            sound = render_attribution_audio(attribution, waveform, out, clip_name=audit.clip_id)
            overlay = plot_overlay(
                attribution,
                features.log_mel,
                out / image_name(audit.clip_id, model, method, "overlay"),
                model=models.get(model, model),
            )
            record["methods"].setdefault(model, {})[method] = {
                "target": attribution.target,
                "target_label": attribution.target_label,
                "attribution": npz.relative_to(tmp).as_posix(),
                "overlay": overlay.relative_to(tmp).as_posix(),
                "excerpt": sound.excerpt.relative_to(tmp).as_posix() if sound.excerpt else None,
                "excerpt_regions_s": [list(r) for r in sound.regions],
                "listened": sound.listened.relative_to(tmp).as_posix(),
                "ignored": sound.ignored.relative_to(tmp).as_posix(),
                "metrics": audit.faithfulness.get((model, method), {"seconds": attribution.seconds}),
                "curves": audit.curves.get((model, method)),
                "params": json.loads(json.dumps(attribution.params, default=_json_default)),
            }
        for model in dict.fromkeys(a.model for a in audit.attributions):  # one summary figure of each kind per model
            sub = re.sub(r"[^A-Za-z0-9._-]+", "_", model)
            own = [a for a in audit.attributions if a.model == model]
            shown = models.get(model, model)
            profile_png = tmp / sub / image_name(audit.clip_id, model, "all", "time_profile")
            record["time_profile"][model] = plot_time_profiles(own, profile_png, model=shown).relative_to(tmp).as_posix()
            own_curves = {a.method: audit.curves[(model, a.method)] for a in own if (model, a.method) in audit.curves}
            if own_curves:
                curves_png = tmp / sub / image_name(audit.clip_id, model, "all", "faithfulness")
                plot_faithfulness_curves(own_curves, curves_png, model=shown)
                record["faithfulness_curves"][model] = curves_png.relative_to(tmp).as_posix()
        write_json(tmp / CLIP_INDEX, record)
    return record


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


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


# --------------------------------------------------------------------------- batch
def run_audit(
    models: Sequence[Any],
    specs: Sequence[ClipSpec],
    out_dir: str | os.PathLike,
    settings: AuditSettings = AuditSettings(),
    *,
    load_features: Callable[[str], Any] | None = None,
    deviations: Callable[[ClipSpec], list[dict[str, Any]]] | None = None,
    probing: dict[str, Any] | None = None,
    run_dir: str = "",
    title: str = "",
    progress: bool = True,
) -> dict[str, Any]:
    """Audit every clip (reusing complete clip folders with the same cache key) and write the index.

    Returns the index written to ``audit.json``: models (display names, untrained
    branches, labels), methods, clips, failures, per-model/method metric means,
    and the sanity check when ``settings.sanity_clips`` > 0.
    """
    from tqdm.auto import tqdm

    if load_features is None:
        from seraudit.ensemble.run_dir import gds_threshold
        from seraudit.preprocessing.gds import DEFAULT_GDS_THRESHOLD
        from seraudit.preprocessing.pipeline import clip_features

        threshold = gds_threshold(run_dir) if run_dir else DEFAULT_GDS_THRESHOLD
        load_features = functools.partial(clip_features, gds_threshold=threshold)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    by_name = {m.name: m for m in models}
    records: list[dict[str, Any]] = []
    failures: list[dict[str, str]] = []
    reused = 0
    bar = tqdm(specs, desc="audit", unit="clip", disable=not progress)
    # One memo for all models: their frozen towers embed each perturbed patch once for all of them.
    with sharing_backbones(models) as memo:
        for spec in bar:
            clip_id = clip_id_for(spec.path)
            clip_dir = out_dir / CLIPS_DIR / clip_id
            bar.set_postfix_str(Path(spec.path).name[:40])
            try:
                key = cache_key(spec, models, settings)
                cached = _cached_record(clip_dir, key)
                if cached is not None:
                    records.append(cached)
                    reused += 1
                    continue
                features = load_features(spec.path)
                audit = audit_clip(models, features, spec, settings, deviations=deviations)
                records.append(write_clip_audit(audit, features, clip_dir, by_name, cache=key))
            except Exception as error:  # one bad clip never stops the batch; the reason is recorded
                message = str(error) if isinstance(error, SerauditError) else f"{type(error).__name__}: {error}"
                failures.append({"clip": os.fspath(spec.path), "error": message,
                                 "detail": "" if isinstance(error, SerauditError) else traceback.format_exc(limit=3)})
            finally:
                memo.clear()  # perturbations of one clip never recur in another
    sanity = None
    if settings.sanity_clips > 0 and records:
        sanity = run_sanity(models, records[: settings.sanity_clips], settings, load_features)
    return write_audit_index(
        out_dir, models, records, failures, settings,
        sanity=sanity, probing=probing, run_dir=run_dir, title=title, reused=reused,
    )


def write_audit_index(
    out_dir: str | os.PathLike,
    models: Sequence[Any],
    records: Sequence[dict[str, Any]],
    failures: Sequence[dict[str, str]],
    settings: AuditSettings,
    *,
    sanity: dict[str, Any] | None = None,
    probing: dict[str, Any] | None = None,
    run_dir: str | os.PathLike = "",
    title: str = "",
    reused: int = 0,
) -> dict[str, Any]:
    """Write ``audit.json`` and ``metrics.json`` for clip records already on disk; returns the index.

    ``models`` need ``name``, ``display_name``, ``untrained_branches`` and ``labels``.
    """
    out_dir = Path(out_dir)
    names = [m.name for m in models]
    index = {
        "format_version": AUDIT_FORMAT_VERSION,
        "title": title or "SERAudit audit",
        "run": os.fspath(run_dir),
        "reference_model": REFERENCE_MODEL if REFERENCE_MODEL in names else (names[0] if names else ""),
        "methods": list(settings.methods),
        "probe": settings.probe,
        "settings": settings.key(),
        "models": {
            m.name: {
                "display_name": m.display_name,
                "untrained_branches": list(getattr(m, "untrained_branches", [])),
                "labels": list(m.labels),
            }
            for m in models
        },
        "clips": [{"id": r["id"], "path": r["path"], "dir": f"{CLIPS_DIR}/{r['id']}"} for r in records],
        "failures": list(failures),
        "reused": reused,
        "summary": summarise(records),
        "sanity": sanity,
        "probing": probing,
    }
    write_json(out_dir / METRICS_FILE, {"rows": metric_rows(records)})
    write_json(out_dir / AUDIT_INDEX, index)
    return index


def _cached_record(clip_dir: Path, key: str) -> dict[str, Any] | None:
    path = clip_dir / CLIP_INDEX
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if record.get("cache_key") == key else None


def run_sanity(
    models: Sequence[Any],
    records: Sequence[dict[str, Any]],
    settings: AuditSettings,
    load_features: Callable[[str], Any],
) -> dict[str, Any]:
    """Model-randomisation check on a few audited clips: mean Spearman correlation per model and method."""
    from seraudit.xai.explain import make_explainer
    from seraudit.xai.sanity import model_randomisation

    explainers = {m: make_explainer(m, **settings.explainer_params.get(m, {})) for m in settings.methods}
    tables = []
    started = time.perf_counter()
    for record in records:
        features = load_features(record["path"])
        for model in models:
            target = record["methods"].get(model.name, {})
            first = next(iter(target.values()), None)
            table = model_randomisation(
                model, explainers, features, None if first is None else int(first["target"]),
                n_blocks=settings.sanity_blocks, seed=settings.seed,
            )
            table["clip"] = record["id"]
            tables.append(table)
    if not tables:
        return {"rows": [], "stages": [], "seconds": 0.0}
    import pandas as pd

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
        "rows": [{k: _plain(v) for k, v in row.items()} for row in summary.to_dict("records")],
        "stages": [{k: _plain(v) for k, v in row.items()} for row in stages],
        "clips": [r["id"] for r in records],
        "seconds": time.perf_counter() - started,
    }


def _plain(value: Any) -> Any:
    """JSON-ready scalar: numpy numbers become Python ones, NaN becomes null."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


# --------------------------------------------------------------------------- what the run knows about a clip
def specs_from_run(run_dir: str | os.PathLike, paths: Sequence[str | os.PathLike]) -> list[ClipSpec]:
    """Clip specs for `paths`, with true label and speaker where the run's corpus lists the file."""
    from seraudit.ensemble.run_dir import read_predictions

    known: dict[str, tuple[str, str]] = {}
    try:
        table = read_predictions(run_dir)
        for path, label, speaker in zip(table["path"], table["label"], table["speaker"]):
            known[os.path.abspath(str(path))] = (str(label), str(speaker))
    except SerauditError:
        pass
    specs = []
    for path in paths:
        label, speaker = known.get(os.path.abspath(os.fspath(path)), (None, None))
        specs.append(ClipSpec(os.fspath(path), label, speaker))
    return specs


def egemaps_deviations(
    run_dir: str | os.PathLike, specs: Sequence[ClipSpec], *, top_k: int = 8, progress: bool = False
) -> dict[str, list[dict[str, Any]]]:
    """Per clip, the eGeMAPS functionals furthest from the same speaker's neutral clips (z-scores).

    The speaker's reference clips come from the run's corpus (``run.json``);
    features are read from the run's eGeMAPS cache when present (extracted in a
    worker process otherwise). Clips with no known speaker get no rows.
    """
    from seraudit.ensemble.run_dir import read_json
    from seraudit.preprocessing.corpora import read_corpus
    from seraudit.preprocessing.egemaps import ERROR_COLUMN, extract_egemaps
    from seraudit.preprocessing.egemaps_deviations import speaker_deviations

    wanted = [s for s in specs if s.speaker]
    if not wanted:
        return {}
    info = read_json(run_dir, "run.json")
    corpus, data = info.get("corpus"), info.get("data")
    table = read_corpus(corpus, data)
    speakers = {s.speaker for s in wanted}
    table = table[table["speaker"].isin(speakers)]
    paths = sorted(set(table["path"].astype(str)) | {os.path.abspath(s.path) for s in wanted})
    cache_dir = info.get("cache", {}).get("dir")
    cache = Path(cache_dir) / "egemaps-functionals" if cache_dir else None
    features = extract_egemaps(paths, progress=progress, cache=cache)
    features = features[features[ERROR_COLUMN].isna()].drop(columns=[ERROR_COLUMN])
    table = table[table["path"].astype(str).isin(features.index)]
    rows = speaker_deviations(
        features, paths=table["path"].astype(str), labels=table["label"], speakers=table["speaker"], top_k=top_k
    )
    out: dict[str, list[dict[str, Any]]] = {}
    for record in rows.to_dict("records"):
        out.setdefault(str(record["path"]), []).append({k: _plain(v) for k, v in record.items()})
    return {os.path.abspath(s.path): out.get(os.path.abspath(s.path), []) for s in wanted}
