"""Our front end reproduces the log-mel of Google's own YAMNet runtime (yamnet.tflite) on real speech."""

from __future__ import annotations

import numpy as np
import pytest

from seraudit.preprocessing.audio import load_audio
from seraudit.preprocessing.reference import compare_with_tflite


@pytest.fixture(scope="session")
def agreements(ravdess_clips, yamnet_tflite):
    assert len(ravdess_clips) >= 10
    return [compare_with_tflite(load_audio(path).waveform, yamnet_tflite) for path in ravdess_clips]


def test_frames_line_up_with_the_tflite_up_to_its_extra_padding(agreements):
    for a in agreements:
        assert 0 <= a.frames_tflite - a.frames_ours <= 2


def test_with_the_runtimes_8_bit_quantisation_applied_the_log_mel_is_the_same(agreements):
    """Everything but the TFLite's int8 mel weights is reproduced: the residue is weight rounding.

    (A magnitude that sits on an 8-bit rounding boundary may land one step apart in a quiet cell.)
    """
    for a in agreements:
        assert a.pearson_quantised > 0.9999
        assert a.max_abs_quantised < 0.25


def test_float_log_mel_correlates_with_the_tflite_on_every_clip(agreements):
    """The TFLite flattens cells ~48 dB below their frame's peak to its log floor, so this is < 1.

    Measured on this slice: mean 0.992, min 0.985 (see preprocessing/reference.py).
    """
    pearson = np.array([a.pearson for a in agreements])
    assert pearson.mean() >= 0.99
    assert pearson.min() >= 0.98
