"""The listening bench of a clip page: what the browser needs to play the top *k* % of what each method marked.

For every clip, `bench_files` writes one small record (``bench/<clip>.json`` among the report's
assets) with the clip's duration and sample rate, its log-mel (8-bit, for the picture the
playback cursor moves over), the frames the models heard, and for each model x method the
**time profile** of its saved map: the positive attribution of each 10 ms frame summed over
the mel bands (the ranking the time excerpts use, `xai.render.audio`), on heard frames only.
The page's script (``templates/bench.js``) ranks those frames, keeps the top *k* % of them,
from the single strongest frame (*k* = 0) to every heard frame (*k* = 100), and plays the
original clip through a gain envelope that keeps them (10 ms linear fades), or removes them.

A page opened from ``file://`` may not fetch files, so the bench gets its record and the clip's
audio without fetching: in a folder report a script asset (``bench/<clip>.js``, loaded by a
``<script>`` element) hands over the record and the saved wav as base64; a self-contained report
inlines the record (a ``<script type="application/json">``) and gives the wav as its ``data:``
URI. The plain record stays among the assets for people (``bench/<clip>.json``). Nothing is
loaded from the network.
"""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import markupsafe
from jinja2.utils import htmlsafe_json_dumps

from seraudit.core.constants import NUM_MEL_BANDS, SAMPLE_RATE, STFT_HOP_SECONDS
from seraudit.core.naming import slug
from seraudit.reports.model import ClipReport, Report

#: Where the bench's files go among the report's assets.
BENCH_DIR = "bench"
#: The page's script (plain JavaScript, Web Audio, no library).
SCRIPT = Path(__file__).with_name("templates") / "bench.js"
#: Length of the linear fade at each edge of a kept region (seconds); kept + removed is the original.
FADE_S = 0.010
#: An original whose RMS is below this (dBFS) gets a note and may be played normalised.
QUIET_DBFS = -40.0
#: Normalised playback: the level it aims at (dBFS RMS) and the most gain it may add (dB); never past full scale.
NORMALISE_TARGET_DBFS = -20.0
NORMALISE_MAX_GAIN_DB = 30.0
#: Where the slider starts: the share of frames the time excerpts keep (`xai.render.audio.ExcerptOptions`).
START_K = 30
#: Resolution of the shipped profiles: each frame's value as an integer share of the profile's peak.
PROFILE_STEPS = 10_000
#: Largest range of the log-mel picture below its peak (dB); cells below it, or below the clip's 2nd percentile, are black.
MEL_RANGE_DB = 80.0


def heard_runs(clip: ClipReport, n_frames: int) -> list[list[int]]:
    """The frames the models heard as ``[start, end)`` runs, by the audit's own rule (`xai.explainers.heard`):
    frames a GDS-kept patch covers, every frame when the clip saved no patches."""
    from seraudit.xai.explainers.heard import heard_frames

    patches = clip.patches or {}
    if not patches.get("start_s"):
        heard = np.ones(n_frames, bool)
    else:
        start_s = np.asarray(patches["start_s"], dtype=np.float64)
        features = SimpleNamespace(
            log_mel=np.empty((n_frames, 0)),
            patches=SimpleNamespace(start_s=start_s, data=np.empty((start_s.size, 0))),
            selection=SimpleNamespace(keep=np.asarray(patches.get("keep", [True] * start_s.size), bool)),
        )
        heard = heard_frames(features)
    edges = np.diff(np.concatenate([[0], heard.astype(np.int8), [0]]))
    return [[int(a), int(b)] for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1))]


def time_profile(clip_map: np.ndarray) -> np.ndarray:
    """Each frame's evidence for the target: the map's positive part summed over the mel bands."""
    return np.clip(np.nan_to_num(np.asarray(clip_map, dtype=np.float64)), 0.0, None).sum(axis=1)


def _mel_picture(waveform: np.ndarray) -> dict[str, Any]:
    """The clip's log-mel as 8-bit cells, frame by frame (64 bands each, lowest first), base64."""
    from seraudit.preprocessing.frontend import log_mel

    mel = np.asarray(log_mel(waveform), dtype=np.float64)
    db = mel * (20.0 / np.log(10.0))  # natural log of mel magnitude -> dB
    top = float(db.max()) if db.size else 0.0
    low = max(float(np.percentile(db, 2)) if db.size else top, top - MEL_RANGE_DB)
    span = max(top - low, 1e-6)
    data = np.rint(np.clip((db - low) / span, 0.0, 1.0) * 255).astype(np.uint8)
    return {"frames": int(data.shape[0]), "bands": int(data.shape[1]) if data.ndim == 2 else NUM_MEL_BANDS,
            "range_db": round(span, 1), "data": base64.b64encode(data.tobytes()).decode("ascii")}


