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

`ClipWriter` writes a clip's artefacts while the clip is still being computed: each
model's maps are handed to it as soon as they exist (`audit_compute.audit_clip`'s
``explained``), and one worker thread saves, renders and draws them while the main
thread scores the maps (TensorFlow releases the interpreter while it predicts). The
files and the record are the same as written one after the other (``workers=0``).
"""

from __future__ import annotations

import json
import os
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Callable, Sequence

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


def write_method_artefacts(tmp: Path, clip_id: str, attribution: Any, features: Any, shown: Any,
                           painter: Any = None) -> dict[str, Any]:
    """Write one map's file, sounds and overlay under ``tmp``; returns their paths relative to ``tmp``.

    ``painter``: the clip's `render.image.OverlayPainter` (its log-mel drawn once for every map), else one is made.
    """
    from seraudit.xai.explainers.heard import heard_frames
    from seraudit.xai.render.audio import render_attribution_audio
    from seraudit.xai.render.image import OverlayPainter, image_name

    model, method = attribution.model, attribution.method
    out = tmp / slug(model)
    npz = attribution.save(out / f"{slug(method)}.npz")
    waveform = np.asarray(features.audio.waveform, dtype=np.float32)
    heard = heard_frames(features) if getattr(features, "patches", None) is not None else None
    if heard is not None and heard.size != attribution.n_frames:
        heard = None  # a map on another grid (a stand-in): the attribution itself is already zero where unheard
    sound = render_attribution_audio(attribution, waveform, out, clip_name=clip_id, heard=heard)
    painter = painter if painter is not None else OverlayPainter(features.log_mel, attribution.frame_hop_s)
    overlay = painter.save(attribution, out / image_name(clip_id, model, method, "overlay"), model=shown)
    return {
        "attribution": npz.relative_to(tmp).as_posix(),
        "overlay": overlay.relative_to(tmp).as_posix(),
        "excerpt": sound.excerpt.relative_to(tmp).as_posix() if sound.excerpt else None,
        "excerpt_regions_s": [list(r) for r in sound.regions],
        "listened": sound.listened.relative_to(tmp).as_posix(),
        "ignored": sound.ignored.relative_to(tmp).as_posix(),
        "renders": sound.record(),  # gain cap, regions, each render's duration, gain and level beside its source's
    }


def write_time_profiles(tmp: Path, clip_id: str, model: str, attributions: Sequence[Any], shown: Any) -> str:
    """One model's time profiles of every method on the clip; returns the path relative to ``tmp``."""
    from seraudit.xai.render.image import image_name, plot_time_profiles

    png = tmp / slug(model) / image_name(clip_id, model, "all", "time_profile")
    return plot_time_profiles(list(attributions), png, model=shown).relative_to(tmp).as_posix()


def write_curve_figure(tmp: Path, clip_id: str, model: str, curves: dict[str, Any], shown: Any) -> str | None:
    """One model's faithfulness curves of every method (``curves``: method -> curves); None when there are none."""
    from seraudit.xai.render.image import image_name, plot_faithfulness_curves

    if not curves:
        return None
    png = tmp / slug(model) / image_name(clip_id, model, "all", "faithfulness")
    plot_faithfulness_curves(curves, png, model=shown)
    return png.relative_to(tmp).as_posix()


def model_curves(audit: Any, model: str) -> dict[str, Any]:
    """Method -> the faithfulness curves of one model's maps, for the methods whose metrics drew curves."""
    return {a.method: audit.curves[(model, a.method)] for a in audit.attributions
            if a.model == model and (model, a.method) in audit.curves}


