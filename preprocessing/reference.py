"""Check our log-mel front end against Google's own runtime: the log-mel output of ``yamnet.tflite``.

The TFLite model computes its mel spectrogram with a *hybrid* int8 fully-connected layer:
the mel weights are stored as int8 (one scale per band) and, at run time, each frame's
257 FFT magnitudes are quantised to 8 bits (256 levels from 0 to the frame's maximum).
Cells more than ~48 dB below the loudest bin of their frame therefore come out of the
TFLite as 0 or one quantisation step, i.e. near ``log(0.001)``, so the TFLite log-mel and
the float log-mel (ours, and YAMNet's TF graph) differ by up to a few nats in quiet
cells. Exact equality is not expected; the agreement figures are:

* ``pearson``: our float log-mel vs the TFLite output, Pearson over all cells of the
  common frames (``seraudit check-weights`` reports it as ``frontend_pearson``);
* ``pearson_quantised`` / ``max_abs_quantised``: the same comparison after applying the
  TFLite's per-frame 8-bit magnitude quantisation to our spectrogram
  (`emulate_tflite_log_mel`), which isolates everything but the weight rounding.

The TFLite frames YAMNet's padded waveform (see `preprocessing.frontend`): its frame ``i``
is our frame ``i``, it may produce a frame or two more at the end, and only the common
leading frames are compared.
"""

from __future__ import annotations

import functools
import os
import warnings
from dataclasses import dataclass

import numpy as np

from seraudit.core.constants import LOG_OFFSET, NUM_MEL_BANDS
from seraudit.preprocessing.frontend import log_mel, mel_weight_matrix, stft


@functools.lru_cache(maxsize=2)
def _interpreter(tflite_path: str):
    import tensorflow as tf  # heavy: only when a reference comparison is asked for

    with warnings.catch_warnings():  # tf.lite.Interpreter's deprecation notice: it still runs the file
        warnings.simplefilter("ignore", UserWarning)
        interpreter = tf.lite.Interpreter(model_path=tflite_path)
    outputs = [d for d in interpreter.get_output_details() if int(d["shape_signature"][-1]) == NUM_MEL_BANDS]
    if len(outputs) != 1:
        raise ValueError(f"{tflite_path}: expected one [frames, {NUM_MEL_BANDS}] log-mel output, "
                         f"found {len(outputs)}; is this the TF Hub 'lite-model/yamnet/tflite/1' file?")
    return interpreter, interpreter.get_input_details()[0]["index"], outputs[0]["index"]


def tflite_log_mel(waveform: np.ndarray, tflite_path: str | os.PathLike) -> np.ndarray:
    """Run ``yamnet.tflite`` on a 16 kHz mono waveform and return its log-mel output ``[frames, 64]``.

    Not bit-equal to `preprocessing.frontend.log_mel`: the runtime quantises each frame's
    magnitudes to 8 bits before the mel weighting, and frames YAMNet's padded waveform
    (a frame or two more at the end). See the module docstring.
    """
    interpreter, input_index, output_index = _interpreter(str(tflite_path))
    x = np.ascontiguousarray(waveform, dtype=np.float32)
    interpreter.resize_tensor_input(input_index, [x.size])
    interpreter.allocate_tensors()
    interpreter.set_tensor(input_index, x)
    interpreter.invoke()
    return np.array(interpreter.get_tensor(output_index), dtype=np.float32)


def emulate_tflite_log_mel(waveform: np.ndarray, log_offset: float = LOG_OFFSET["yamnet"]) -> np.ndarray:
    """Our log-mel with the TFLite runtime's per-frame 8-bit magnitude quantisation applied.

    Each frame's magnitudes are rounded to multiples of ``max / 255`` before the mel
    weighting, as TFLite's dynamic-range (hybrid) fully-connected kernel does.
    """
    magnitude = np.abs(stft(waveform)).astype(np.float64)
    step = magnitude.max(axis=1, keepdims=True) / 255.0
    step[step == 0] = 1.0
    quantised = np.round(magnitude / step) * step
    return np.log(quantised @ mel_weight_matrix().astype(np.float64) + log_offset).astype(np.float32)


@dataclass(frozen=True)
class FrontendAgreement:
    """How closely our front end reproduces the TFLite log-mel on one clip (see the module docstring)."""

    pearson: float
    pearson_quantised: float
    max_abs_quantised: float
    frames_ours: int
    frames_tflite: int


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel().astype(np.float64), b.ravel().astype(np.float64))[0, 1])


def compare_with_tflite(waveform: np.ndarray, tflite_path: str | os.PathLike) -> FrontendAgreement:
    """Compare our YAMNet log-mel of a 16 kHz waveform with ``yamnet.tflite``'s, on their common frames."""
    reference = tflite_log_mel(waveform, tflite_path)
    ours = log_mel(waveform)
    emulated = emulate_tflite_log_mel(waveform)
    k = min(len(ours), len(reference))
    return FrontendAgreement(
        pearson=_pearson(ours[:k], reference[:k]),
        pearson_quantised=_pearson(emulated[:k], reference[:k]),
        max_abs_quantised=float(np.abs(emulated[:k] - reference[:k]).max()),
        frames_ours=len(ours),
        frames_tflite=len(reference),
    )
