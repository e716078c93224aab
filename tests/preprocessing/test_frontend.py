"""The log-mel features are Google's VGGish/YAMNet features, and an explanation's spectrogram can be played back."""

from __future__ import annotations

import numpy as np
import pytest

from seraudit.preprocessing.audio import load_audio
from seraudit.core.constants import LOG_OFFSET
from seraudit.preprocessing.frontend import LOG_FLOOR, istft, log_mel, mel_weight_matrix, stft


@pytest.fixture(scope="session")
def tf():
    import tensorflow

    return tensorflow


@pytest.fixture(scope="session")
def ravdess_waveform(ravdess_clips) -> np.ndarray:
    return load_audio(ravdess_clips[4]).waveform


def test_mel_filter_bank_equals_tensorflows(tf):
    reference = tf.signal.linear_to_mel_weight_matrix(64, 257, 16000, 125.0, 7500.0).numpy()
    ours = mel_weight_matrix()
    assert ours.shape == (257, 64)
    np.testing.assert_allclose(ours, reference, atol=1e-5, rtol=0)


def test_log_mel_equals_the_tensorflow_graph_yamnet_is_built_from(tf, ravdess_waveform):
    x = ravdess_waveform
    spectrum = tf.abs(tf.signal.stft(x, frame_length=400, frame_step=160, fft_length=512, pad_end=True))
    matrix = tf.signal.linear_to_mel_weight_matrix(64, 257, 16000, 125.0, 7500.0)
    reference = tf.math.log(tf.matmul(spectrum, matrix) + 0.001).numpy()

    ours = log_mel(x)

    assert ours.shape == reference.shape == (-(-len(x) // 160), 64)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, reference, atol=2e-4, rtol=0)


def test_stft_frames_start_every_hop_with_no_centring():
    x = np.zeros(16_000, np.float32)
    x[480] = 1.0  # an impulse at the start of frame 3 (and inside frames 1 and 2)
    spec = stft(x)
    assert spec.dtype == np.complex64 and spec.shape == (100, 257)
    energy = np.abs(spec).sum(axis=1)
    assert np.flatnonzero(energy > 1e-6).tolist() == [1, 2]  # frame 3 starts on the window's zero
    assert stft(np.ones(16_001, np.float32)).shape == (101, 257)  # ceil(n / 160): the end is zero-padded


def test_vggish_features_follow_from_yamnets_by_changing_the_offset(ravdess_waveform):
    """The contract in docs/ARCHITECTURE.md: log(exp(x) + 0.009) turns YAMNet features into VGGish's."""
    yamnet = log_mel(ravdess_waveform, LOG_OFFSET["yamnet"]).astype(np.float64)
    vggish = log_mel(ravdess_waveform, LOG_OFFSET["vggish"])
    np.testing.assert_allclose(np.log(np.exp(yamnet) + 0.009), vggish, atol=1e-5)


def test_istft_gives_back_the_waveform(rng, ravdess_waveform):
    noise = rng.uniform(-1, 1, 20_011).astype(np.float32)
    for x in (noise, ravdess_waveform):
        y = istft(stft(x), len(x))
        assert y.dtype == np.float32 and y.shape == x.shape
        np.testing.assert_allclose(y[32:], x[32:], atol=1e-5)
        # The window's first 2 ms weigh almost nothing: there the output fades in, never overshoots.
        assert np.all(np.abs(y[:32]) <= np.abs(x[:32]) + 1e-4)


def test_istft_of_a_masked_spectrogram_stays_bounded_at_the_start(rng):
    x = rng.uniform(-0.5, 0.5, 16_000).astype(np.float32)
    spec = stft(x)
    spec[:, 100:] *= 0.1  # a soft mask, like an explanation's
    assert np.abs(istft(spec, len(x))).max() < 1.0


def test_istft_of_a_masked_spectrogram_removes_what_was_masked():
    t = np.arange(32_000) / 16_000
    low, high = np.sin(2 * np.pi * 300 * t), 0.5 * np.sin(2 * np.pi * 3000 * t)
    spec = stft((low + high).astype(np.float32))
    spec[:, 64:] = 0  # keep bins below 2 kHz only

    y = istft(spec, len(t))

    np.testing.assert_allclose(y[400:-400], low[400:-400], atol=2e-3)


def test_silence_sits_exactly_on_the_log_floor_that_masks_and_occlusion_fill():
    from seraudit.preprocessing import augment
    from seraudit.xai.explainers import perturbation

    silence = log_mel(np.zeros(16_000, np.float32))
    assert np.all(silence == np.float32(LOG_FLOOR))
    assert augment.LOG_FLOOR is LOG_FLOOR and perturbation.LOG_FLOOR is LOG_FLOOR  # one rule, not three copies
