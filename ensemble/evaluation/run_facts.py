"""Facts a run's report shows that only training knows: the corpus as trained on, and what GDS changes.

`corpus_summary` describes the prepared corpus (clips, speakers, emotions, clip
lengths, patches kept and dropped by Gaussian data selection); `gds_ablation`
cross-validates the neural models a second time with every patch pooled, on the
same folds, cached layer features and the layers each fold chose, so the report can
say what GDS buys, and only GDS differs.
Both land in ``results.json``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from seraudit.ensemble.data.corpus_data import CorpusData


def corpus_summary(data: CorpusData) -> dict[str, Any]:
    """Clips, speakers, clips per emotion, clip lengths (as cut into patches) and GDS-kept/dropped patches."""
    clip_index = np.asarray(data.patches.clip_index)
    n_clips = len(data.table)
    ends = np.zeros(n_clips)
    np.maximum.at(ends, clip_index, np.asarray(data.patches.end_s, dtype=float))
    counts = {label: int(np.sum(data.y == i)) for i, label in enumerate(data.labels)}
    kept = int(np.sum(data.keep))
    return {
        "n_clips": int(n_clips),
        "n_speakers": int(len(set(map(str, data.speakers)))),
        "clips_per_emotion": counts,
        "duration_s": {"min": float(ends.min()), "median": float(np.median(ends)), "max": float(ends.max()),
                       "total": float(ends.sum())} if n_clips else {},
        "patches": {"total": int(len(clip_index)), "kept": kept, "dropped": int(len(clip_index) - kept)},
    }


def gds_ablation(data: CorpusData, settings: Any, sources: dict[str, Any], info: dict[str, dict],
                 with_gds: dict[str, Any], histories: list[dict] | None = None) -> dict[str, Any] | None:
    """UAR of each neural model with GDS (``with_gds``: the run's own results) and with every patch pooled.

    ``info`` is the run's `experiment.model_info` (fusions and untrained branches). ``histories`` (the GDS
    cross-validation's per-fold summaries) give the layers each fold's heads read: the ablated folds read the
    same ones (their C is chosen again on the validation speakers), so the layer search is not run twice and
    the two results differ by GDS alone.

    None when the run has no GDS to ablate (GDS off, or fine-tuned backbones whose
    patches are not cached as features) or no neural model.
    """
    from seraudit.ensemble.evaluation.scoring import evaluate_predictions
    from seraudit.ensemble.training.cross_validation import cross_validate

    neural = [m for m in settings.models if m != "egemaps"]
    if not settings.gds.enabled or settings.fine_tune or not neural or bool(np.all(data.keep)):
        return None
    all_patches = dataclasses.replace(data, keep=np.ones_like(data.keep))
    ablated_settings = dataclasses.replace(settings, models=neural, progress=False)
    cv = cross_validate(all_patches, ablated_settings, sources, fold_layers=chosen_layers(histories or []))
    without = evaluate_predictions(cv.predictions, data.labels, {m: info[m] for m in neural if m in info},
                                   n_boot=10, seed=settings.seed)
    rows = []
    for name in neural:
        a, b = with_gds["models"].get(name, {}).get("uar", {}), without["models"].get(name, {}).get("uar", {})
        if a and b:
            rows.append({"model": name, "display_name": with_gds["models"][name]["display_name"],
                         "uar_with_gds": a["mean"], "uar_with_gds_std": a["std"],
                         "uar_without_gds": b["mean"], "uar_without_gds_std": b["std"],
                         "difference": a["mean"] - b["mean"]})
    return {"threshold": settings.gds.resolved().threshold, "kept_fraction": float(np.mean(data.keep)),
            "rows": rows, "layers": "each fold's layers, as chosen with GDS" if histories else "searched again",
            "seconds": cv.seconds}


def chosen_layers(histories: list[dict]) -> dict[int, dict[str, tuple[str, ...]]]:
    """Fold index -> backbone -> the layers its heads read, from cross-validation histories (weighted mixes left out:
    a fixed layer set is read unweighted)."""
    from seraudit.ensemble.model.spec import BACKBONES

    out: dict[int, dict[str, tuple[str, ...]]] = {}
    for history in histories:
        fixed = {b: tuple(history[b]["taps"]) for b in BACKBONES
                 if isinstance(history.get(b), dict) and history[b].get("taps") and not history[b].get("weighted")}
        if fixed:
            out[int(history["fold"])] = fixed
    return out
