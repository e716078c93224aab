"""The stage over clips x models: cached synthesis, notes for clips without pitch, held-out models, audio, the JSON.

The run is a stand-in with the `Run` calls the stage makes and a model that reads only loudness
(p("loud") rises with the clip's RMS level): its answer is known, so the stage must find that
intensity is used and F0 and tilt (both level-matched) are not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from seraudit.xai.interventions import stage
from seraudit.xai.interventions.resynthesis import Intervention

from .conftest import RATE, voiced

PLAN = (Intervention("identity", 0.0), Intervention("f0_level", 4.0), Intervention("f0_range", 0.0),
        Intervention("intensity", -6.0), Intervention("intensity", 6.0), Intervention("tilt", 3.0))


@dataclass
class Prediction:
    probabilities: np.ndarray


class LoudnessModel:
    """p("loud") = sigmoid(RMS dBFS + 20): a model that uses loudness and nothing else."""

    labels = ["quiet", "loud"]
    branch_untrained = {"yamnet": False}
    untrained_branches: list = []

    def __init__(self, name: str, fold):
        self.name, self.fold, self.display_name = name, fold, name

    def predict_clip(self, clip):
        level = 20 * np.log10(np.sqrt(np.mean(np.square(clip))) + 1e-12)
        p = 1 / (1 + np.exp(-(level + 20.0)))
        return Prediction(np.array([1 - p, p]))


class FakeRun:
    def __init__(self, root: Path, table: pd.DataFrame):
        self.path = root / "run"
        self.table = table
        self.model_names = ["yamnet"]
        self.loaded = []

    def corpus_row(self, path):
        return self.table[self.table["path"] == str(path)]

    def fold_of(self, speaker):
        return {"s1": 0, "s2": 1}.get(speaker)

    def has_fold_model(self, name, fold):
        return fold is not None

    def model(self, name, fold=None, *, base=None):
        self.loaded.append((name, fold))
        return LoudnessModel(name, fold)

    def model_for_clip(self, name, path, *, base=None):
        rows = self.corpus_row(path)
        fold = self.fold_of(rows["speaker"].iloc[0]) if len(rows) else None
        return self.model(name, fold) if fold is not None else base

    def clip(self, source):
        waveform, rate = source
        assert rate == RATE
        return np.asarray(waveform, dtype=np.float64)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, noise):
    root = tmp_path_factory.mktemp("interventions")
    rows = []
    for i, (speaker, label, f0, gain) in enumerate([("s1", "loud", 140.0, 1.0), ("s2", "quiet", 210.0, 0.3)]):
        path = root / f"voice{i}.wav"
        sf.write(path, voiced(f0=f0, seed=i) * gain, RATE, subtype="FLOAT")
        rows.append({"path": str(path), "label": label, "speaker": speaker})
    sf.write(root / "hiss.wav", noise, RATE, subtype="FLOAT")
    rows.append({"path": str(root / "hiss.wav"), "label": "quiet", "speaker": "s2"})
    (root / "broken.wav").write_bytes(b"not audio")
    return root, pd.DataFrame(rows)


@pytest.fixture(scope="module")
def first(corpus):
    root, table = corpus
    run = FakeRun(root, table)
    paths = list(table["path"]) + [str(root / "broken.wav")]
    result = stage.run_interventions(run, paths, out=root / "out", plan=PLAN, cache_dir=root / "cache", n_boot=200)
    return run, result


def clip(result, name):
    return next(c for c in result["clips"] if Path(c["path"]).name == name)


def test_a_clip_without_pitch_gets_its_note_and_no_pitch_variants_and_the_batch_goes_on(first):
    _, result = first
    hiss = clip(result, "hiss.wav")
    assert any("too little pitch" in note for note in hiss["notes"])
    pitch = [v for v in hiss["variants"] if v["feature"] in ("f0_level", "f0_range")]
    assert pitch and all(v["skipped"] and not v["accepted"] and "too little pitch" in v["reason"] for v in pitch)
    assert any(v["accepted"] for v in hiss["variants"] if v["feature"] == "intensity")
    assert [f["stage"] for f in result["failures"]] == ["load"] and "broken.wav" in result["failures"][0]["clip"]
    assert result["counts"]["f0_level_+4"]["skipped"] == 1


def test_every_clip_is_scored_by_its_held_out_fold_model(first):
    run, result = first
    assert clip(result, "voice0.wav")["predictions"]["yamnet"]["explained_by"]["fold"] == 0
    assert clip(result, "voice1.wav")["predictions"]["yamnet"]["explained_by"]["fold"] == 1
    assert sorted(run.loaded, key=str) == [("yamnet", 0), ("yamnet", 1), ("yamnet", None)]  # the final model once, each fold's model once


def test_the_loudness_model_uses_intensity_and_not_f0_or_tilt(first):
    _, result = first
    used = {r["feature"]: r["used"] for r in result["dose_response"]["used"]}
    assert used == {"intensity": True, "f0_level": False, "f0_range": False, "tilt": False}
    loud = next(r for r in result["dose_response"]["curves"]
                if r["emotion"] == "all" and r["feature"] == "intensity" and r["strength"] == 6.0)
    assert loud["mean_dp"] != 0


def test_kept_variants_are_written_with_their_change_level_and_parameters(first, corpus):
    root, _ = corpus
    _, result = first
    voice = clip(result, "voice0.wav")
    shift = next(v for v in voice["variants"] if v["key"] == "f0_level_+4")
    assert shift["accepted"], shift["reason"]
    assert shift["change"]["f0_level_st"] == pytest.approx(4.0, abs=0.5)
    samples, rate = sf.read(root / "out" / shift["audio"])
    assert rate == RATE and samples.size == pytest.approx(voice["duration_s"] * RATE, abs=2)
    assert shift["level"]["rms_dbfs"] == pytest.approx(20 * np.log10(np.sqrt(np.mean(samples ** 2))), abs=0.1)
    assert shift["params"]["feature"] == "f0_level" and shift["params"]["strength"] == 4.0
    assert "praat-parselmouth" in shift["params"]["versions"] and shift["params"]["praat"]["to_manipulation"]
    assert (root / "out" / voice["audio"]["original"]).is_file() and (root / "out" / voice["audio"]["identity"]).is_file()
    on_disk = json.loads((root / "out" / stage.RESULT_FILE).read_text())
    assert on_disk["counts"] == result["counts"]


def test_a_second_call_recomputes_nothing(first, corpus, monkeypatch):
    root, table = corpus
    _, result = first
    assert result["cache"]["synthesised"] > 0 and result["cache"]["reused"] == 0

    def refuse(*args, **kwargs):
        raise AssertionError("recomputed a cached variant or measure")

    for name in ("apply_plan", "measure", "egemaps_measures"):
        monkeypatch.setattr(stage, name, refuse)
    again = stage.run_interventions(FakeRun(root, table), list(table["path"]), out=root / "out2", plan=PLAN,
                                    cache_dir=root / "cache", n_boot=200)
    assert again["cache"]["synthesised"] == 0 and again["cache"]["measured"] == 0 and again["cache"]["reused"] > 0
    assert again["counts"] == result["counts"]
    assert again["dose_response"]["used"] == result["dose_response"]["used"]
