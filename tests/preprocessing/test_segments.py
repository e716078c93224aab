"""A clip becomes 0.96 s network patches that say where they came from, and patch maps merge back onto the clip."""

from __future__ import annotations

import numpy as np
import pytest

from seraudit.preprocessing.segments import make_patches, merge_patch_maps


def frame_numbered_log_mel(n_frames: int) -> np.ndarray:
    """Each cell holds its frame index, so a patch's content shows where it was cut from."""
    return np.repeat(np.arange(n_frames, dtype=np.float32)[:, None], 64, axis=1)


def test_a_ravdess_length_clip_gives_four_half_overlapping_patches_with_their_times():
    patches = make_patches(frame_numbered_log_mel(239))  # 2.389 s at 16 kHz: ceil(38224 / 160) frames

    assert patches.data.shape == (4, 96, 64) and patches.data.dtype == np.float32
    assert patches.start_frame.tolist() == [0, 48, 96, 143]  # the last one is aligned to the clip's end
    np.testing.assert_allclose(patches.start_s, [0.0, 0.48, 0.96, 1.43])
    np.testing.assert_allclose(patches.end_s, [0.96, 1.44, 1.92, 2.39])
    for data, start in zip(patches.data, patches.start_frame):
        np.testing.assert_array_equal(data[:, 0], np.arange(start, start + 96))


def test_the_hop_is_configurable_and_an_exact_fit_adds_no_extra_patch():
    patches = make_patches(frame_numbered_log_mel(288), hop_frames=96)
    assert patches.start_frame.tolist() == [0, 96, 192]
    assert patches.hop_frames == 96 and len(patches) == 3


def test_exactly_one_patch_of_frames_gives_one_patch():
    assert make_patches(frame_numbered_log_mel(96)).start_frame.tolist() == [0]


def test_too_few_frames_or_a_gapped_hop_are_refused_with_the_fix():
    with pytest.raises(ValueError, match="pad_short=True"):
        make_patches(frame_numbered_log_mel(90))
    with pytest.raises(ValueError, match="between 1 and 96"):
        make_patches(frame_numbered_log_mel(300), hop_frames=120)


def test_merging_the_patches_themselves_gives_back_the_log_mel():
    log_mel = np.random.default_rng(0).normal(size=(239, 64)).astype(np.float32)
    patches = make_patches(log_mel)
    merged = merge_patch_maps(patches.data, patches.hop_frames, patches.n_frames)
    np.testing.assert_allclose(merged, log_mel, atol=1e-6)


def test_overlapping_patch_maps_are_averaged_frame_by_frame():
    maps = np.stack([np.full((96, 64), value) for value in (0.0, 1.0, 2.0, 3.0)])
    merged = merge_patch_maps(maps, hop_frames=48, n_frames=239)

    assert merged.shape == (239, 64)
    assert merged[0, 0] == 0.0  # frames 0-47: patch 0 only
    assert merged[50, 0] == 0.5  # frames 48-95: patches 0 and 1
    assert merged[100, 0] == 1.5  # frames 96-142: patches 1 and 2
    assert merged[143, 0] == 2.0  # frame 143: patches 1, 2 and 3
    assert merged[150, 0] == 2.5  # frames 144-191: patches 2 and 3
    assert merged[238, 0] == 3.0  # frames 192-238: patch 3 only


def test_maps_of_the_wrong_count_are_refused():
    with pytest.raises(ValueError, match="has 4 patches"):
        merge_patch_maps(np.zeros((3, 96, 64)), hop_frames=48, n_frames=239)
