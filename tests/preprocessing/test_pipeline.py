"""Embedding extraction, training and explanation get a clip's features from one call."""

from __future__ import annotations

import numpy as np
import pytest

from seraudit.core.constants import PATCH_FRAMES
from seraudit.preprocessing.frontend import log_mel
from seraudit.preprocessing.pipeline import clip_features
from seraudit.core.errors import AudioError


def test_a_corpus_file_becomes_patches_with_a_keep_mask(ravdess_clips):
    path = ravdess_clips[0]
    features = clip_features(path)

    assert features.path == str(path) and features.audio.path == str(path)
    n_frames = -(-len(features.audio.waveform) // 160)
    assert features.log_mel.shape == (n_frames, 64) and features.log_mel.dtype == np.float32
    assert features.patches.data.shape[1:] == (PATCH_FRAMES, 64)
    assert features.patches.n_frames == n_frames
    assert features.selection.keep.shape == (len(features.patches),)
    assert 1 <= len(features.kept_patches) <= len(features.patches)
    np.testing.assert_array_equal(features.patches.data[0], features.log_mel[:PATCH_FRAMES])


def test_samples_in_memory_at_any_rate_work_like_a_file(speech_wav):
    import soundfile as sf

    samples, rate = sf.read(speech_wav, dtype="float32")
    stereo = np.stack([samples, samples], axis=1)

    features = clip_features((stereo, rate), hop_frames=96, gds_threshold=0.0)

    assert features.path is None and features.audio.original_sample_rate == rate == 22_050
    assert features.patches.hop_frames == 96
    np.testing.assert_array_equal(features.log_mel, log_mel(features.audio.waveform))


def test_a_short_clip_is_padded_to_one_patch_and_its_sound_is_kept():
    t = np.arange(8_000) / 16_000
    features = clip_features((0.3 * np.sin(2 * np.pi * 220 * t), 16_000))
    assert features.audio.padded_s == pytest.approx(0.46)
    # 15,360 samples make exactly 96 frames: one patch, so pooling does not double-count the clip.
    assert features.patches.start_frame.tolist() == [0]
    assert features.selection.keep.any()


def test_a_bad_file_stops_with_the_loading_error(tmp_path):
    path = tmp_path / "broken.flac"
    path.write_bytes(b"fLaC" + bytes(100))
    with pytest.raises(AudioError, match=r"broken\.flac: libsndfile cannot decode it"):
        clip_features(path)
