"""A run folder opened once: its records read back as written, a missing or half run names the folder and the fix."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seraudit.core.errors import RunError
from seraudit.ensemble.run import Run, write_run
from seraudit.preprocessing.gds import DEFAULT_GDS_THRESHOLD

LABELS = ["neutral", "happy"]


class FakeKerasModel:
    """Stands in for a Keras model: `write_run` only asks it to save its weights."""

    def save_weights(self, path: Path) -> None:
        path.write_bytes(b"weights")


def predictions() -> pd.DataFrame:
    return pd.DataFrame({
        "path": ["/data/a.wav", "/data/b.wav"], "model": "yamnet", "label": ["1", "happy"],
        "prediction": ["1", "neutral"], "speaker": ["01", "02"], "fold": [0, 1], "p_neutral": [0.7, 0.6],
    })


def write_tiny_run(out: Path, gds: dict | None = None, egemaps=None) -> Path:
    info = {"settings": {"corpus": "ravdess", "seed": 3}, "corpus": "ravdess", "labels": LABELS,
            "n_clips": np.int64(2), "models": {"yamnet": {}}}
    if gds is not None:
        info["gds"] = gds
    folds = {"corpus": "ravdess", "folds": [{"index": 0, "test_speakers": ["01"]}]}
    results = {"labels": LABELS, "models": {"yamnet": {"uar": {"mean": np.float32(50.0)}}},
               "corpus_summary": {"n_clips": 2}, "gds_ablation": None}
    models = {"yamnet": (FakeKerasModel(), {"name": "yamnet"}, {"model": "yamnet"})}
    return write_run(out, info, folds, predictions(), results, models, LABELS, egemaps)


def test_a_written_run_reads_back_every_record(tmp_path):
    run = Run.open(write_tiny_run(tmp_path / "run", gds={"enabled": True, "threshold": 0.25}))
    assert run.settings == {"corpus": "ravdess", "seed": 3}
    assert run.provenance["n_clips"] == 2 and run.provenance["labels"] == LABELS  # numpy values stored as numbers
    assert run.folds["folds"][0]["test_speakers"] == ["01"]
    assert run.results["models"]["yamnet"]["uar"]["mean"] == 50.0
    assert run.model_names == ["yamnet"] and not run.has_egemaps
    assert run.gds_threshold == 0.25
    table = run.predictions
    assert list(table["label"]) == ["1", "happy"] and list(table["speaker"]) == ["01", "02"]  # names stay text
    assert table["fold"].tolist() == [0, 1]


def test_write_run_leaves_no_temporary_file(tmp_path):
    write_tiny_run(tmp_path / "run")
    write_tiny_run(tmp_path / "run")  # replacing a run is atomic too
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert not [p for p in (tmp_path / "run").rglob("*") if p.name.endswith(".part")]


def test_gds_threshold_follows_what_the_run_trained_with(tmp_path):
    assert Run.open(write_tiny_run(tmp_path / "off", gds={"enabled": False, "threshold": 0.3})).gds_threshold == -math.inf
    assert Run.open(write_tiny_run(tmp_path / "none")).gds_threshold == DEFAULT_GDS_THRESHOLD


@pytest.mark.parametrize("missing", ["run.json", "predictions.csv", "results.json", "folds.json"])
def test_an_incomplete_run_names_the_folder_and_how_to_train_one(tmp_path, missing):
    run_dir = write_tiny_run(tmp_path / "run")
    (run_dir / missing).unlink()
    with pytest.raises(RunError, match=re.escape(f'{missing}); train one with `seraudit.train(..., out="{run_dir}")`')):
        Run.open(run_dir)


def test_a_missing_folder_says_how_to_train_one(tmp_path):
    with pytest.raises(RunError, match=f"{tmp_path / 'nowhere'} does not exist.*seraudit.train\\(.*out="):
        Run.open(tmp_path / "nowhere")


def test_an_unreadable_record_names_the_file(tmp_path):
    run_dir = write_tiny_run(tmp_path / "run")
    (run_dir / "results.json").write_text("{not json")
    run = Run.open(run_dir)
    with pytest.raises(RunError, match="results.json is not readable JSON"):
        run.results


def test_the_egemaps_baseline_loads_with_its_labels(tmp_path):
    from sklearn.dummy import DummyClassifier

    fitted = DummyClassifier().fit(np.zeros((2, 3)), [0, 1])
    run = Run.open(write_tiny_run(tmp_path / "run", egemaps=(fitted, {"model": "egemaps"})))
    assert run.has_egemaps and run.model_names == ["yamnet"]  # the baseline is no Keras model
    pipeline, labels = run.egemaps_model()
    assert labels == LABELS and pipeline.predict(np.zeros((1, 3))).tolist() == [0]
    with pytest.raises(RunError, match=re.escape('no eGeMAPS model; train with `models=[..., "egemaps"]`')):
        Run.open(write_tiny_run(tmp_path / "plain")).egemaps_model()


def test_a_run_folder_written_by_an_earlier_version_still_opens(tmp_path):
    """Earlier versions wrote the same files with a plain `json.dumps` (values of unknown type as strings)."""
    run_dir = tmp_path / "old"
    (run_dir / "models" / "vggish").mkdir(parents=True)

    def dump(name: str, data) -> None:
        (run_dir / name).write_text(json.dumps(data, indent=2, sort_keys=True, allow_nan=False, default=str) + "\n")

    dump("run.json", {"corpus": "emodb", "data": "/data/emodb", "gds": {"enabled": True, "threshold": None},
                      "labels": LABELS, "settings": {"corpus": "emodb", "models": ["vggish"]}, "models": {}})
    dump("folds.json", {"corpus": "emodb", "folds": [], "final": {}})
    dump("results.json", {"labels": LABELS, "models": {}, "comparisons": []})
    (run_dir / "predictions.csv").write_text("path,model,label,prediction,speaker,fold\n/x.wav,vggish,happy,happy,03,0\n")
    for name in ("config.json", "labels.json", "provenance.json", "model.weights.h5"):
        (run_dir / "models" / "vggish" / name).write_text("{}")
    run = Run.open(run_dir)
    assert run.settings["models"] == ["vggish"] and run.model_names == ["vggish"]
    assert run.gds_threshold == DEFAULT_GDS_THRESHOLD  # a threshold of null falls back to the default
    assert run.predictions.loc[0, "speaker"] == "03"


def test_asking_for_models_the_run_lacks_names_them_all_and_what_it_holds(tmp_path):
    run = Run.open(write_tiny_run(tmp_path / "run"))
    with pytest.raises(RunError, match=rf"{run.path} has no model\(s\) ensemble, vggish \(it holds: yamnet\); pass `models`"):
        run.models(["ensemble", "yamnet", "vggish"])
    assert run.models([]) == []


def settings(**changes):
    from seraudit.ensemble.training.settings import TrainSettings

    return TrainSettings(**{"corpus": "ravdess", "data": "/data/ravdess", "models": ["yamnet"], "seed": 3, **changes})


def write_trained_with(out: Path, trained) -> Path:
    run_dir = write_tiny_run(out)
    info = json.loads((run_dir / "run.json").read_text())
    (run_dir / "run.json").write_text(json.dumps({**info, "settings": trained.to_dict()}))
    return run_dir


def test_a_run_is_reused_only_when_trained_with_the_same_deciding_settings(tmp_path):
    run_dir = write_trained_with(tmp_path / "run", settings(allow_untrained=("vggish",)))
    assert Run.reusable(run_dir, settings(allow_untrained=("vggish",))).path == run_dir
    # Progress bars, bootstrap size and the command line do not change the models.
    assert Run.reusable(run_dir, settings(allow_untrained=("vggish",), progress=False, n_boot=10, command_line=["x"]))
    for other in (dict(seed=4), dict(models=["yamnet", "egemaps"]), dict(max_clips=24), dict(fusion="feature"),
                  dict(allow_untrained=()), dict(data="/data/other"), dict(layers={"yamnet": ("layer14",)})):
        assert Run.reusable(run_dir, settings(**{"allow_untrained": ("vggish",), **other})) is None, other


def test_a_run_from_before_the_layer_search_is_not_reused(tmp_path):
    run_dir = write_trained_with(tmp_path / "run", settings())
    info = json.loads((run_dir / "run.json").read_text())
    del info["settings"]["layers"]  # what runs trained before heads chose their layers recorded
    (run_dir / "run.json").write_text(json.dumps(info))
    assert Run.reusable(run_dir, settings()) is None


def test_a_run_from_before_the_report_facts_is_not_reused(tmp_path):
    run_dir = write_trained_with(tmp_path / "run", settings())
    results = json.loads((run_dir / "results.json").read_text())
    del results["corpus_summary"], results["gds_ablation"]  # what runs trained before recorded
    (run_dir / "results.json").write_text(json.dumps(results))
    assert Run.reusable(run_dir, settings()) is None


def test_no_run_or_half_a_run_is_never_reused(tmp_path):
    assert Run.reusable(tmp_path / "nowhere", settings()) is None
    run_dir = write_trained_with(tmp_path / "run", settings())
    (run_dir / "folds.json").unlink()
    assert Run.reusable(run_dir, settings()) is None


@pytest.mark.slow
def test_a_saved_model_loads_back_predicting_the_same(tmp_path, ravdess_clips):
    from seraudit.ensemble.model.graph import build_model
    from seraudit.ensemble.model.trained import TrainedModel
    from seraudit.preprocessing.pipeline import clip_features

    config = {"name": "yamnet", "head": {}, "branch_untrained": {"yamnet": True}}
    built = build_model(config, n_classes=len(LABELS))
    saved = TrainedModel(name="yamnet", keras_model=built.keras_model, labels=LABELS, conv_layers=built.conv_layers,
                         embedding_layers=built.embedding_layers, branch_untrained={"yamnet": True}, fusion=None)
    run_dir = write_run(tmp_path / "run", {"labels": LABELS}, {}, predictions(), {}, {"yamnet": (built.keras_model, config, {})},
                        LABELS, None)
    loaded = Run.open(run_dir).model("yamnet")
    [again] = Run.open(run_dir).models(["yamnet"])
    clip = clip_features(ravdess_clips[0])
    assert loaded.display_name == "YAMNet (untrained)"
    np.testing.assert_allclose(loaded.predict_clip(clip).probabilities, saved.predict_clip(clip).probabilities, atol=1e-6)
    np.testing.assert_allclose(again.predict_clip(clip).probabilities, saved.predict_clip(clip).probabilities, atol=1e-6)
    with pytest.raises(RunError, match="no complete model 'vggish'.*models in this run: yamnet"):
        Run.open(run_dir).model("vggish")


# --- fold models: what each cross-validation fold learned, kept beside the final model --------------------------------
FOLDS = {"corpus": "ravdess", "folds": [{"index": 0, "train_speakers": ["02"], "val_speakers": [], "test_speakers": ["01"]},
                                        {"index": 1, "train_speakers": ["01"], "val_speakers": [], "test_speakers": ["02"]}]}


def test_a_clip_s_fold_is_the_one_that_tested_its_speaker(tmp_path):
    run_dir = write_tiny_run(tmp_path / "run")
    (run_dir / "folds.json").write_text(json.dumps(FOLDS))
    run = Run.open(run_dir)
    assert run.fold_of("01") == 0 and run.fold_of("02") == 1 and run.fold_of("99") is None and run.fold_of(None) is None
    assert not run.cross_corpus
    assert list(run.corpus_row("/data/b.wav")["speaker"]) == ["02"] and run.corpus_row("/elsewhere.wav").empty


def test_fold_weights_are_written_and_read_back_by_layer(tmp_path):
    from seraudit.ensemble.run import FoldModel, read_fold_model

    saved = FoldModel({"name": "yamnet", "labels": LABELS},
                      {"yamnet_head_standardize": [np.arange(3.0), np.ones(3)], "logits": [np.eye(3)[:, :2], np.zeros(2)]})
    run_dir = write_run(tmp_path / "run", {"labels": LABELS}, FOLDS, predictions(), {},
                        {"yamnet": (FakeKerasModel(), {"name": "yamnet"}, {})}, LABELS, None,
                        fold_models={0: {"yamnet": saved}, 1: {"yamnet": saved}})
    run = Run.open(run_dir)
    assert run.has_fold_model("yamnet", 0) and run.has_fold_model("yamnet", 1) and not run.has_fold_model("yamnet", 2)
    back = read_fold_model(run_dir / "models" / "yamnet", 1)
    assert back.config == saved.config and list(back.weights) == list(saved.weights)
    for layer, arrays in saved.weights.items():
        for a, b in zip(arrays, back.weights[layer]):
            np.testing.assert_array_equal(a, b)


def test_a_run_without_fold_weights_says_so_and_gives_the_final_model_for_a_clip(tmp_path):
    run = Run.open(write_tiny_run(tmp_path / "run"))  # like a run written before fold models were kept
    assert not run.has_fold_model("yamnet", 0)
    with pytest.raises(RunError, match="kept no weights of fold 0 for model 'yamnet'"):
        run.model("yamnet", 0)


def test_the_egemaps_baseline_predicts_with_the_temperature_it_was_scored_with(tmp_path, monkeypatch):
    """`predict` gives the probabilities the out-of-fold ECE was measured on: the saved temperature applies."""
    from sklearn.dummy import DummyClassifier

    from seraudit.ensemble.evaluation.calibration import scale_probabilities
    from seraudit.ensemble.inference import prediction
    from seraudit.preprocessing import egemaps

    fitted = DummyClassifier(strategy="prior").fit(np.zeros((4, 88)), [0, 0, 0, 1])  # p = (0.75, 0.25) for any clip
    hot = Run.open(write_tiny_run(tmp_path / "hot", egemaps=(fitted, {"model": "egemaps"}, 2.0)))
    plain = Run.open(write_tiny_run(tmp_path / "plain", egemaps=(fitted, {"model": "egemaps"})))
    assert hot.egemaps_temperature == 2.0 and plain.egemaps_temperature == 1.0  # old runs saved none
    monkeypatch.setattr(egemaps, "extract_egemaps",
                        lambda paths, progress=False: pd.DataFrame(np.zeros((len(paths), 88)), index=list(paths)))
    scaled, _ = prediction._egemaps_records(hot, ["/x/a.wav"], progress=False)
    raw, _ = prediction._egemaps_records(plain, ["/x/a.wav"], progress=False)
    assert raw[0]["probabilities"] == pytest.approx({"neutral": 0.75, "happy": 0.25})
    expected = scale_probabilities(np.array([[0.75, 0.25]]), 2.0)[0]
    assert [scaled[0]["probabilities"][k] for k in LABELS] == pytest.approx(expected.tolist())
