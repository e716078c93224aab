"""Run-level views over an audit's clips, averaged from what each clip saved (no model runs).

`class_maps` averages the saved attribution maps (``<model>/<method>.npz``) per
explained emotion, model and method on the log-mel grid; `agreement_summary`
averages the per-clip method-agreement matrices; `clip_waveform` reads a clip's
saved audio, its log-mel and the patch times and GDS keep-mask the audit saved.

Class maps and method agreement average held-out audits only (`aggregated`): a clip explained
by a model that trained on its speaker ("in-sample", e.g. every corpus clip of an audit written
before fold models were kept) is listed and marked, never averaged. `selection_summary` says
how the clips were picked and which model explained each.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from seraudit.reports.model import ClipReport

IN_SAMPLE_NOTE = ("This audit explained its corpus clips with the final model, which trained on their speakers "
                  "(in-sample): it was written before audits used each fold's model. Re-run the audit on a run "
                  "trained since to explain them held out; its summary and checks are over in-sample clips.")


def aggregated(clips: list[ClipReport]) -> list[ClipReport]:
    """The clips aggregates may average: every clip but one explained in-sample."""
    return [clip for clip in clips if not (clip.explained_by or {}).get("in_sample")]


def selection_summary(index: dict[str, Any], clips: list[ClipReport]) -> dict[str, Any]:
    """How the audited clips were picked (``selection``), the rule for which model explains each, and the count of each
    kind; `legacy` for an audit written before the rule (its index has no ``explained_by``)."""
    from seraudit.xai.audit.runner import EXPLAINED_BY_RULE

    kinds = [(clip.explained_by or {}).get("kind", "") for clip in clips]
    counts = {kind: kinds.count(kind) for kind in dict.fromkeys(kinds)}
    legacy = not index.get("explained_by")
    return {"selection": index.get("selection") or "", "rule": EXPLAINED_BY_RULE, "counts": counts,
            "aggregated": len(aggregated(clips)), "n_clips": len(clips), "legacy": legacy,
            "note": IN_SAMPLE_NOTE if legacy and counts.get("in-sample") else ""}


def _normalised(clip_map: np.ndarray) -> np.ndarray:
    """The map scaled to at most 1 in absolute value, so every clip weighs the same in a mean."""
    peak = float(np.max(np.abs(clip_map))) if clip_map.size else 0.0
    return clip_map / peak if peak > 0 else clip_map


def _on_frames(clip_map: np.ndarray, n_frames: int) -> np.ndarray:
    """The map on `n_frames` frames (linear interpolation in time; the same map when it already has them)."""
    if clip_map.shape[0] == n_frames:
        return clip_map
    old = np.linspace(0.0, 1.0, clip_map.shape[0])
    new = np.linspace(0.0, 1.0, n_frames)
    return np.stack([np.interp(new, old, clip_map[:, b]) for b in range(clip_map.shape[1])], axis=1)


def class_maps(clips: list[ClipReport], audit_dir: Path) -> dict[tuple[str, str], dict[str, dict[str, Any]]]:
    """(model, method) -> emotion explained -> {"map", "profile", "n"}: the mean of each clip's peak-normalised map.

    Clips are grouped by the class the map explains (its target); clips of another
    length are interpolated onto the most common number of frames. In-sample clips are left out (`aggregated`).
    """
    from seraudit.xai.attribution import Attribution

    clips = aggregated(clips)
    loaded: dict[tuple[str, str], dict[str, list[np.ndarray]]] = {}
    for clip in clips:
        for model, per_method in clip.methods.items():
            for method, result in per_method.items():
                if not result.attribution:
                    continue
                path = audit_dir / result.attribution
                if not path.is_file():
                    continue
                clip_map = np.asarray(Attribution.load(path).clip_map, dtype=float)
                loaded.setdefault((model, method), {}).setdefault(result.target_label, []).append(_normalised(clip_map))
    out: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for key, per_emotion in loaded.items():
        frames = [m.shape[0] for maps in per_emotion.values() for m in maps]
        n_frames = max(set(frames), key=frames.count)
        out[key] = {}
        for emotion, maps in per_emotion.items():
            mean = np.mean([_on_frames(m, n_frames) for m in maps], axis=0)
            out[key][emotion] = {"map": mean, "profile": mean.mean(axis=1), "n": len(maps)}
    return out


def agreement_summary(clips: list[ClipReport]) -> dict[str, dict[str, Any]]:
    """model -> {"methods", "matrix", "n_clips"}: the mean Spearman agreement of every pair of methods over clips
    (held-out ones: `aggregated`)."""
    clips = aggregated(clips)
    sums: dict[str, dict[str, Any]] = {}
    for clip in clips:
        for model, agree in clip.agreement.items():
            methods, matrix = agree.get("methods"), agree.get("matrix")
            if not methods or not matrix:
                continue
            values = np.asarray([[np.nan if v is None else float(v) for v in row] for row in matrix], dtype=float)
            slot = sums.setdefault(model, {"methods": list(methods), "sum": np.zeros_like(values),
                                           "count": np.zeros_like(values), "n_clips": 0})
            if slot["methods"] != list(methods):
                continue  # an audit with other methods on this clip: not averaged with the rest
            finite = np.isfinite(values)
            slot["sum"] += np.where(finite, values, 0.0)
            slot["count"] += finite
            slot["n_clips"] += 1
    return {
        model: {"methods": s["methods"], "n_clips": s["n_clips"],
                "matrix": [[(float(v) if np.isfinite(v) else None) for v in row]
                           for row in np.divide(s["sum"], s["count"], out=np.full_like(s["sum"], np.nan),
                                                where=s["count"] > 0)]}
        for model, s in sums.items()
    }


def clip_waveform(clip: ClipReport, audit_dir: Path, gds_threshold: float | None) -> dict[str, Any] | None:
    """The clip's saved audio, its log-mel and its patches (saved by the audit; recomputed from the audio for older audits)."""
    import soundfile as sf

    from seraudit.preprocessing.frontend import log_mel

    if not clip.original or not (audit_dir / clip.original).is_file():
        return None
    waveform, sample_rate = sf.read(audit_dir / clip.original, dtype="float32", always_2d=False)
    patches, recomputed = clip.patches, False
    if not patches:
        from seraudit.preprocessing.gds import DEFAULT_GDS_THRESHOLD
        from seraudit.preprocessing.pipeline import clip_features

        threshold = DEFAULT_GDS_THRESHOLD if gds_threshold is None else gds_threshold
        features = clip_features((waveform, sample_rate), gds_threshold=threshold)
        patches = {"start_s": features.patches.start_s.tolist(), "end_s": features.patches.end_s.tolist(),
                   "keep": features.selection.keep.tolist(), "correlation": features.selection.correlation.tolist(),
                   "threshold": threshold}
        recomputed = True
    return {"waveform": waveform, "sample_rate": int(sample_rate), "log_mel": log_mel(waveform), "patches": patches,
            "recomputed": recomputed}


