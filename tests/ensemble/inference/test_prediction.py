"""Predicting a user's files with a run: one record per file and model, the run's own patches, clear errors for absent models."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seraudit.core.errors import RunError
from seraudit.ensemble.inference.prediction import predict_files, predictable_models, predictions_table
from seraudit.ensemble.run import Run, write_run

LABELS = ["neutral", "happy"]


class FakeKerasModel:
    """Stands in for a Keras model: `write_run` only asks it to save its weights."""

    def save_weights(self, path: Path) -> None:
        path.write_bytes(b"weights")


def make_run(out: Path, keras_models: dict | None = None, egemaps=None, gds: dict | None = None) -> Run:
    info = {"labels": LABELS, **({"gds": gds} if gds else {})}
    return Run.open(write_run(out, info, {}, pd.DataFrame({"path": []}), {}, keras_models or {}, LABELS, egemaps))


def fitted_baseline(classes: list[int]):
    """A fitted scikit-learn classifier on the 88 eGeMAPS functionals that predicts the class priors."""
    from sklearn.dummy import DummyClassifier

    return DummyClassifier(strategy="prior").fit(np.zeros((len(classes), 88)), classes)


def test_a_model_the_run_lacks_is_named_with_what_it_holds_before_any_audio_is_read(tmp_path):
    run = make_run(tmp_path / "run", {"yamnet": (FakeKerasModel(), {"name": "yamnet"}, {})})
    for wanted in (["yamnet", "vggish"], ["nonsense"]):
        with pytest.raises(RunError, match=f"{run.path} has no model {wanted[-1]}; it has yamnet$"):
            predict_files(run, ["/no/such/file.wav"], wanted, progress=False)


def test_a_run_without_models_says_how_to_train_one(tmp_path):
    run = make_run(tmp_path / "empty")
    assert predictable_models(run) == []
    with pytest.raises(RunError, match=re.escape(f'holds no trained model; train one with `seraudit.train(..., out="{run.path}")`')):
        predict_files(run, ["/no/such/file.wav"], progress=False)


def test_the_egemaps_baseline_predicts_every_label_even_one_it_never_saw(tmp_path, ravdess_clips):
    run = make_run(tmp_path / "run", {"yamnet": (FakeKerasModel(), {"name": "yamnet"}, {})},
                   egemaps=(fitted_baseline([1, 1]), {"model": "egemaps"}))
    assert predictable_models(run) == ["yamnet", "egemaps"]
    records = predict_files(run, [str(ravdess_clips[0])], ["egemaps"], progress=False)
    assert records == [{"path": str(ravdess_clips[0]), "model": "egemaps", "display_name": "eGeMAPS + LR",
                        "label": "happy", "probabilities": {"neutral": 0.0, "happy": 1.0},
                        "speech_fraction": records[0]["speech_fraction"], "warning": "", "error": ""}]
    assert records[0]["speech_fraction"] > 0.2  # a spoken RAVDESS sentence


class LoudnessModel:
    """Stands in for a loaded `TrainedModel`: its distribution follows the clip's mean log-mel, so copies differ."""

    display_name = "Loudness"

    def predict_clip(self, clip):
        from seraudit.ensemble.model.trained import ClipPrediction

        z = float(clip.log_mel.mean()) + 6.0
        probs = np.exp([z, -z]) / np.exp([z, -z]).sum()
        keep = clip.selection.keep
        return ClipPrediction(label=LABELS[int(np.argmax(probs))], probabilities=probs, labels=LABELS,
                              patch_probabilities=np.tile(probs, (len(keep), 1)), kept=keep, used_all_patches=bool(keep.all()))


@pytest.fixture()
def loudness_run(tmp_path, monkeypatch):
    """A run holding a model `yamnet` (a `LoudnessModel`) and GDS threshold 0.9."""
    run = make_run(tmp_path / "run", {"yamnet": (FakeKerasModel(), {"name": "yamnet"}, {})}, gds={"enabled": True, "threshold": 0.9})
    monkeypatch.setattr(Run, "model", lambda self, name: LoudnessModel())
    return run


def test_without_tta_a_record_is_the_models_prediction_of_the_clip_and_nothing_more(loudness_run, ravdess_clips):
    from seraudit.preprocessing.pipeline import clip_features

    path = str(ravdess_clips[0])
    records = predict_files(loudness_run, [path], progress=False)
    assert records == predict_files(loudness_run, [path], progress=False, tta=0, seed=7)
    clip = clip_features(path, gds_threshold=0.9)
    expected = LoudnessModel().predict_clip(clip).as_dict()
    notes = {"speech_fraction": round(clip.audio.speech_fraction, 4), "warning": "", "error": ""}
    assert records == [{"path": path, "model": "yamnet", "display_name": "Loudness", **expected, **notes}]