class ClipWriter:
    """Writes one clip's folder (atomically), starting on each model's maps while the clip is still being computed.

    Use as a context manager around the clip's computation: `explained` takes one model's
    attributions as soon as they exist and queues their artefacts (map file, sounds,
    overlay, the model's time profiles); `finish` takes the finished `audit_compute.ClipAudit`,
    queues what needs the metrics (the faithfulness curves), waits for every file and
    writes ``clip.json``. The folder replaces ``clip_dir`` when the block ends without an
    error, and is discarded otherwise.

    ``workers``: threads drawing and writing (1: beside the computation; 0: in the caller's
    thread, one after the other). Matplotlib draws in one thread at a time either way.
    ``models`` maps each model name to the object whose display name titles the figures.
    """

    def __init__(self, clip_dir: str | os.PathLike, features: Any, models: dict[str, Any], clip_id: str, *,
                 cache: str = "", workers: int = 1):
        self.clip_dir = Path(clip_dir)
        self.features = features
        self.models = models
        self.clip_id = clip_id
        self.cache = cache
        self.workers = int(workers)
        self.tmp: Path | None = None
        self._stack: ExitStack | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._original: Future | None = None
        self._artefacts: dict[tuple[str, str], Future] = {}
        self._profiles: dict[str, tuple[list[tuple[str, str]], Future]] = {}  # model -> (its maps drawn, figure)
        self._painter: Future | None = None  # the clip's OverlayPainter: its log-mel drawn once for every overlay

    def __enter__(self) -> "ClipWriter":
        self._stack = ExitStack()
        self.tmp = self._stack.enter_context(atomic_directory(self.clip_dir))
        if self.workers > 0:
            self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="clip-writer")
        self._original = self._submit(self._write_original)
        self._painter = self._submit(self._overlay_painter)  # drawn while the clip's maps are still being computed
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if self._pool is not None:
                # Pending work is dropped on an error; running work ends before the folder is removed.
                self._pool.shutdown(wait=True, cancel_futures=exc_type is not None)
        finally:
            assert self._stack is not None
            self._stack.__exit__(exc_type, exc, tb)
        return False

    def _submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        if self._pool is not None:
            return self._pool.submit(fn, *args)
        future: Future = Future()
        try:
            future.set_result(fn(*args))
        except BaseException as error:  # noqa: BLE001 -- raised again by `result()`, as from a thread
            future.set_exception(error)
        return future

    def _shown(self, model: str) -> Any:
        return self.models.get(model, model)

    def _write_original(self) -> None:
        from seraudit.xai.render.audio import write_wav

        write_wav(self.tmp / ORIGINAL_AUDIO, np.asarray(self.features.audio.waveform, dtype=np.float32))

    def _overlay_painter(self) -> Any:
        from seraudit.core.constants import STFT_HOP_SECONDS
        from seraudit.xai.render.image import OverlayPainter

        return OverlayPainter(self.features.log_mel, STFT_HOP_SECONDS)

    def _write_artefacts(self, attribution: Any) -> dict[str, Any]:
        return write_method_artefacts(self.tmp, self.clip_id, attribution, self.features,
                                      self._shown(attribution.model), self._painter.result())

    def explained(self, attributions: Sequence[Any]) -> None:
        """Queue the artefacts of one or more models' maps, and each model's time profiles (give every method of a
        model at once: a model given again with more maps has its profiles drawn again)."""
        by_model: dict[str, list[Any]] = {}
        for attribution in attributions:
            key = (attribution.model, attribution.method)
            if key not in self._artefacts:
                self._artefacts[key] = self._submit(self._write_artefacts, attribution)
            by_model.setdefault(attribution.model, []).append(attribution)
        for model, own in by_model.items():
            drawn = [(a.model, a.method) for a in own]
            if model not in self._profiles or self._profiles[model][0] != drawn:
                self._profiles[model] = (drawn, self._submit(write_time_profiles, self.tmp, self.clip_id, model, own,
                                                             self._shown(model)))

    def finish(self, audit: Any) -> dict[str, Any]:
        """Wait for every artefact of ``audit`` (queueing any not yet queued), then write ``clip.json``; returns it."""
        models = list(dict.fromkeys(a.model for a in audit.attributions))  # one summary figure of each kind per model
        own = {m: [a for a in audit.attributions if a.model == m] for m in models}
        self.explained([a for m in models for a in own[m]
                        if m not in self._profiles or self._profiles[m][0] != [(x.model, x.method) for x in own[m]]])
        curves = {m: self._submit(write_curve_figure, self.tmp, self.clip_id, m, model_curves(audit, m),
                                  self._shown(m)) for m in models}
        record = clip_record(audit, self.features, self.cache)
        self._original.result()
        for attribution in audit.attributions:
            files = self._artefacts[(attribution.model, attribution.method)].result()
            record["methods"].setdefault(attribution.model, {})[attribution.method] = method_entry(
                audit, attribution, files)
        for model in models:
            record["time_profile"][model] = self._profiles[model][1].result()
            figure = curves[model].result()
            if figure is not None:
                record["faithfulness_curves"][model] = figure
        write_json(self.tmp / CLIP_INDEX, record)
        return record


def write_clip_audit(
    audit: Any,
    features: Any,
    clip_dir: str | os.PathLike,
    models: dict[str, Any],
    *,
    cache: str = "",
    workers: int = 1,
) -> dict[str, Any]:
    """Render and save one clip's audit (an `audit_compute.ClipAudit`) into ``clip_dir``, replaced atomically.

    Returns its ``clip.json`` record. ``models`` maps each model name to the object
    whose display name titles the figures (a `TrainedModel`, so an untrained branch
    shows in every picture). ``workers``: as `ClipWriter`'s.
    """
    with ClipWriter(clip_dir, features, models, audit.clip_id, cache=cache, workers=workers) as writer:
        writer.explained(audit.attributions)
        return writer.finish(audit)


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
