"""Each edit of the battery does what it says, measured on synthesised clips."""

from __future__ import annotations

import numpy as np
import pytest

from seraudit.xai.shortcuts.edits import (EDITS, HIGH_BAND_CUTOFF_HZ, MAX_PEAK, NULL_EDIT, NULL_EDIT_FN, PAD_S,
                                          TRIM_MARGIN_S, EditSkipped, applied_gain_db, lowpass, speech_span)

RATE = 16000


def sine(freq: float, seconds: float = 1.0, amplitude: float = 0.1) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * freq * np.arange(int(seconds * RATE)) / RATE)


def voiced(seconds: float, f0: float = 150.0) -> np.ndarray:
    """A harmonic tone with a slow loudness swing: voiced by `preprocessing.speech.voicing_mask`'s rule (not speech to
    the Silero detector behind `voiced_mask`, which the trim tests therefore swap for the voicing rule)."""
    t = np.arange(int(seconds * RATE)) / RATE
    return 0.2 * sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 8)) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))


def level_db(x: np.ndarray) -> float:
    middle = x[len(x) // 4 : 3 * len(x) // 4]  # away from the filter's edges
    return 20 * np.log10(np.sqrt(np.mean(middle**2)))


def test_the_names_other_helpers_import_are_stable():
    assert list(EDITS) == ["pad_silence", "trim_silence", "gain_up", "gain_down", "telephone", "high_band"]
    assert NULL_EDIT == "shift_1_sample" and NULL_EDIT not in EDITS


@pytest.mark.parametrize("freq, lowest, highest", [(100.0, None, -20.0), (6000.0, None, -20.0), (1000.0, -0.5, 0.5)])
def test_telephone_passes_the_band_and_cuts_outside(freq, lowest, highest):
    x = sine(freq)
    change = level_db(EDITS["telephone"](x, RATE)) - level_db(x)
    assert change <= highest
    if lowest is not None:
        assert change >= lowest


def test_telephone_is_zero_phase():
    x = sine(1000.0)
    y = EDITS["telephone"](x, RATE)
    middle = slice(RATE // 4, 3 * RATE // 4)
    assert np.max(np.abs(y[middle] - x[middle])) < 0.01 * np.max(np.abs(x))  # no delay, no phase turn at 1 kHz


@pytest.mark.parametrize("freq, lowest, highest", [
    (1000.0, -0.01, 0.01),  # the speech band passes untouched
    (5000.0, -0.05, 0.0),  # the top of every eGeMAPS band still passes
    (HIGH_BAND_CUTOFF_HZ, -6.2, -5.8),  # -6 dB at the cutoff: a Butterworth's -3 dB, applied twice (forward-backward)
    (HIGH_BAND_CUTOFF_HZ + 250.0, None, -20.0),  # just above the cutoff, at least 20 dB down
    (6750.0, None, -60.0),  # the selftest's planted tone
    (7500.0, None, -60.0),  # the top of the log-mel front end's range
])
def test_high_band_removes_energy_above_the_cutoff_and_keeps_the_band_below(freq, lowest, highest):
    x = sine(freq)
    change = level_db(EDITS["high_band"](x, RATE)) - level_db(x)
    assert change <= highest
    if lowest is not None:
        assert change >= lowest


def test_high_band_is_zero_phase_and_keeps_a_voice_below_the_cutoff():
    x = voiced(1.0)  # harmonics of 150 Hz up to 1.05 kHz
    y = EDITS["high_band"](x, RATE)
    middle = slice(RATE // 4, 3 * RATE // 4)
    assert y.size == x.size
    assert np.max(np.abs(y[middle] - x[middle])) < 0.005 * np.max(np.abs(x))  # no delay, no phase turn


def test_a_lowpass_above_nyquist_is_skipped_with_the_reason():
    with pytest.raises(EditSkipped, match="sample rate above 10000 Hz"):
        lowpass(sine(440.0), 8000, 5000.0)


def test_padding_adds_exactly_the_silence_and_keeps_the_clip():
    x = voiced(1.2)
    y = EDITS["pad_silence"](x, RATE)
    pad = int(PAD_S * RATE)
    assert y.size == x.size + 2 * pad
    assert np.all(y[:pad] == 0.0) and np.all(y[-pad:] == 0.0)
    np.testing.assert_array_equal(y[pad:-pad], x)


def test_gain_is_six_decibels_each_way():
    x = voiced(1.0) * 0.2  # peak well under the headroom
    assert applied_gain_db(x, EDITS["gain_up"](x, RATE)) == pytest.approx(6.0, abs=0.01)
    assert applied_gain_db(x, EDITS["gain_down"](x, RATE)) == pytest.approx(-6.0, abs=0.01)


def test_gain_up_skips_a_clip_it_would_clip_and_takes_one_just_under():
    with pytest.raises(EditSkipped, match="would clip"):
        EDITS["gain_up"](sine(440.0, amplitude=0.8), RATE)
    just = MAX_PEAK / 10 ** (6 / 20) * 0.999
    assert np.max(np.abs(EDITS["gain_up"](sine(440.0, amplitude=just), RATE))) <= MAX_PEAK


@pytest.fixture()
def voicing_rule(monkeypatch):
    """The trim edit's detector replaced by the voicing rule, which marks the synthetic voice: the trim arithmetic
    (margins, frame grid) is tested against a known speech span."""
    import seraudit.preprocessing.speech as speech

    monkeypatch.setattr(speech, "voiced_mask", speech.voicing_mask)


def test_trim_cuts_a_known_leading_and_trailing_silence_within_a_frame(voicing_rule):
    lead, speech, tail = 0.8, 1.2, 0.5
    x = np.concatenate([np.zeros(int(lead * RATE)), voiced(speech), np.zeros(int(tail * RATE))])
    start, end = speech_span(x, RATE)
    frame = int(0.032 * RATE)
    assert abs(start - (lead - TRIM_MARGIN_S) * RATE) <= frame
    assert abs(end - (lead + speech + TRIM_MARGIN_S) * RATE) <= frame
    y = EDITS["trim_silence"](x, RATE)
    np.testing.assert_array_equal(y, x[start:end])


def test_trim_skips_a_clip_without_voiced_frames(voicing_rule):
    with pytest.raises(EditSkipped, match="no voiced frame"):
        EDITS["trim_silence"](np.random.default_rng(0).normal(0, 0.1, RATE), RATE)


def test_the_null_edit_delays_one_sample_and_keeps_the_length():
    x = voiced(1.0)
    y = NULL_EDIT_FN(x, RATE)
    assert y.size == x.size and y[0] == 0.0
    np.testing.assert_array_equal(y[1:], x[:-1])
