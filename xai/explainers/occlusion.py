"""Occlusion sensitivity: slide a hiding window over the clip's log-mel and record how much the target probability drops.

A window of ``window_frames`` x ``window_bands`` moves over the whole utterance
with strides ``stride_frames`` x ``stride_bands`` (the last row and column of
windows are aligned with the clip's end and the top band, so every cell is
covered). Cells under the window are set to ``fill``: by default the log floor
log(0.001), i.e. the window mutes that part of the spectrogram; ``"mean"`` uses
the clip's mean log-mel. Each occluded clip is scored at clip level like the
model's own prediction (same patches, pooled over the GDS-kept patches of the
original clip). A cell's attribution is the drop of the target clip probability
(original minus occluded), averaged over all windows that cover the cell;
negative values mark cells whose removal makes the target more likely.

Only patches that overlap a window change, so only those are predicted — all of
them, for all windows, in one batched prediction; the others reuse the original
patch probabilities.
"""

from __future__ import annotations

import time

import numpy as np

from seraudit.core.constants import NUM_MEL_BANDS, PATCH_FRAMES
from seraudit.xai.attribution import Attribution, Explainer
from seraudit.xai.explainers.perturbation import (PATCH_BUDGET, ClipScorer, clip_to_patches, patch_start_frames, resolve_fill,
                                       resolve_target)


def window_starts(length: int, window: int, stride: int) -> np.ndarray:
    """Start positions of a window sliding over `length` cells, the last one flush with the end."""
    if window < 1 or stride < 1:
        raise ValueError(f"window and stride must be at least 1, got window={window}, stride={stride}")
    window = min(window, length)
    starts = np.arange(0, length - window + 1, stride)
    if starts[-1] != length - window:
        starts = np.append(starts, length - window)
    return starts


