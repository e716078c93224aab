"""Which frames of a clip the model heard, and the one rule that keeps every attribution on them.

Gaussian data selection (GDS) keeps some patches of a clip and drops the others; the
clip's prediction pools the kept patches only (`ensemble.model.clip_pooling`). A frame
that no kept patch covers never reached the model's output: nothing there can be
evidence for or against a class. **The rule**: every attribution is zero on those
frames, and the patch maps of dropped patches are zero. It is applied once, when an
explainer builds its `Attribution` (`xai.attribution.Explainer._attribution` calls
`restrict_to_heard`), so every method — and every metric or sanity check that explains a
clip again — obeys it without a line of its own. What the rule removed is recorded in
the attribution's ``params["heard"]`` (``removed_positive_share``: the share of positive
attribution that sat on unheard frames before).

A clip whose keep-mask keeps nothing pools every patch (the fallback of `kept_mask`), so
then every frame is heard.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seraudit.core.constants import PATCH_FRAMES
from seraudit.ensemble.model.clip_pooling import clip_keep, kept_mask
from seraudit.xai.explainers.perturbation import patch_start_frames

#: One sentence stating the rule, recorded with every attribution and shown by the report.
HEARD_RULE = ("attribution is zero on frames no GDS-kept patch covers (the model never heard them) "
              "and on the patches GDS dropped")


def kept_patches(clip: Any) -> np.ndarray:
    """``[N]`` bool: the patches the clip's prediction pools (GDS's keep-mask with its all-patches fallback)."""
    return kept_mask(clip_keep(clip), int(np.asarray(clip.patches.data).shape[0]))[0]


def heard_frames(clip: Any) -> np.ndarray:
    """``[n_frames]`` bool: the frames of the clip's log-mel that at least one kept patch covers."""
    n_frames = int(clip.log_mel.shape[0])
    heard = np.zeros(n_frames, bool)
    for start in patch_start_frames(clip)[kept_patches(clip)]:
        heard[max(int(start), 0) : max(min(int(start) + PATCH_FRAMES, n_frames), 0)] = True
    return heard


def positive_share(clip_map: np.ndarray, frames: np.ndarray) -> float:
    """Share of the map's positive attribution that lies on ``frames`` (``[n_frames]`` bool); 0 when none is positive."""
    positive = np.clip(np.nan_to_num(np.asarray(clip_map, dtype=np.float64)), 0.0, None).sum(axis=1)
    total = float(positive.sum())
    return float(positive[np.asarray(frames, bool)].sum() / total) if total > 0 else 0.0


def restrict_to_heard(
    clip: Any,
    clip_map: np.ndarray,
    patch_maps: np.ndarray,
    branch_maps: dict[str, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], dict[str, Any]]:
    """The rule (module docstring): maps zeroed on unheard frames and dropped patches, plus what it removed.

    Returns ``(clip_map, patch_maps, branch_maps, record)``; ``record`` goes into the
    attribution's ``params["heard"]``.
    """
    heard = heard_frames(clip)
    kept = kept_patches(clip)
    clip_map = np.asarray(clip_map, dtype=np.float32)
    removed = positive_share(clip_map, ~heard) if clip_map.shape[0] == heard.size else 0.0
    if clip_map.shape[0] == heard.size:
        clip_map = np.where(heard[:, None], clip_map, np.float32(0.0))
    patch_maps = np.asarray(patch_maps, dtype=np.float32)
    if patch_maps.shape[0] == kept.size:
        patch_maps = np.where(kept[:, None, None], patch_maps, np.float32(0.0))
    branches = {}
    for name, m in (branch_maps or {}).items():
        m = np.asarray(m, dtype=np.float32)
        branches[name] = np.where(heard[:, None], m, np.float32(0.0)) if m.shape[0] == heard.size else m
    record = {
        "rule": HEARD_RULE,
        "heard_frames": int(heard.sum()),
        "n_frames": int(heard.size),
        "kept_patches": int(kept.sum()),
        "n_patches": int(kept.size),
        "removed_positive_share": round(removed, 6),
    }
    return clip_map, patch_maps, branches, record
