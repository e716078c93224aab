"""The audit folder on disk: its file names and format version, and the one writer and reader of each record.

Layout (what `seraudit.reports` reads back)::

    AUDIT/audit.json                       index: models, methods, clips, failures, summary, sanity, checks, and
                                           "metrics": one section per registered metric (`audit_summary.metric_section`)
    AUDIT/failures.csv                     the clips that could not be audited (clip, error, stage)
    AUDIT/metrics.json                     one row per clip x model x method (faithfulness, seconds, "scores")
    AUDIT/clips/<clip-id>/clip.json        predictions, artefact paths, metrics, every metric's "scores" and patch
                                           times/GDS keep-mask of one clip
    AUDIT/clips/<clip-id>/original.wav     the clip as the models heard it (16 kHz)
    AUDIT/clips/<clip-id>/<model>/<method>.npz                  the attribution (`Attribution.save`)
    AUDIT/clips/<clip-id>/<model>/*__{excerpt,listened,ignored}.wav, *__overlay.png
                                           (each method's "renders" in clip.json: the gain cap, the excerpt's
                                           regions, every render's duration, gain and level beside its source's)

Artefact paths inside ``clip.json`` are relative to the clip folder, and the index
names each clip's folder, so readers never rebuild a file name. Each clip folder is
written in a temporary folder and moved into place only when complete, so an
interrupted audit never leaves half a clip.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from seraudit.core.errors import RunError
from seraudit.core.io import atomic_directory, json_default, read_json, write_failures, write_json
from seraudit.core.naming import slug

AUDIT_FORMAT_VERSION = 1
AUDIT_INDEX = "audit.json"
METRICS_FILE = "metrics.json"
CLIP_INDEX = "clip.json"
CLIPS_DIR = "clips"
ORIGINAL_AUDIO = "original.wav"
_FIX = "run `seraudit explain RUN AUDIO... --out DIR` to create the audit folder"


def clip_dir(audit_dir: str | os.PathLike, clip_id: str) -> Path:
    """The folder of one clip inside an audit folder."""
    return Path(audit_dir) / CLIPS_DIR / clip_id


def clip_entry(record: dict[str, Any]) -> dict[str, Any]:
    """How the index lists one clip record: its id, audio path, folder (relative to the audit folder) and warnings."""
    return {"id": record["id"], "path": record["path"], "dir": f"{CLIPS_DIR}/{record['id']}",
            "warnings": list(record.get("warnings", [])), "explained_by": record.get("explained_by")}


def plain(value: Any) -> Any:
    """A scalar as records store it: numpy numbers become Python ones, NaN becomes null."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


# --------------------------------------------------------------------------- writing
def patch_record(features: Any) -> dict[str, Any] | None:
    """Where each patch of the clip sits and whether GDS kept it: what the report shades on the waveform.

    None for features without patches (audio-only stand-ins); the report then cuts the saved audio itself.
    """
    selection, patches = getattr(features, "selection", None), getattr(features, "patches", None)
    if selection is None or patches is None:
        return None
    return {
        "start_s": [float(x) for x in patches.start_s],
        "end_s": [float(x) for x in patches.end_s],
        "keep": [bool(x) for x in selection.keep],
        "correlation": [plain(float(x)) for x in selection.correlation],
        "threshold": plain(float(selection.threshold)),
    }


def clip_record(audit: Any, features: Any, cache: str = "") -> dict[str, Any]:
    """The ``clip.json`` record of one clip before any artefact is written (``methods`` and figures still empty)."""
    return {
        "format_version": AUDIT_FORMAT_VERSION,
        "id": audit.clip_id,
        "path": os.path.abspath(audit.spec.path),
        "true_label": audit.spec.true_label,
        "speaker": audit.spec.speaker,
        "explained_by": getattr(audit.spec, "explained_by", None),  # which model explains it (`clip_identity`)
        "duration_s": audit.duration_s,
        "speech_fraction": plain(float(getattr(features.audio, "speech_fraction", 1.0))),
        "warnings": list(getattr(features.audio, "warnings", ())),
        "original": ORIGINAL_AUDIO,
        "predictions": audit.predictions,
        "methods": {},
        "agreement": audit.agreement,
        "egemaps_deviation": audit.egemaps_deviation,
        "time_profile": {},
        "faithfulness_curves": {},
        "cache_key": cache,
        "patches": patch_record(features),
    }


def method_entry(audit: Any, attribution: Any, files: dict[str, Any]) -> dict[str, Any]:
    """How ``clip.json`` lists one model x method: its target, artefacts (``files``), metrics, curves and params.

    ``scores`` (every registered metric's value and control) is added when the audit computed them.
    """
    key = (attribution.model, attribution.method)
    entry = {
        "target": attribution.target,
        "target_label": attribution.target_label,
        **files,
        "metrics": audit.faithfulness.get(key, {"seconds": attribution.seconds}),
        "curves": audit.curves.get(key),
        "params": json.loads(json.dumps(attribution.params, default=json_default)),
    }
    if key in getattr(audit, "scores", {}):
        entry["scores"] = {metric_id: result.as_record() for metric_id, result in audit.scores[key].items()}
    return entry