class OcclusionExplainer(Explainer):
    """Occlusion sensitivity (Zeiler & Fergus 2014) over the clip's log-mel grid.

    Parameters
    ----------
    window_frames, window_bands : int
        Size of the hiding window in frames (10 ms) and mel bands.
    stride_frames, stride_bands : int
        Step between windows.
    fill : "floor", "mean" or float
        Value of hidden cells (see module docstring).
    batch_size : int
        Patches per forward pass inside the single batched prediction.
    """

    method = "occlusion"

    def __init__(
        self,
        window_frames: int = 16,
        window_bands: int = 16,
        stride_frames: int = 8,
        stride_bands: int = 8,
        fill: float | str = "floor",
        batch_size: int = 256,
    ):
        self.window_frames = int(window_frames)
        self.window_bands = int(window_bands)
        self.stride_frames = int(stride_frames)
        self.stride_bands = int(stride_bands)
        self.fill = fill
        self.batch_size = int(batch_size)

    def explain(self, model, clip, target: int | str | None = None) -> Attribution:
        """Mean drop of the target clip probability when each cell is hidden, on the clip grid."""
        t_start = time.perf_counter()
        target = resolve_target(model, clip, target)
        n_frames = clip.log_mel.shape[0]
        fill = resolve_fill(self.fill, clip)
        scorer = ClipScorer(model, clip, batch_size=self.batch_size)

        wt, wf = min(self.window_frames, n_frames), min(self.window_bands, NUM_MEL_BANDS)
        t0s = window_starts(n_frames, wt, self.stride_frames)  # [Jt]
        f0s = window_starts(NUM_MEL_BANDS, wf, self.stride_bands)  # [Jf]
        time_cover = (np.arange(n_frames)[None, :] >= t0s[:, None]) & (np.arange(n_frames)[None, :] < t0s[:, None] + wt)
        band_cover = (np.arange(NUM_MEL_BANDS)[None, :] >= f0s[:, None]) & (
            np.arange(NUM_MEL_BANDS)[None, :] < f0s[:, None] + wf
        )  # [Jf, 64]

        if scorer.pools_in_graph:
            clip_probs, original = self._whole_clip_windows(scorer, clip, t0s, f0s, wt, wf, fill)
        else:
            clip_probs, original = self._changed_patch_windows(scorer, clip, t0s, f0s, wt, band_cover, fill)
        drop = (original[target] - clip_probs[:, target]).reshape(len(t0s), len(f0s))

        # Average over the windows covering each cell: separable covers -> two matrix products.
        tc, bc = time_cover.astype(np.float64), band_cover.astype(np.float64)
        total = tc.T @ drop @ bc
        count = tc.T @ np.ones_like(drop) @ bc
        clip_map = (total / np.maximum(count, 1.0)).astype(np.float32)
        details = {
            "fill_value": fill,
            "n_windows": int(drop.size),
            "score": "drop of clip probability",
            "original_probability": float(original[target]),
            "patch_predictions": int(scorer.patches_predicted),
        }
        return self._attribution(model, clip, target, clip_map, clip_to_patches(clip_map, clip), details, t_start)

    @staticmethod
    def _changed_patch_windows(scorer, clip, t0s, f0s, wt, band_cover, fill):
        """Clip probabilities ``[Jt*Jf, C]`` with each window hidden, and the original's, re-predicting only the
        patches a window changes (a patch-wise model's clip pools its patches, so the others keep their outputs)."""
        patches = scorer.patches  # [N, 96, 64]
        n_patches = patches.shape[0]
        n_frames = clip.log_mel.shape[0]
        # Which patch rows each time position hides: [Jt, N, 96]; the padding rows past the clip never are.
        rows = patch_start_frames(clip)[:, None] + np.arange(PATCH_FRAMES)[None, :]  # [N, 96]
        inside = (rows >= 0) & (rows < n_frames)
        row_hidden = (rows[None] >= t0s[:, None, None]) & (rows[None] < t0s[:, None, None] + wt) & inside[None]
        jt, ip = np.nonzero(row_hidden.any(axis=2))  # (time position, patch) pairs that change
        counted = scorer.keep[ip]  # patches GDS dropped cannot change the clip probability
        jt, ip = jt[counted], ip[counted]
        # Every affected (time position, patch) pair with every band position: [P, Jf] -> flattened, built and
        # predicted PATCH_BUDGET patches at a time so a long clip's memory stays bounded.
        base_patch = scorer.patch_probabilities(patches)  # [N, C]
        pairs = max(1, PATCH_BUDGET // len(f0s))
        parts = []
        for i in range(0, len(jt), pairs):
            j, p = jt[i : i + pairs], ip[i : i + pairs]
            mask = row_hidden[j, p][:, None, :, None] & band_cover[None, :, None, :]  # [p, Jf, 96, 64]
            occluded = np.where(mask, np.float32(fill), patches[p][:, None])
            parts.append(scorer.patch_probabilities(occluded.reshape(-1, *occluded.shape[2:])))
        changed = np.concatenate(parts) if parts else np.zeros((0, base_patch.shape[1]), base_patch.dtype)
        changed = changed.reshape(len(jt), len(f0s), -1)
        per_window = np.broadcast_to(base_patch, (len(t0s), len(f0s), n_patches, base_patch.shape[1])).copy()
        per_window[jt, :, ip, :] = changed
        per_window = per_window.reshape(-1, n_patches, base_patch.shape[1])[:, scorer.keep]
        clip_probs = scorer.pool(per_window)  # [Jt*Jf, C]
        original = scorer.pool(base_patch[scorer.keep][None])[0]
        return clip_probs, original

    @staticmethod
    def _whole_clip_windows(scorer, clip, t0s, f0s, wt, wf, fill, windows_per_call: int = 64):
        """The same for a model that pools in its graph: every window hidden is one whole perturbed clip."""
        windows = [(t, f) for t in t0s for f in f0s]
        parts = []
        for i in range(0, len(windows), windows_per_call):
            chunk = windows[i : i + windows_per_call]
            batch = np.repeat(np.asarray(clip.log_mel, np.float32)[None], len(chunk), axis=0)
            for k, (t, f) in enumerate(chunk):
                batch[k, t : t + wt, f : f + wf] = fill
            parts.append(scorer(batch))
        return np.concatenate(parts), scorer.original()
