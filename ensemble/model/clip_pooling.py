"""The one rule for which patches of a clip count and how their outputs become one clip's output.

Gaussian data selection (GDS) marks each patch kept or dropped. Every clip-level
number the tool produces (training targets, cross-validation predictions, a
single clip's prediction, perturbed clips scored by the explainers, embeddings
fed to the acoustic probes) pools over the kept patches only; a clip with no kept
patch falls back to all of its patches, and says so.

Probabilities pool as the mean of patch log-probabilities, renormalised (a
geometric mean of the patch distributions); embeddings pool as their mean.
"""

from __future__ import annotations

import numpy as np

LOG_EPS = 1e-12


def kept_mask(keep: np.ndarray | None, n_patches: int) -> tuple[np.ndarray, bool]:
    """The patches that enter a clip's pooled output and whether that is every patch.

    `keep` is GDS's keep-mask (``None``: no selection). A mask that keeps nothing
    falls back to all patches, so a clip always has an output.
    """
    if keep is None:
        return np.ones(n_patches, bool), True
    keep = np.asarray(keep, dtype=bool)
    if keep.shape != (n_patches,):
        raise ValueError(f"keep-mask of shape {keep.shape} for {n_patches} patches")
    if not keep.any():
        return np.ones(n_patches, bool), True
    return keep, bool(keep.all())


def clip_keep(clip) -> np.ndarray | None:
    """The GDS keep-mask a `ClipFeatures` carries (``None`` when it was made without selection)."""
    selection = getattr(clip, "selection", None)
    return None if selection is None else getattr(selection, "keep", None)


def kept_by_clip(keep: np.ndarray, clip_index: np.ndarray, n_clips: int | None = None) -> np.ndarray:
    """Corpus-wide `kept_mask`: ``[P]`` patches that count, with the all-patches fallback applied per clip."""
    keep = np.asarray(keep, dtype=bool)
    clip_index = np.asarray(clip_index, dtype=np.int64)
    n_clips = int(clip_index.max()) + 1 if n_clips is None and len(clip_index) else int(n_clips or 0)
    has_kept = np.bincount(clip_index, weights=keep.astype(np.float64), minlength=n_clips) > 0
    return keep | ~has_kept[clip_index]


def pool_log_probabilities(patch_probs: np.ndarray, keep: np.ndarray | None = None) -> tuple[np.ndarray, bool]:
    """One clip's distribution ``[C]`` from its patch probabilities ``[N, C]``; returns ``(probabilities, used_all_patches)``."""
    patch_probs = np.asarray(patch_probs, dtype=np.float64)
    if patch_probs.ndim != 2 or patch_probs.shape[0] == 0:
        raise ValueError(f"need patch probabilities [N>0, C], got shape {patch_probs.shape}")
    mask, used_all = kept_mask(keep, len(patch_probs))
    return pool_by_clip(patch_probs[mask], np.zeros(int(mask.sum()), np.int64), 1)[0], used_all


def pool_by_clip(patch_probs: np.ndarray, clip_index: np.ndarray, n_clips: int | None = None) -> np.ndarray:
    """Mean log-probability per clip id, renormalised -> ``[n_clips, C]``.

    `patch_probs` holds only the patches to pool (select them with `kept_by_clip`);
    a clip id without a patch gets a NaN row.
    """
    clip_index = np.asarray(clip_index, dtype=np.int64)
    n_clips = int(clip_index.max()) + 1 if n_clips is None else n_clips
    logp = np.log(np.clip(np.asarray(patch_probs, dtype=np.float64), LOG_EPS, 1.0))
    sums = np.zeros((n_clips, logp.shape[1]))
    np.add.at(sums, clip_index, logp)
    counts = np.bincount(clip_index, minlength=n_clips)[:, None].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_log = sums / counts
        mean_log -= mean_log.max(axis=1, keepdims=True)
        probs = np.exp(mean_log)
        return probs / probs.sum(axis=1, keepdims=True)


def pool_embeddings(embeddings: np.ndarray, clip_index: np.ndarray, keep: np.ndarray | None = None,
                    n_clips: int | None = None) -> np.ndarray:
    """Mean embedding ``[n_clips, D]`` over each clip's kept patches (all patches where a clip kept none)."""
    embeddings = np.asarray(embeddings, dtype=np.float64)
    embeddings = embeddings.reshape(len(embeddings), -1)
    clip_index = np.asarray(clip_index, dtype=np.int64)
    n_clips = int(clip_index.max()) + 1 if n_clips is None else n_clips
    mask = np.ones(len(clip_index), bool) if keep is None else kept_by_clip(keep, clip_index, n_clips)
    sums = np.zeros((n_clips, embeddings.shape[1]))
    np.add.at(sums, clip_index[mask], embeddings[mask])
    counts = np.bincount(clip_index[mask], minlength=n_clips)[:, None].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts
