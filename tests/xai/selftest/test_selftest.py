"""The selftest on a small slice of the shared RAVDESS copy (5 speakers x calm/sad, 77 clips, YAMNet): both plants
are caught and the unplanted run does not look planted; the figures are checked against their thresholds, not just
the words.

One run of `run_selftest` (four trainings of a YAMNet head: the control with and without GDS, the tone, the silence;
each plant's shortcut check on the 37 calm clips; two explainers on 3 clips per run) serves every test; embeddings
are cached in the session's temporary folder. About a minute on 2 cores. 37 clips keep the flip-rate intervals
apart: the tone's high-band check flipped 31/37 against 8/37 on the clean run (Wilson 95 % intervals 0.69-0.92 and
0.11-0.37).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from seraudit.xai.selftest.selftest import AUC_MIN, FLIP_SHARE, PlantOutcome, Verdict, cue_auc, run_selftest

SPEAKERS = ("01", "02", "03", "04", "05")
CALM_CLIPS = 37  # every calm clip of the 5 speakers in the 2.4 s copy
EXPLAINED = 3


@pytest.fixture(scope="module")
def result(tmp_path_factory, ravdess_dir, models_dir):
    out = tmp_path_factory.mktemp("selftest")
    return run_selftest(ravdess_dir, "ravdess", out / "runs", emotions=["calm", "sad"], speakers=SPEAKERS,
                        explained_clips=EXPLAINED, models_dir=str(models_dir), cache_dir=str(out / "cache"))


def outcome(result, plant):
    (found,) = [o for o in result.outcomes if o.plant == plant]
    return found


@pytest.mark.parametrize("plant, check", [("tone", "shortcut.high_band.yamnet"),
                                          ("silence", "shortcut.trim_silence.yamnet")])
def test_each_plant_is_caught_by_its_check_the_flips_and_the_maps(result, plant, check):
    o = outcome(result, plant)
    assert o.planted.check_id == check and o.planted.check_status == "fail" and o.beyond_control
    assert o.planted.check["n_clips"] == o.control.check["n_clips"] == CALM_CLIPS  # the same clips on both runs
    assert o.planted.check["flips"] > o.control.check["flips"]
    assert o.planted.flip_share >= FLIP_SHARE and o.planted.flip_clips == CALM_CLIPS
    assert max(o.planted.auc.values()) >= AUC_MIN and set(o.planted.auc) == {"gradcam", "occlusion"}
    assert o.planted.explained_clips == EXPLAINED
    assert o.caught


@pytest.mark.parametrize("plant", ["tone", "silence"])
def test_the_unplanted_run_does_not_look_planted(result, plant):
    o = outcome(result, plant)
    assert o.control.flip_share < FLIP_SHARE and o.control.flip_share < o.planted.flip_share
    assert all(v < AUC_MIN for v in o.control.auc.values())
    assert o.control_passes


def test_the_result_prints_one_line_per_plant_and_per_control_and_is_saved(result):
    lines = result.lines()
    assert lines[0].startswith("tone (yamnet, on calm, -10 dB re clip RMS): caught — shortcut.high_band.yamnet fail")
    assert lines[1].startswith("silence (yamnet, on calm, 1 s): caught — shortcut.trim_silence.yamnet fail")
    assert all(line.endswith("check beyond the control's flip rate") for line in lines[:2])
    assert [line.split(":")[1].split()[0] for line in lines[2:]] == ["passes", "passes"]
    saved = json.loads((result.out / "selftest.json").read_text())
    assert saved["lines"] == lines and saved["passed"] is result.passed is True


def test_cue_auc_known_answers():
    cue = np.zeros((10, 64), bool)
    cue[:, 60:62] = True
    heard = np.ones(10, bool)
    assert cue_auc(cue.astype(float), cue, heard) == 1.0
    assert cue_auc(-cue.astype(float), cue, heard) == 0.0
    assert cue_auc(np.ones((10, 64)), cue, heard) == 0.5
    heard[5:] = False  # cells on unheard frames are left out of the ranking
    map_ = cue.astype(float)
    map_[5:] = 5.0
    assert cue_auc(map_, cue, heard) == 1.0
    assert np.isnan(cue_auc(map_, np.zeros_like(cue), heard))


def verdict(flips: int, n: int, flip_share: float = 0.8, auc: float = 0.9, status: str = "fail") -> Verdict:
    return Verdict("yamnet", "shortcut.high_band.yamnet", status, flips / n if n else None, 0.2, flip_share,
                   round(flip_share * n), n,
                   {"gradcam": auc}, 3, {"flips": flips, "n_clips": n})


@pytest.mark.parametrize("planted, control, beyond", [
    ((31, 37), (8, 37), True),  # this slice's tone: Wilson 0.69-0.92 against 0.11-0.37
    ((23, 45), (16, 45), False),  # the telephone check on the 6-speaker slice: 0.37-0.65 against 0.23-0.50
    ((10, 10), (0, 0), False),  # no control clip: nothing to be beyond
])
def test_a_plant_is_caught_only_beyond_the_clean_run_and_on_all_three_criteria(planted, control, beyond):
    o = PlantOutcome("tone", "a tone", "calm", -10.0, "dB re clip RMS", verdict(*planted), verdict(*control, 0.1, 0.6))
    assert o.beyond_control is beyond and o.caught is beyond and o.control_passes
    assert not PlantOutcome("tone", "", "calm", -10.0, "", verdict(*planted, flip_share=0.49), verdict(8, 37)).caught
    assert not PlantOutcome("tone", "", "calm", -10.0, "", verdict(*planted, auc=0.79), verdict(8, 37)).caught
    assert not PlantOutcome("tone", "", "calm", -10.0, "", verdict(*planted, status="warn"), verdict(8, 37)).caught
