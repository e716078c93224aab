"""Verification: a variant is kept only when its intended change happened and nothing else moved; else its reason."""

from __future__ import annotations

import numpy as np
import pytest

from seraudit.xai.interventions.resynthesis import Intervention, apply_plan
from seraudit.xai.interventions.verification import (
    MIN_VOICED_FRAMES,
    egemaps_measures,
    measure,
    pitch_note,
    verify,
)

from .conftest import RATE


@pytest.fixture(scope="module")
def made(voice):
    plan = [Intervention("identity", 0.0), Intervention("f0_level", 4.0), Intervention("f0_range", 0.0),
            Intervention("intensity", 6.0), Intervention("tilt", 3.0), Intervention("rate", 1.25)]
    return {iv.key: x for iv, x in apply_plan(voice, RATE, plan).items()}


@pytest.fixture(scope="module")
def measured(made):
    found = {k: measure(x, RATE) for k, x in made.items()}
    for key, extra in zip(found, egemaps_measures(list(made.values()), RATE)):  # one batched openSMILE request
        found[key].update(extra)
    return found


@pytest.mark.parametrize("key,feature,strength", [("f0_level_+4", "f0_level", 4.0), ("f0_range_x0", "f0_range", 0.0),
                                                  ("intensity_+6", "intensity", 6.0), ("tilt_+3", "tilt", 3.0),
                                                  ("rate_x1.25", "rate", 1.25)])
def test_a_variant_that_made_its_change_is_kept(measured, key, feature, strength):
    verdict = verify(Intervention(feature, strength), measured[key], measured["identity"])
    assert verdict.accepted, verdict.reason
    assert verdict.reason == "" and verdict.intended["passed"]


def test_identity_passes_against_the_original(voice, measured):
    verdict = verify(Intervention("identity", 0.0), measured["identity"], measure(voice, RATE))
    assert verdict.accepted, verdict.reason


def test_a_variant_whose_change_did_not_happen_is_rejected_with_its_reason(measured):
    # The identity resynthesis passed off as a +4 semitone shift: nothing moved.
    verdict = verify(Intervention("f0_level", 4.0), measured["identity"], measured["identity"])
    assert not verdict.accepted
    assert "the intended change did not happen: F0 median change (st) +0.00 (target +4.00 ± 0.50)" in verdict.reason
    # A +2 st shift measured as +4: off by more than the tolerance.
    assert not verify(Intervention("f0_level", 2.0), measured["f0_level_+4"], measured["identity"]).accepted


def test_a_variant_that_moved_another_measure_is_rejected_with_that_measure(measured):
    # The +4 st variant passed off as a rate change of 1: its duration is right, but its F0 moved, which a rate
    # change must not do.
    verdict = verify(Intervention("rate", 1.0), measured["f0_level_+4"], measured["identity"])
    assert not verdict.accepted
    assert verdict.reason.startswith("another measure moved: F0 median change (st) +3.9"), verdict.reason


def test_a_tilt_whose_egemaps_balance_moved_the_wrong_way_is_rejected(measured):
    assert measured["tilt_+3"]["alpha_ratio_db"] > measured["identity"]["alpha_ratio_db"]  # brighter: more energy >1 kHz
    assert measured["tilt_+3"]["hammarberg_db"] < measured["identity"]["hammarberg_db"]
    swapped = dict(measured["tilt_+3"], alpha_ratio_db=measured["identity"]["alpha_ratio_db"] - 1.0)
    verdict = verify(Intervention("tilt", 3.0), swapped, measured["identity"])
    assert not verdict.accepted and "alpha ratio" in verdict.reason


def test_a_variant_above_full_scale_is_kept_and_its_files_play_attenuated_together(made, tmp_path):
    """The models hear the float signal; a peak above 0 dBFS is recorded, and the clip's files share one gain."""
    import soundfile as sf

    from seraudit.xai.interventions.stage import PLAYBACK_HEADROOM_DB, _write_flac, playback_gain_db

    loud = made["identity"] * (1.2 / np.max(np.abs(made["identity"])))  # peak +1.58 dBFS
    reference = measure(made["identity"], RATE)
    verdict = verify(Intervention("intensity", 20 * np.log10(1.2 / np.max(np.abs(made["identity"])))),
                     measure(loud, RATE), reference)
    assert verdict.accepted, verdict.reason
    peak = next(c for c in verdict.checks if c["measure"] == "peak_dbfs")
    assert peak["value"] == pytest.approx(1.58, abs=0.01) and "above full scale" in peak["text"]
    gain = playback_gain_db([made["identity"], loud])
    assert gain == pytest.approx(-1.58 - PLAYBACK_HEADROOM_DB, abs=0.01)
    for name, signal in (("identity", made["identity"]), ("loud", loud)):
        _write_flac(tmp_path / f"{name}.flac", signal, RATE, gain)
    written = {name: sf.read(tmp_path / f"{name}.flac")[0] for name in ("identity", "loud")}
    assert np.max(np.abs(written["loud"])) < 1.0  # nothing clipped
    level = {k: 20 * np.log10(np.sqrt(np.mean(v ** 2))) for k, v in written.items()}
    assert level["loud"] - level["identity"] == pytest.approx(20 * np.log10(1.2 / np.max(np.abs(made["identity"]))),
                                                             abs=0.05)  # the difference the models heard is kept
    assert playback_gain_db([made["identity"] * 0.5]) == 0.0  # a clip with headroom plays as it is


def test_a_clip_without_enough_pitch_gets_a_note_instead_of_f0_figures(noise, voice):
    found = measure(noise, RATE)
    assert found["voiced_frames"] < MIN_VOICED_FRAMES and found["f0_median_st"] is None
    note = pitch_note(found)
    assert note and "too little pitch" in note and "left out of the F0 interventions" in note
    assert pitch_note(measure(voice, RATE)) is None
    # Its non-pitch variants are still verified, without F0 checks.
    made = apply_plan(noise, RATE, [Intervention("identity", 0.0), Intervention("intensity", -6.0)])
    ident, quiet = (measure(x, RATE) for x in made.values())
    verdict = verify(Intervention("intensity", -6.0), quiet, ident)
    assert verdict.accepted, verdict.reason
    assert not any(c["measure"].startswith("f0") for c in verdict.checks)