def _level_db(waveform: np.ndarray) -> float | None:
    value = float(np.sqrt(np.mean(np.square(waveform, dtype=np.float64)))) if waveform.size else 0.0
    return round(20 * np.log10(value), 2) if value > 0 else None


def bench_record(clip: ClipReport, audit_dir: Path, titles: dict[str, str]) -> dict[str, Any] | None:
    """The bench record of one clip (module docstring); None when the audit saved no audio or no map for it."""
    import soundfile as sf

    from seraudit.xai.attribution import Attribution

    if not clip.original or not (audit_dir / clip.original).is_file():
        return None
    waveform, sample_rate = sf.read(audit_dir / clip.original, dtype="float32", always_2d=False)
    waveform = waveform if waveform.ndim == 1 else waveform.mean(axis=1)
    rows: list[dict[str, Any]] = []
    runs: list[list[int]] | None = None
    n_frames = hop = None
    for model, per_method in clip.methods.items():
        for method, result in per_method.items():
            if not result.attribution or not (audit_dir / result.attribution).is_file():
                continue
            attribution = Attribution.load(audit_dir / result.attribution)
            if n_frames is None:
                n_frames, hop = attribution.n_frames, attribution.frame_hop_s
                runs = heard_runs(clip, n_frames)
            if attribution.n_frames != n_frames:
                continue  # a map on another grid: no shared frames to compare on this bench
            heard = np.concatenate([np.arange(a, b) for a, b in runs]) if runs else np.zeros(0, int)
            profile = time_profile(attribution.clip_map)[heard]
            peak = float(profile.max()) if profile.size else 0.0
            values = np.rint(profile / peak * PROFILE_STEPS).astype(int) if peak > 0 else np.zeros(profile.size, int)
            rows.append({"model": model, "title": titles.get(model, model), "method": method,
                         "target": result.target_label, "peak": round(peak, 6),
                         "positive_frames": int(np.count_nonzero(values)), "profile": values.tolist()})
    if not rows:
        return None
    return {
        "clip": clip.clip_id,
        "duration_s": round(waveform.size / sample_rate, 6),
        "sample_rate": int(sample_rate),
        "n_samples": int(waveform.size),
        "frame_hop_s": float(hop or STFT_HOP_SECONDS),
        "n_frames": int(n_frames),
        "heard": runs,
        "profile_steps": PROFILE_STEPS,
        "profile_rule": "positive attribution of each 10 ms frame summed over the mel bands, heard frames only",
        "fade_s": FADE_S,
        "start_k": START_K,
        "original_rms_dbfs": _level_db(waveform),
        "quiet_dbfs": QUIET_DBFS,
        "normalise": {"target_dbfs": NORMALISE_TARGET_DBFS, "max_gain_db": NORMALISE_MAX_GAIN_DB},
        "log_mel": _mel_picture(waveform) if sample_rate == SAMPLE_RATE else None,
        "rows": rows,
    }


def bench_files(report: Report, plots_dir: Path) -> dict[str, dict[str, Any]]:
    """Write each clip's bench record (``bench/<clip>.json``) and audio script (``bench/<clip>.js``) into the report's
    drawn files, and the page script once (``bench/bench.js``); returns clip id -> {"record", "json", "script", "code"}
    (``report:`` asset names)."""
    out: dict[str, dict[str, Any]] = {}
    titles = {name: info.title for name, info in report.models.items()}
    folder = plots_dir / BENCH_DIR
    for clip in report.clips:
        record = bench_record(clip, report.audit_dir, titles)
        if record is None:
            continue
        folder.mkdir(parents=True, exist_ok=True)
        name = slug(clip.clip_id)
        (folder / f"{name}.json").write_text(json.dumps(record, separators=(",", ":")), encoding="utf-8")
        wav = base64.b64encode((report.audit_dir / clip.original).read_bytes()).decode("ascii")
        (folder / f"{name}.js").write_text(f"window.serauditBench.load({json.dumps(clip.clip_id)}, "
                                           f"{json.dumps(record, separators=(',', ':'))}, \"{wav}\");\n", encoding="utf-8")
        out[clip.clip_id] = {"record": record, "json": f"report:{BENCH_DIR}/{name}.json",
                             "script": f"report:{BENCH_DIR}/{name}.js", "code": f"report:{BENCH_DIR}/{SCRIPT.name}"}
    if out:
        shutil.copyfile(SCRIPT, folder / SCRIPT.name)
    return out


def bench(page: Any) -> dict[str, Any] | None:
    """The clip page's bench section: its record (``inline``: as HTML-safe JSON), its asset names and the page script;
    None when the clip has none."""
    entry = (page.figures.get("bench") or {}).get(page.subject.clip_id)
    if entry is None:
        return None
    return {**entry, "inline": htmlsafe_json_dumps(entry["record"], separators=(",", ":")),
            "js": markupsafe.Markup(SCRIPT.read_text(encoding="utf-8"))}
