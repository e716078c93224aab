"""Where the model's own pooling listened: each patch's pooling weight, drawn on the clip grid like a method's map.

A model trained with attentive pooling (``seraudit train --pooling attentive``)
weighs the GDS-kept patches of a clip by a learned attention
(`ensemble.model.pooling_layers`) and saves those weights with every prediction
(``ClipPrediction.attention``). Mean and statistics pooling weigh every kept
patch equally, and the patches GDS dropped weigh nothing. This method reads the
weights; it needs no gradient or perturbation. Each frame gets the summed weight of the
patches covering it (all bands alike), scaled to a clip maximum of 1. The
ensemble's map is the mean of its heads' weights, and each head's own map is kept
as a branch map.

It is the model's own account of where it listened, not a post-hoc explanation.
Placed beside the attribution methods, it gets the same renders, time profile
and faithfulness tests, so the audit shows whether that account deserves trust.
"""

from __future__ import annotations

import time

import numpy as np

from seraudit.core.constants import PATCH_FRAMES
from seraudit.xai.attribution import Attribution, Explainer
from seraudit.xai.explainers.perturbation import clip_to_patches, patch_start_frames, resolve_target


class PoolingAttention(Explainer):
    """Each patch's weight in the model's clip pooling, spread over its frames (see the module docstring)."""

    method = "attention"

    def explain(self, model, clip, target: int | str | None = None) -> Attribution:
        started = time.perf_counter()
        target = resolve_target(model, clip, target)
        prediction = model.predict_clip(clip)
        weights = prediction.attention
        source = "learned attention (attentive pooling)"
        if not weights:  # mean or statistics pooling: every kept patch counts the same
            kept = prediction.kept.astype(np.float64)
            weights = {"pooling": kept / kept.sum()}
            source = f"equal weights over the kept patches ({getattr(model, 'pooling', 'mean')} pooling)"
        head_maps = {head: self._frame_map(w, clip) for head, w in weights.items()}
        clip_map = _normalised(np.mean(list(head_maps.values()), axis=0))
        details = {
            "weights": source,
            "patch_weights": {head: [float(x) for x in w] for head, w in weights.items()},
            "normalisation": "clip maximum = 1",
        }
        branch_maps = {h: _normalised(m) for h, m in head_maps.items()} if len(head_maps) > 1 else {}
        return self._attribution(model, clip, target, clip_map, clip_to_patches(clip_map, clip), details, started,
                                 branch_maps=branch_maps)

    @staticmethod
    def _frame_map(patch_weights: np.ndarray, clip) -> np.ndarray:
        """``[n_frames, 64]``: every frame holds the summed weight of the patches that cover it."""
        n_frames = clip.log_mel.shape[0]
        per_frame = np.zeros(n_frames)
        for start, w in zip(patch_start_frames(clip), patch_weights):
            per_frame[max(start, 0) : max(min(start + PATCH_FRAMES, n_frames), 0)] += w
        return np.repeat(per_frame[:, None], clip.log_mel.shape[1], axis=1)


def _normalised(x: np.ndarray) -> np.ndarray:
    peak = float(np.max(x)) if np.size(x) else 0.0
    return (x / peak if peak > 0 else x).astype(np.float32)