def write_method_artefacts(tmp: Path, audit: Any, attribution: Any, features: Any, shown: Any) -> dict[str, Any]:
    """Write one map's file, sounds and overlay under ``tmp``; returns their paths relative to ``tmp``."""
    from seraudit.xai.explainers.heard import heard_frames
    from seraudit.xai.render.audio import render_attribution_audio
    from seraudit.xai.render.image import image_name, plot_overlay

    model, method = attribution.model, attribution.method
    out = tmp / slug(model)
    npz = attribution.save(out / f"{slug(method)}.npz")
    waveform = np.asarray(features.audio.waveform, dtype=np.float32)
    heard = heard_frames(features) if getattr(features, "patches", None) is not None else None
    if heard is not None and heard.size != attribution.n_frames:
        heard = None  # a map on another grid (a stand-in): the attribution itself is already zero where unheard
    sound = render_attribution_audio(attribution, waveform, out, clip_name=audit.clip_id, heard=heard)
    overlay = plot_overlay(attribution, features.log_mel, out / image_name(audit.clip_id, model, method, "overlay"),
                           model=shown)
    return {
        "attribution": npz.relative_to(tmp).as_posix(),
        "overlay": overlay.relative_to(tmp).as_posix(),
        "excerpt": sound.excerpt.relative_to(tmp).as_posix() if sound.excerpt else None,
        "excerpt_regions_s": [list(r) for r in sound.regions],
        "listened": sound.listened.relative_to(tmp).as_posix(),
        "ignored": sound.ignored.relative_to(tmp).as_posix(),
        "renders": sound.record(),  # gain cap, regions, each render's duration, gain and level beside its source's
    }


def write_model_figures(tmp: Path, audit: Any, model: str, shown: Any) -> tuple[str, str | None]:
    """One model's summary figures of the clip: time profiles of every method and, when computed, their curves.

    Returns both paths relative to ``tmp`` (None for the curves when no metric drew any).
    """
    from seraudit.xai.render.image import image_name, plot_faithfulness_curves, plot_time_profiles

    sub = tmp / slug(model)
    own = [a for a in audit.attributions if a.model == model]
    profile_png = sub / image_name(audit.clip_id, model, "all", "time_profile")
    profile = plot_time_profiles(own, profile_png, model=shown).relative_to(tmp).as_posix()
    own_curves = {a.method: audit.curves[(model, a.method)] for a in own if (model, a.method) in audit.curves}
    if not own_curves:
        return profile, None
    curves_png = sub / image_name(audit.clip_id, model, "all", "faithfulness")
    plot_faithfulness_curves(own_curves, curves_png, model=shown)
    return profile, curves_png.relative_to(tmp).as_posix()


def write_clip_audit(
    audit: Any,
    features: Any,
    clip_dir: str | os.PathLike,
    models: dict[str, Any],
    *,
    cache: str = "",
) -> dict[str, Any]:
    """Render and save one clip's audit (an `audit_compute.ClipAudit`) into ``clip_dir``, replaced atomically.

    Returns its ``clip.json`` record. ``models`` maps each model name to the object
    whose display name titles the figures (a `TrainedModel`, so an untrained branch
    shows in every picture).
    """
    from seraudit.xai.render.audio import write_wav

    record = clip_record(audit, features, cache)
    with atomic_directory(Path(clip_dir)) as tmp:
        write_wav(tmp / ORIGINAL_AUDIO, np.asarray(features.audio.waveform, dtype=np.float32))
        for attribution in audit.attributions:
            files = write_method_artefacts(tmp, audit, attribution, features, models.get(attribution.model,
                                                                                         attribution.model))
            record["methods"].setdefault(attribution.model, {})[attribution.method] = method_entry(
                audit, attribution, files)
        for model in dict.fromkeys(a.model for a in audit.attributions):  # one summary figure of each kind per model
            profile, curves = write_model_figures(tmp, audit, model, models.get(model, model))
            record["time_profile"][model] = profile
            if curves is not None:
                record["faithfulness_curves"][model] = curves
        write_json(tmp / CLIP_INDEX, record)
    return record


def write_audit_index(out_dir: str | os.PathLike, index: dict[str, Any], rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Write ``metrics.json`` (one row per clip x model x method) and then ``audit.json``; returns the stamped index.

    The index goes last: a folder with an index is a finished audit.
    """
    out_dir = Path(out_dir)
    index = {"format_version": AUDIT_FORMAT_VERSION, **index}
    write_json(out_dir / METRICS_FILE, {"rows": list(rows)})
    write_failures(out_dir, index.get("failures", []))
    write_json(out_dir / AUDIT_INDEX, index)
    return index


# --------------------------------------------------------------------------- reading
def read_audit_index(audit_dir: str | os.PathLike) -> dict[str, Any]:
    """The ``audit.json`` of an audit folder; a missing, unreadable or other-version index says how to re-create it."""
    return _read_versioned(Path(audit_dir) / AUDIT_INDEX, "audit index")


def read_clip_record(audit_dir: str | os.PathLike, entry: dict[str, Any]) -> dict[str, Any]:
    """The ``clip.json`` of one clip listed in the index (``entry`` is one item of the index's ``clips``)."""
    return _read_versioned(Path(audit_dir) / entry["dir"] / CLIP_INDEX, "clip record")


def _read_versioned(path: Path, what: str) -> dict[str, Any]:
    data = read_json(path, what, _FIX, error=RunError)
    version = data.get("format_version") if isinstance(data, dict) else None
    if version != AUDIT_FORMAT_VERSION:
        raise RunError(f"{what} {path} has format version {version!r}, this version reads {AUDIT_FORMAT_VERSION}; {_FIX}")
    return data
