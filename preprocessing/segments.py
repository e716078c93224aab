"""Cut a clip's log-mel into 96-frame network patches with their times, and merge per-patch maps back.

Time convention: frame ``i`` stands for the 10 ms hop starting at ``i * 0.01`` s, so a
patch starting at frame ``s`` spans ``[s * 0.01, (s + 96) * 0.01)`` seconds. Patches start
every ``hop_frames`` frames; when the regular hops leave frames uncovered at the end, one
last patch is aligned to the end of the clip, so every frame (and every explanation cell)
belongs to at least one patch and no patch contains padding that is not in the clip.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seraudit.core.constants import PATCH_FRAMES, PATCH_HOP_FRAMES, STFT_HOP_SECONDS


@dataclass(frozen=True)
class Patches:
    """Network inputs of one clip and where each sits in it."""

    data: np.ndarray  # float32 [N, 96, 64]
    start_s: np.ndarray  # float64 [N]
    end_s: np.ndarray  # float64 [N]
    hop_frames: int
    start_frame: np.ndarray  # int64 [N]
    n_frames: int  # frames of the clip's log-mel

    def __len__(self) -> int:
        return len(self.data)


def patch_starts(n_frames: int, hop_frames: int = PATCH_HOP_FRAMES) -> np.ndarray:
    """First frame of every patch of an ``n_frames`` log-mel (regular hops plus an end-aligned last one)."""
    if not 1 <= int(hop_frames) <= PATCH_FRAMES:
        raise ValueError(f"hop_frames must be between 1 and {PATCH_FRAMES} so that patches leave no gap, "
                         f"got {hop_frames}")
    if n_frames < PATCH_FRAMES:
        raise ValueError(f"a log-mel of {n_frames} frames is shorter than one {PATCH_FRAMES}-frame patch; "
                         "load the audio with load_audio(..., pad_short=True), which pads it to one patch")
    last = n_frames - PATCH_FRAMES
    starts = np.arange(0, last + 1, int(hop_frames), dtype=np.int64)
    if starts[-1] != last:
        starts = np.append(starts, last)
    return starts


def make_patches(log_mel: np.ndarray, hop_frames: int = PATCH_HOP_FRAMES) -> Patches:
    """Cut a log-mel ``[frames, 64]`` into patches ``[N, 96, 64]`` (default hop 48 frames: 50 % overlap).

    Examples
    --------
    >>> p = make_patches(np.zeros((239, 64), np.float32))
    >>> p.data.shape, p.start_s.round(2).tolist()
    ((4, 96, 64), [0.0, 0.48, 0.96, 1.43])
    """
    features = np.asarray(log_mel, dtype=np.float32)
    if features.ndim != 2:
        raise ValueError(f"log_mel must be [frames, bands], got shape {features.shape}")
    starts = patch_starts(len(features), hop_frames)
    windows = np.lib.stride_tricks.sliding_window_view(features, PATCH_FRAMES, axis=0)  # [F-95, bands, 96]
    data = np.ascontiguousarray(windows[starts].transpose(0, 2, 1))
    return Patches(
        data=data,
        start_s=starts * STFT_HOP_SECONDS,
        end_s=(starts + PATCH_FRAMES) * STFT_HOP_SECONDS,
        hop_frames=int(hop_frames),
        start_frame=starts,
        n_frames=len(features),
    )


def merge_patch_maps(maps: np.ndarray, hop_frames: int, n_frames: int) -> np.ndarray:
    """Average per-patch maps ``[N, 96, ...]`` back onto the clip's frame grid ``[n_frames, ...]``.

    Where patches overlap, each frame gets the mean of the patches that contain it. The patch
    layout is the one `make_patches` used for the same ``hop_frames`` and ``n_frames``.
    """
    values = np.asarray(maps, dtype=np.float64)
    starts = patch_starts(n_frames, hop_frames)
    if values.ndim < 2 or values.shape[:2] != (len(starts), PATCH_FRAMES):
        raise ValueError(f"a {n_frames}-frame clip with hop {hop_frames} has {len(starts)} patches of "
                         f"{PATCH_FRAMES} frames, but maps have shape {values.shape}")
    frame_index = (starts[:, None] + np.arange(PATCH_FRAMES)).ravel()
    flat = values.reshape(len(frame_index), -1)
    sums = np.zeros((n_frames, flat.shape[1]))
    np.add.at(sums, frame_index, flat)
    counts = np.bincount(frame_index, minlength=n_frames)
    return (sums / counts[:, None]).reshape((n_frames,) + values.shape[2:]).astype(np.float32)
