"""The selftest on a small slice of the shared RAVDESS copy (6 speakers x calm/sad, YAMNet): both plants are caught
and the unplanted run does not look planted; the figures are checked against their thresholds, not just the words.

One run of `run_selftest` (three trainings of a YAMNet head, the shortcut battery and two explainers on 4 clips per
run) serves every test; embeddings are cached in the test's temporary folder.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from seraudit.xai.selftest.selftest import AUC_MIN, FLIP_SHARE, cue_auc, run_selftest

SPEAKERS = ("01", "02", "03", "04", "05", "06")


@pytest.fixture(scope="module")
def result(tmp_path_factory, ravdess_dir, models_dir):
    out = tmp_path_factory.mktemp("selftest")
    return run_selftest(ravdess_dir, "ravdess", out / "runs", emotions=["calm", "sad"], speakers=SPEAKERS,
                        models_dir=str(models_dir), cache_dir=str(out / "cache"))


def outcome(result, plant):
    (found,) = [o for o in result.outcomes if o.plant == plant]
    return found


TONE_GAP = ("the tone is followed (cue removed flips 34/45 vs 11/45 for the clean model; attribution AUC 0.94 gradcam, "
            "0.92 occlusion vs 0.62/0.66) and its telephone check fails (23/45), but the clean YAMNet head follows the "
            "telephone band by itself (16/45): the check's flip rate is not beyond the control's")


@pytest.mark.parametrize("plant, check", [
    pytest.param("tone", "shortcut.telephone.yamnet", marks=pytest.mark.xfail(strict=True, reason=TONE_GAP)),
    ("silence", "shortcut.trim_silence.yamnet")])
def test_each_plant_is_caught_by_its_check_the_flips_and_the_maps(result, plant, check):
    o = outcome(result, plant)
    assert o.planted.check_id == check and o.planted.check_status == "fail" and o.beyond_control
    assert o.planted.flip_share >= FLIP_SHARE and o.planted.flip_clips == 45  # every calm clip of the 6 speakers
    assert max(o.planted.auc.values()) >= AUC_MIN and set(o.planted.auc) == {"gradcam", "occlusion"}
    assert o.caught


@pytest.mark.parametrize("plant", ["tone", "silence"])
def test_the_unplanted_run_does_not_look_planted(result, plant):
    o = outcome(result, plant)
    assert o.control.flip_share < FLIP_SHARE and o.control.flip_share < o.planted.flip_share
    assert all(v < AUC_MIN for v in o.control.auc.values())
    assert o.control_passes


def test_the_result_prints_one_line_per_plant_and_per_control_and_is_saved(result):
    lines = result.lines()
    assert lines[0].startswith("tone (yamnet, on calm, -10 dB re clip RMS): ")  # caught or missed: see TONE_GAP
    assert lines[1].startswith("silence (yamnet, on calm, 1 s): caught")
    assert [line.split(":")[1].split()[0] for line in lines[2:]] == ["passes", "passes"]
    saved = json.loads((result.out / "selftest.json").read_text())
    assert saved["lines"] == lines and saved["passed"] is result.passed


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
