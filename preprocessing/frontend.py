"""The VGGish/YAMNet log-mel front end in numpy, and the inverse STFT that resynthesises explanations.

Identical to Google's published feature extractors (``yamnet/features.py``,
``vggish/mel_features.py``): 25 ms periodic Hann window (400 samples), 10 ms hop
(160 samples), 512-point FFT magnitude, 64 HTK-mel bands from 125 to 7500 Hz with the
weights of ``tf.signal.linear_to_mel_weight_matrix``, natural log with a small offset
(0.001 for YAMNet, 0.01 for VGGish).

Framing. Frame ``i`` covers samples ``[160 i, 160 i + 400)``, with no centring, and the
signal is zero-padded at the end so that every sample lies in some frame:
``frames = ceil(n / 160)``, as ``tf.signal.stft(..., pad_end=True)``. YAMNet itself calls
``tf.signal.stft`` with ``pad_end=False`` after its own ``pad_waveform`` (zero padding to
a whole number of 0.48 s patch hops); both frame the same samples from the same origin,
so every frame both produce is identical and only the number of trailing frames differs
(a 2.389 s RAVDESS clip: 239 frames here, 240 in YAMNet).
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.fft
import scipy.signal

from seraudit.core.constants import (
    FFT_LENGTH,
    LOG_OFFSET,
    MEL_MAX_HZ,
    MEL_MIN_HZ,
    NUM_MEL_BANDS,
    SAMPLE_RATE,
    STFT_HOP_SAMPLES,
    STFT_WINDOW_SAMPLES,
)

NUM_SPECTROGRAM_BINS = FFT_LENGTH // 2 + 1  # 257

#: Log-mel value of a silent cell: log(0 + YAMNet's offset 0.001) ~ -6.908, the floor of the model's input.
#: Defined here, beside the log it floors, so every "make this cell silence" (SpecAugment masks,
#: the explainers' occlusion, the faithfulness metrics' removal) fills the same value.
LOG_FLOOR = float(np.log(LOG_OFFSET["yamnet"]))


@functools.lru_cache(maxsize=1)
def hann_window() -> np.ndarray:
    """The periodic ("DFT-even") 400-sample Hann window both Google front ends use."""
    window = scipy.signal.get_window("hann", STFT_WINDOW_SAMPLES, fftbins=True).astype(np.float32)
    window.flags.writeable = False
    return window


def hertz_to_mel(frequency_hz: np.ndarray | float) -> np.ndarray:
    """HTK mel scale, ``1127 ln(1 + f / 700)``, as in ``tf.signal`` and VGGish."""
    return 1127.0 * np.log1p(np.asarray(frequency_hz, dtype=np.float64) / 700.0)


def mel_weight_matrix(
    num_mel_bins: int = NUM_MEL_BANDS,
    num_spectrogram_bins: int = NUM_SPECTROGRAM_BINS,
    sample_rate: int = SAMPLE_RATE,
    lower_edge_hz: float = MEL_MIN_HZ,
    upper_edge_hz: float = MEL_MAX_HZ,
) -> np.ndarray:
    """Triangular HTK-mel filter bank ``[257, 64]``, equal to ``tf.signal.linear_to_mel_weight_matrix``.

    Triangles are unnormalised (peak 1) and the DC bin gets no weight, exactly as TF builds them,
    so ``magnitudes @ mel_weight_matrix()`` reproduces YAMNet's mel spectrogram.

    Examples
    --------
    >>> mel_weight_matrix().shape
    (257, 64)
    """
    linear_hz = np.linspace(0.0, sample_rate / 2.0, num_spectrogram_bins)[1:]  # DC bin left at zero
    bin_mel = hertz_to_mel(linear_hz)[:, None]
    edges = np.linspace(hertz_to_mel(lower_edge_hz), hertz_to_mel(upper_edge_hz), num_mel_bins + 2)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bin_mel - lower) / (centre - lower)
    falling = (upper - bin_mel) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    return np.vstack([np.zeros((1, num_mel_bins)), weights]).astype(np.float32)


@functools.lru_cache(maxsize=1)
def _mel_matrix() -> np.ndarray:
    matrix = mel_weight_matrix()
    matrix.flags.writeable = False
    return matrix


def num_frames(n_samples: int) -> int:
    """Frames `stft` makes from ``n_samples`` samples: ``ceil(n / 160)``."""
    return -(-int(n_samples) // STFT_HOP_SAMPLES)


def _frames(waveform: np.ndarray) -> np.ndarray:
    """Overlapping 400-sample frames ``[frames, 400]`` (a strided view of a zero-padded copy)."""
    x = np.asarray(waveform, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"waveform must be mono [n], got shape {x.shape}")
    n_frames = num_frames(x.size)
    padded = np.zeros(max(n_frames - 1, 0) * STFT_HOP_SAMPLES + STFT_WINDOW_SAMPLES, np.float32)
    padded[: x.size] = x
    windows = np.lib.stride_tricks.sliding_window_view(padded, STFT_WINDOW_SAMPLES)
    return windows[::STFT_HOP_SAMPLES][:n_frames]


def stft(waveform: np.ndarray) -> np.ndarray:
    """Complex spectrogram ``complex64 [ceil(n / 160), 257]`` of a 16 kHz mono waveform.

    Keep it when an explanation must be resynthesised with the original phase (`istft`).
    """
    return scipy.fft.rfft(_frames(waveform) * hann_window(), n=FFT_LENGTH, axis=-1).astype(np.complex64)


def mel_from_magnitude(magnitude: np.ndarray, log_offset: float = LOG_OFFSET["yamnet"]) -> np.ndarray:
    """Log-mel ``float32 [frames, 64]`` from a magnitude spectrogram ``[frames, 257]``."""
    mel = np.asarray(magnitude, dtype=np.float32) @ _mel_matrix()
    return np.log(mel + np.float32(log_offset)).astype(np.float32)


def log_mel(waveform: np.ndarray, log_offset: float = LOG_OFFSET["yamnet"]) -> np.ndarray:
    """Stabilised log-mel spectrogram ``float32 [ceil(n / 160), 64]`` of a 16 kHz mono waveform.

    The default offset (0.001) gives YAMNet's features, the project's model input;
    ``LOG_OFFSET["vggish"]`` (0.01) gives VGGish's.

    Examples
    --------
    >>> log_mel(np.zeros(16_000, np.float32)).shape
    (100, 64)
    """
    return mel_from_magnitude(np.abs(stft(waveform)), log_offset)


def istft(spectrogram: np.ndarray, length: int) -> np.ndarray:
    """Invert `stft`: least-squares overlap-add with the same window (Griffin & Lim, 1984).

    ``y[t] = sum_i w[t - 160 i] frame_i[t - 160 i] / sum_i w[t - 160 i]^2``. For an unmodified
    spectrogram this returns the original samples to float32 precision, except at the very
    start, where the window weight ``sum w^2`` is tiny: it is floored at 1e-3 of its
    steady-state value, so the first ~0.3 ms fade in instead of dividing a masked
    spectrogram's leakage by ~1e-9 (which made the first samples explode). For a
    modified spectrogram (a masked explanation) it is the signal whose STFT is closest to it.
    The result is float32 ``[length]``: cut, or zero-filled past the last frame.
    """
    spec = np.asarray(spectrogram)
    if spec.ndim != 2 or spec.shape[1] != NUM_SPECTROGRAM_BINS:
        raise ValueError(f"spectrogram must be [frames, {NUM_SPECTROGRAM_BINS}], got shape {spec.shape}")
    n_frames = spec.shape[0]
    window = hann_window().astype(np.float64)
    frames = scipy.fft.irfft(spec.astype(np.complex128), n=FFT_LENGTH, axis=-1)[:, :STFT_WINDOW_SAMPLES]
    span = max(n_frames - 1, 0) * STFT_HOP_SAMPLES + STFT_WINDOW_SAMPLES
    index = (np.arange(n_frames)[:, None] * STFT_HOP_SAMPLES + np.arange(STFT_WINDOW_SAMPLES)).ravel()
    signal = np.bincount(index, weights=(frames * window).ravel(), minlength=span)
    norm = np.bincount(index, weights=np.tile(window**2, n_frames), minlength=span)
    out = np.zeros(int(length), np.float64)
    covered = min(int(length), span)
    floor = 1e-3 * norm.max() if norm.size else 1.0
    out[:covered] = signal[:covered] / np.maximum(norm[:covered], floor)
    return out.astype(np.float32)
