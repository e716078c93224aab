"""Praat resynthesis: each intervention makes the change it names on a voice whose F0 is known, and nothing else."""

from __future__ import annotations

import numpy as np
import pytest

from seraudit.core.errors import AudioError
from seraudit.xai.interventions.resynthesis import DEFAULT_PLAN, Intervention, apply, apply_plan, tilt_filter
from seraudit.xai.interventions.verification import F0_TOLERANCE_ST, band_tilt, measure

from .conftest import RATE, SWING_ST


@pytest.fixture(scope="module")
def variants(voice):
    return apply_plan(voice, RATE, DEFAULT_PLAN)


@pytest.fixture(scope="module")
def measured(variants):
    return {iv.key: measure(x, RATE) for iv, x in variants.items()}


def test_the_default_plan_holds_every_feature_at_its_strengths_and_identity_first():
    assert DEFAULT_PLAN[0] == Intervention("identity", 0.0)
    keys = [iv.key for iv in DEFAULT_PLAN]
    assert keys == ["identity", "f0_level_-4", "f0_level_-2", "f0_level_+2", "f0_level_+4", "f0_range_x0",
                    "f0_range_x0.5", "f0_range_x1.5", "intensity_-6", "intensity_+6", "rate_x0.8", "rate_x1.25",
                    "tilt_-3", "tilt_+3"]


def test_identity_resynthesis_keeps_f0_and_level(voice, measured):
    original = measure(voice, RATE)
    assert measured["identity"]["f0_median_st"] == pytest.approx(original["f0_median_st"], abs=0.2)
    assert measured["identity"]["intensity_db"] == pytest.approx(original["intensity_db"], abs=0.3)
    assert measured["identity"]["duration_s"] == pytest.approx(original["duration_s"], abs=1e-3)


@pytest.mark.parametrize("shift", [-4.0, -2.0, 2.0, 4.0])
def test_an_f0_level_shift_measures_its_semitones(measured, shift):
    key = Intervention("f0_level", shift).key
    change = measured[key]["f0_median_st"] - measured["identity"]["f0_median_st"]
    assert change == pytest.approx(shift, abs=F0_TOLERANCE_ST)
    assert measured[key]["intensity_db"] == pytest.approx(measured["identity"]["intensity_db"], abs=1.0)  # level kept


def test_a_flat_contour_has_no_f0_range_and_keeps_the_median(measured):
    assert measured["identity"]["f0_range_st"] > 0.8 * 2 * SWING_ST * 0.8  # the voice swings ± 3 st
    assert measured["f0_range_x0"]["f0_range_st"] < 0.5
    assert measured["f0_range_x0"]["f0_median_st"] == pytest.approx(measured["identity"]["f0_median_st"], abs=0.5)
    ratio = measured["f0_range_x1.5"]["f0_range_st"] / measured["identity"]["f0_range_st"]
    assert ratio == pytest.approx(1.5, abs=0.2)


def test_gain_rate_and_tilt_make_their_change(measured):
    ident = measured["identity"]
    assert measured["intensity_+6"]["intensity_db"] - ident["intensity_db"] == pytest.approx(6.0, abs=0.05)
    assert measured["rate_x1.25"]["duration_s"] / ident["duration_s"] == pytest.approx(0.8, abs=0.01)
    assert measured["rate_x0.8"]["f0_median_st"] == pytest.approx(ident["f0_median_st"], abs=0.5)  # pitch kept
    assert measured["tilt_+3"]["tilt_db_per_octave"] - ident["tilt_db_per_octave"] == pytest.approx(3.0, abs=0.3)
    assert measured["tilt_+3"]["rms_dbfs"] == pytest.approx(ident["rms_dbfs"], abs=0.01)  # level restored


def test_the_tilt_filter_tilts_by_exactly_its_dose_per_octave(voice):
    assert band_tilt(tilt_filter(voice, RATE, -3.0), RATE) - band_tilt(voice, RATE) == pytest.approx(-3.0, abs=0.3)


def test_resynthesis_is_deterministic(voice, variants):
    again = apply(voice, RATE, Intervention("f0_level", 4.0))
    np.testing.assert_array_equal(again, variants[Intervention("f0_level", 4.0)])


def test_an_f0_change_of_a_clip_without_pitch_is_an_audio_error_not_a_traceback():
    silence = np.zeros(RATE)  # Praat's pitch tier of silence has no points
    made = apply_plan(silence, RATE, [Intervention("identity", 0.0), Intervention("f0_level", 2.0)])
    assert isinstance(made[Intervention("identity", 0.0)], np.ndarray)
    error = made[Intervention("f0_level", 2.0)]
    assert isinstance(error, AudioError) and "no pitch" in str(error)
    with pytest.raises(AudioError, match="no pitch"):
        apply(silence, RATE, Intervention("f0_range", 0.0))


@pytest.mark.parametrize("feature,strength", [("identity", 1.0), ("f0_range", -0.5), ("rate", 0.0), ("volume", 1.0),
                                              ("f0_level", float("nan"))])
def test_an_impossible_intervention_is_refused(feature, strength):
    with pytest.raises(ValueError):
        Intervention(feature, strength)