def audit_provenance(index: dict[str, Any], audit_dir: str | Path) -> dict[str, Any]:
    """What the audit recorded about how it was made: its settings (methods, LIME samples, faithfulness steps, random
    orders and blocks, the sanity cascade's clips and blocks), its date and the software that wrote it.

    A setting the audit did not record is None (shown as "not recorded"); the sanity cascade's clips and blocks are
    read from its saved stages when the settings lack them. The date is the one recorded, else ``audit.json``'s
    file time (``date_source`` says which).
    """
    from seraudit.core.provenance import file_time

    settings = index.get("settings") or {}
    params = settings.get("explainer_params") or {}
    sanity = index.get("sanity") or {}
    stages = sanity.get("stages") or []
    deepest = max(stages, key=lambda s: s.get("stage", 0)) if stages else None
    block = settings.get("faithfulness_block")
    recorded = index.get("created")
    return {
        "settings": {
            "methods": list(settings.get("methods") or index.get("methods") or []),
            "lime_samples": (params.get("lime") or {}).get("num_samples"),
            "faithfulness_steps": settings.get("faithfulness_steps"),
            "faithfulness_random": settings.get("faithfulness_random"),
            "faithfulness_block": list(block) if block else None,
            "sanity_clips": settings.get("sanity_clips", len(sanity.get("clips") or []) if sanity else None),
            "sanity_blocks": settings.get("sanity_blocks", (deepest or {}).get("stage")),
            "sanity_deepest": (deepest or {}).get("stage_name"),
            "probe": settings.get("probe", index.get("probe")),
            "seed": settings.get("seed"),
            "target": settings.get("target"),
        },
        "selection": index.get("selection", ""),
        "n_clips": len(index.get("clips") or []),
        "date": recorded or file_time(Path(audit_dir) / "audit.json"),
        "date_source": "recorded" if recorded else "file time",
        "software": index.get("software") or None,
    }