def test_with_tta_a_record_pools_the_clip_and_its_seeded_copies_and_says_so(loudness_run, ravdess_clips):
    from seraudit.ensemble.inference.tta import clip_copies, predict_copies
    from seraudit.preprocessing.pipeline import clip_features

    paths = [str(p) for p in ravdess_clips[:2]]
    records = predict_files(loudness_run, paths, progress=False, tta=2, seed=3)
    assert [r["path"] for r in records] == paths
    for record, path in zip(records, paths):
        clip = clip_features(path, gds_threshold=0.9)
        expected = predict_copies(LoudnessModel(), clip_copies(clip, 2, 3, 0.9))
        notes = {"speech_fraction": round(clip.audio.speech_fraction, 4), "warning": "", "error": ""}
        assert record == {"path": path, "model": "yamnet", "display_name": "Loudness", **expected, "tta": 2, "tta_seed": 3,
                          **notes}
        plain = predict_files(loudness_run, [path], progress=False)[0]["probabilities"]
        assert record["probabilities"] != plain and sum(record["probabilities"].values()) == pytest.approx(1.0)
    assert predict_files(loudness_run, paths, progress=False, tta=2, seed=3) == records
    assert predict_files(loudness_run, paths, progress=False, tta=2, seed=4) != records


def test_a_negative_tta_is_refused_before_any_audio_is_read(loudness_run):
    with pytest.raises(ValueError, match="tta is a number of augmented copies per clip"):
        predict_files(loudness_run, ["/no/such/file.wav"], progress=False, tta=-1)


def test_the_egemaps_baseline_ignores_tta_and_records_that_it_did(tmp_path, ravdess_clips):
    run = make_run(tmp_path / "run", egemaps=(fitted_baseline([0, 1, 1]), {"model": "egemaps"}))
    path = str(ravdess_clips[0])
    plain, augmented = (predict_files(run, [path], progress=False, tta=n)[0] for n in (0, 2))
    assert "tta" not in plain and augmented == plain | {"tta": 0}


def test_the_table_has_one_row_per_record_and_a_probability_column_per_label():
    records = [{"path": "a.wav", "model": "yamnet", "display_name": "YAMNet", "label": "happy",
                "probabilities": {"neutral": 0.25, "happy": 0.75}},
               {"path": "a.wav", "model": "egemaps", "display_name": "eGeMAPS + LR", "label": "neutral",
                "probabilities": {"neutral": 0.5, "happy": 0.5}}]
    table = predictions_table(records)
    assert list(table.columns) == ["path", "model", "display_name", "label", "p_neutral", "p_happy"]
    assert table["p_happy"].tolist() == [0.75, 0.5]


@pytest.mark.slow
def test_a_keras_model_predicts_on_the_patches_the_run_keeps(tmp_path, ravdess_clips):
    from seraudit.ensemble.model.graph import build_model
    from seraudit.preprocessing.pipeline import clip_features

    # random weights: reading an early layer keeps the outputs clip-dependent (the deep ones vanish to a uniform answer)
    config = {"name": "yamnet", "head": {}, "taps": {"yamnet": ["layer2"]}, "branch_untrained": {"yamnet": True}}
    built = build_model(config, n_classes=len(LABELS))
    run = make_run(tmp_path / "run", {"yamnet": (built.keras_model, config, {})}, gds={"enabled": True, "threshold": 0.9})
    paths = [str(p) for p in ravdess_clips[:2]]
    records = predict_files(run, paths, progress=False)
    model = run.model("yamnet")
    assert [(r["path"], r["model"], r["display_name"]) for r in records] == [(p, "yamnet", "YAMNet (untrained)") for p in paths]
    for record, path in zip(records, paths):
        expected = model.predict_clip(clip_features(path, gds_threshold=0.9)).as_dict()
        assert record["label"] == expected["label"]
        assert record["probabilities"] == pytest.approx(expected["probabilities"], abs=1e-6)
        assert record["patches_used"] == expected["patches_used"] < expected["patches_total"]  # the run's strict GDS
    assert records[0]["probabilities"] != pytest.approx(records[1]["probabilities"], abs=1e-4)


def test_a_file_named_twice_gets_a_record_each_time_and_a_bad_one_a_failure_record(tmp_path, ravdess_clips):
    run = make_run(tmp_path / "run", egemaps=(fitted_baseline([0, 1, 1]), {"model": "egemaps"}))
    path, missing = str(ravdess_clips[0]), str(tmp_path / "absent.wav")
    records = predict_files(run, [path, missing, path], ["egemaps"], progress=False)
    assert [r["path"] for r in records] == [path, path, missing]
    assert records[0]["probabilities"] == records[1]["probabilities"] and records[0]["error"] == ""
    assert records[2]["label"] == "" and records[2]["error"].startswith(f"{missing}: no such file")
