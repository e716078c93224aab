"""Between a clip's log-mel grid and its model patches: cutting maps into patches, and scoring perturbed clips.

Perturbation methods (LIME, occlusion) and faithfulness metrics all ask the
same question — "what does the model say about this clip once these cells are
changed?" — and must answer it exactly as the model's own clip prediction does:
re-cut the clip into the same patches, predict all of them, and pool over the
patches that Gaussian data selection (GDS) kept on the *original* clip, by the
rule of `ensemble.model.clip_pooling` (the keep mask is not recomputed, so a perturbation
changes the evidence, not which patches count). ``ClipScorer`` does this for
many perturbed clips at once, in large batched predictions (one prediction per
perturbed clip for a model that pools in its graph).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seraudit.core.constants import PATCH_FRAMES, STFT_HOP_SECONDS
from seraudit.ensemble.model.clip_pooling import clip_keep, kept_mask, pool_by_clip
from seraudit.preprocessing.frontend import LOG_FLOOR  # the default "hidden" value: hiding a cell makes it silence


def patch_start_frames(clip: Any) -> np.ndarray:
    """First log-mel frame of each patch of `clip` ``[N]``."""
    start_frame = getattr(clip.patches, "start_frame", None)
    if start_frame is not None:
        return np.asarray(start_frame, dtype=np.int64)
    return np.rint(np.asarray(clip.patches.start_s, dtype=np.float64) / STFT_HOP_SECONDS).astype(np.int64)


def _frame_index(clip: Any) -> tuple[np.ndarray, np.ndarray]:
    """Clip frame of every patch row ``[N, 96]`` (clipped into range) and whether it lies inside the clip."""
    n_frames = clip.log_mel.shape[0]
    idx = patch_start_frames(clip)[:, None] + np.arange(PATCH_FRAMES)[None, :]
    inside = (idx >= 0) & (idx < n_frames)
    return np.clip(idx, 0, n_frames - 1), inside


def clip_to_patches(clip_grid: np.ndarray, clip: Any, outside: float = 0.0) -> np.ndarray:
    """Cut maps on the clip grid ``[..., n_frames, 64]`` into the clip's patches ``[..., N, 96, 64]``.

    Patch rows past the end of the clip (padding) get `outside`.
    """
    clip_grid = np.asarray(clip_grid)
    idx, inside = _frame_index(clip)
    cut = clip_grid[..., idx, :]  # [..., N, 96, 64]
    return np.where(inside[..., None], cut, np.asarray(outside, dtype=cut.dtype))


def merge_to_clip(patch_maps: np.ndarray, clip: Any, only: np.ndarray | None = None) -> np.ndarray:
    """Merge per-patch maps ``[N, 96, 64]`` onto the clip grid ``[n_frames, 64]`` like the preprocessing does.

    With ``only`` (``[N]`` bool), each frame is the mean over the patches of ``only`` that cover it, and a
    frame none of them covers is 0 (Grad-CAM merges the GDS-kept patches only: the others never reach the clip).
    """
    from seraudit.preprocessing.segments import merge_patch_maps

    if only is not None:
        only = np.asarray(only, bool)
        idx, inside = _frame_index(clip)
        n_frames = clip.log_mel.shape[0]
        rows = (inside & only[:, None]).ravel()
        values = np.asarray(patch_maps, dtype=np.float64).reshape(-1, np.shape(patch_maps)[-1])
        sums = np.zeros((n_frames, values.shape[1]))
        np.add.at(sums, idx.ravel()[rows], values[rows])
        counts = np.bincount(idx.ravel()[rows], minlength=n_frames)[:, None]
        return (sums / np.maximum(counts, 1)).astype(np.float32)
    return np.asarray(
        merge_patch_maps(np.asarray(patch_maps, dtype=np.float32), clip.patches.hop_frames, clip.log_mel.shape[0]),
        dtype=np.float32,
    )


def resolve_fill(fill: float | str, clip: Any) -> float:
    """The value that hides a cell: ``"floor"`` (silence, log 0.001), ``"mean"`` (the clip's mean log-mel) or a number."""
    if isinstance(fill, str):
        if fill == "floor":
            return LOG_FLOOR
        if fill == "mean":
            return float(np.mean(clip.log_mel))
        raise ValueError(f"fill must be 'floor', 'mean' or a number, got {fill!r}")
    return float(fill)


def resolve_target(model: Any, clip: Any, target: int | str | None) -> int:
    """Class index to explain: the given index or label, else the model's clip-level prediction."""
    if target is None:
        return int(np.argmax(model.predict_clip(clip).probabilities))
    if isinstance(target, str):
        if target not in model.labels:
            raise ValueError(f"target label {target!r} is not one of {model.name}'s labels {list(model.labels)}")
        return list(model.labels).index(target)
    target = int(target)
    if not 0 <= target < len(model.labels):
        raise ValueError(f"target {target} is out of range for {model.name} ({len(model.labels)} classes)")
    return target


PATCH_BUDGET = 4096  # patches cut and predicted at once (4096 x 96 x 64 float32 = 100 MB): bounds memory on long clips


class ClipScorer:
    """Clip-level class probabilities of perturbed versions of one clip, for one model.

    Parameters
    ----------
    model : TrainedModel
    clip : ClipFeatures
        The clip whose patches, patch times and keep mask define the re-patching.
    batch_size : int
        Patches per forward pass.
    """

    def __init__(self, model: Any, clip: Any, batch_size: int = 256):
        self.model = model
        self.clip = clip
        self.batch_size = int(batch_size)
        self.patches = np.asarray(clip.patches.data, dtype=np.float32)
        self.n_patches = self.patches.shape[0]
        self._idx, self._inside = _frame_index(clip)
        self.keep = kept_mask(clip_keep(clip), self.n_patches)[0]  # the patches TrainedModel.predict_clip pools
        self.calls = 0  # forward passes over patch sets, for the record
        self.patches_predicted = 0

    def patches_of(self, log_mels: np.ndarray, only: np.ndarray | None = None) -> np.ndarray:
        """Re-cut clip log-mels ``[S, n_frames, 64]`` into patches ``[S, N, 96, 64]`` (padding rows kept as in the original).

        With ``only`` (``[N]`` bool), just those patches are cut: ``[S, only.sum(), 96, 64]``.
        """
        idx, inside, patches = self._idx, self._inside, self.patches
        if only is not None:
            idx, inside, patches = idx[only], inside[only], patches[only]
        cut = np.asarray(log_mels, dtype=np.float32)[:, idx, :]
        return np.where(inside[None, :, :, None], cut, patches[None])

    def patch_probabilities(self, patches: np.ndarray) -> np.ndarray:
        """Probabilities ``[P, C]`` of any stack of patches ``[P, 96, 64]``, in one batched prediction."""
        self.calls += 1
        self.patches_predicted += len(patches)
        return self.model.predict_patches(patches, batch_size=self.batch_size)

    @property
    def pools_in_graph(self) -> bool:
        """True for a model whose graph pools a clip itself: each perturbed clip is then one prediction."""
        return bool(getattr(self.model, "pools_in_graph", False))

    def clip_probabilities(self, kept: np.ndarray) -> np.ndarray:
        """Clip probabilities ``[S, C]`` of clips given by their kept patches ``[S, K, 96, 64]``."""
        s, k = kept.shape[:2]
        if self.pools_in_graph:
            self.calls += s
            self.patches_predicted += s * k
            return self.model.predict_clips(kept, batch_size=self.batch_size)
        probs = self.patch_probabilities(kept.reshape(-1, *kept.shape[2:]))
        return self.pool(probs.reshape(s, k, -1))

    def pool(self, kept_probs: np.ndarray) -> np.ndarray:
        """Pool kept-patch probabilities ``[S, K, C]`` into clip probabilities ``[S, C]``."""
        s, k, c = kept_probs.shape
        return pool_by_clip(kept_probs.reshape(-1, c), np.repeat(np.arange(s), k), s)

    def __call__(self, log_mels: np.ndarray) -> np.ndarray:
        """Clip probabilities ``[S, C]`` for perturbed clip log-mels ``[S, n_frames, 64]``.

        Only the patches that count for the clip prediction (the kept ones) are predicted:
        the others cannot change the pooled probability, and skipping them halves the work
        on a typical clip. The clips are cut and predicted `variants_per_call` at a time,
        so a long clip's memory stays bounded by `PATCH_BUDGET` patches.
        """
        log_mels = np.asarray(log_mels)
        if log_mels.ndim == 2:
            log_mels = log_mels[None]
        step = self.variants_per_call
        return np.concatenate([self._score(log_mels[i : i + step]) for i in range(0, len(log_mels), step)])

    @property
    def variants_per_call(self) -> int:
        """How many perturbed clips are cut and predicted at once: `PATCH_BUDGET` kept patches' worth, at least one."""
        return max(1, PATCH_BUDGET // max(int(self.keep.sum()), 1))

    def _score(self, log_mels: np.ndarray) -> np.ndarray:
        return self.clip_probabilities(self.patches_of(log_mels, only=self.keep))  # kept patches [S, K, 96, 64]

    def original(self) -> np.ndarray:
        """Clip probabilities ``[C]`` of the unperturbed clip (pooled exactly like ``TrainedModel.predict_clip``)."""
        return self.clip_probabilities(self.patches[self.keep][None])[0]
