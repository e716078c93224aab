"""The user's story: train on a tiny manifest of RAVDESS clips, evaluate, reload the models, predict; interrupted runs leave nothing loadable.

One training run (3 speakers x 4 emotions) is shared by every test that reads it.
"""

import argparse
import io
import json

import numpy as np
import pandas as pd
import pytest

from seraudit.cli.commands import compare, evaluate, predict, train
from seraudit.core.errors import RunError, WeightsError

ACTORS = ("Actor_01", "Actor_02", "Actor_03")
EMOTION_CODES = ("01", "03", "04", "05")  # neutral, happy, sad, angry


def _cli(argv):
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    for module in (train, evaluate, compare, predict):
        module.add_parser(sub)
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("embedding-cache")


@pytest.fixture(scope="session")
def tiny_manifest(tmp_path_factory, ravdess_dir):
    """A CSV manifest: 3 RAVDESS actors, one clip of each of 4 emotions (12 clips)."""
    from seraudit.preprocessing.corpora import read_corpus

    table = read_corpus("ravdess", ravdess_dir)
    table = table[table["path"].str.contains("|".join(ACTORS))]
    codes = table["path"].str.extract(r"03-01-(\d\d)-01-01-01-\d\d")[0]
    rows = table[codes.isin(EMOTION_CODES)]
    assert len(rows) == len(ACTORS) * len(EMOTION_CODES)
    out = tmp_path_factory.mktemp("manifest") / "manifest.csv"
    rows.assign(speaker=rows["speaker"].str.replace("ravdess_", "actor"))[["path", "label", "speaker"]].to_csv(out, index=False)
    return out


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, tiny_manifest, models_dir, cache_dir):
    out = tmp_path_factory.mktemp("runs") / "tiny"
    _cli(["train", "--corpus", "manifest", "--data", str(tiny_manifest), "--models", "ensemble,yamnet,vggish,egemaps",
          "--models-dir", str(models_dir), "--allow-untrained", "vggish", "--no-download",
          "--bootstrap", "100", "--cache-dir", str(cache_dir), "--quiet", "--out", str(out)])
    return out


def test_evaluate_json_reports_uar_per_model_and_ensemble_comparisons(tiny_run, capsys):
    capsys.readouterr()
    _cli(["evaluate", str(tiny_run), "--json"])
    results = json.loads(capsys.readouterr().out)
    assert set(results["models"]) == {"ensemble", "yamnet", "vggish", "egemaps"}
    for m in results["models"].values():
        assert 0 <= m["uar"]["mean"] <= 100 and m["uar"]["std"] >= 0
        assert m["uar"]["mean"] == pytest.approx(np.mean(m["uar"]["folds"]))
    assert results["models"]["vggish"]["untrained"] == ["vggish"]
    assert "untrained" in results["models"]["vggish"]["display_name"]
    assert "untrained" in results["models"]["ensemble"]["display_name"]
    assert results["models"]["yamnet"]["untrained"] == []
    pairs = {(c["a"], c["b"]) for c in results["comparisons"]}
    assert {("ensemble", "yamnet"), ("ensemble", "vggish"), ("ensemble", "egemaps")} <= pairs
    for c in results["comparisons"]:
        assert c["ci_low"] <= c["uar_difference"] <= c["ci_high"] and 0 <= c["p_value"] <= 1
    for m in results["models"].values():  # out-of-fold calibration, raw and temperature-scaled per fold
        calibration = m["calibration"]
        assert 0 <= calibration["ece"] <= 1 and len(calibration["raw"]["bins"]) == 10
        assert set(calibration["temperatures"]) == {str(f["index"]) for f in results["folds"]["folds"]}
    fusion = results["fusion"]  # the late-fusion weights, per fold and final, the untrained branch named
    assert fusion["untrained"] == ["vggish"] and len(fusion["folds"]) == len(ACTORS)
    for weights in [f["weights"] for f in fusion["folds"]] + [fusion["final"]]:
        assert set(weights) == {"yamnet", "vggish"} and sum(weights.values()) == pytest.approx(1.0)
    folds = results["folds"]["folds"]
    assert len(folds) == len(ACTORS)
    for f in folds:
        assert f["train_speakers"] and f["test_speakers"]
        assert not set(f["test_speakers"]) & (set(f["train_speakers"]) | set(f["val_speakers"]))
        assert not set(f["train_speakers"]) & set(f["val_speakers"])


def test_the_run_records_its_corpus_and_what_gds_changes(tiny_run):
    results = json.loads((tiny_run / "results.json").read_text())
    corpus = results["corpus_summary"]
    assert corpus["n_clips"] == len(ACTORS) * len(EMOTION_CODES) and corpus["n_speakers"] == len(ACTORS)
    assert set(corpus["clips_per_emotion"].values()) == {len(ACTORS)}
    assert 2.0 < corpus["duration_s"]["min"] <= corpus["duration_s"]["max"] < 2.5  # RAVDESS clips of this copy: 2.4 s
    patches = corpus["patches"]
    assert patches["kept"] + patches["dropped"] == patches["total"] and patches["kept"] >= corpus["n_clips"]
    ablation = results["gds_ablation"]
    assert {r["model"] for r in ablation["rows"]} == {"ensemble", "yamnet", "vggish"}  # eGeMAPS has no patches
    assert ablation["layers"] == "each fold's layers, as chosen with GDS"  # only GDS differs between the two
    for row in ablation["rows"]:
        assert row["uar_with_gds"] == pytest.approx(results["models"][row["model"]]["uar"]["mean"])
        assert 0 <= row["uar_without_gds"] <= 100
        assert row["difference"] == pytest.approx(row["uar_with_gds"] - row["uar_without_gds"])


def test_no_test_clip_of_a_fold_comes_from_a_training_speaker(tiny_run):
    predictions = pd.read_csv(tiny_run / "predictions.csv")
    folds = json.loads((tiny_run / "folds.json").read_text())["folds"]
    for fold in folds:
        tested = set(predictions.loc[predictions["fold"] == fold["index"], "speaker"])
        assert tested == set(fold["test_speakers"])
    assert predictions.groupby("model")["path"].nunique().eq(len(ACTORS) * len(EMOTION_CODES)).all()


def test_saved_models_reload_and_reproduce_the_predictions_made_before_saving(tiny_run, tiny_manifest):
    from seraudit.ensemble.model.trained import load_trained_model
    from seraudit.preprocessing.pipeline import clip_features

    for name in ("ensemble", "yamnet", "vggish"):
        model = load_trained_model(tiny_run, name)
        reference = json.loads((tiny_run / "models" / name / "config.json").read_text())["reference_prediction"]
        pred = model.predict_clip(clip_features(reference["path"]))
        np.testing.assert_allclose(pred.probabilities, reference["probabilities"], atol=1e-5)
        assert pred.label in model.labels and pred.probabilities.sum() == pytest.approx(1.0)
        prov = model.provenance
        assert prov["seeds"]["global"] == 0 and "tensorflow" in prov["library_versions"]
        assert prov["pretrained"] == {b: b == "yamnet" for b in prov["pretrained"]}
    assert load_trained_model(tiny_run, "vggish").display_name == "VGGish (untrained)"
    assert load_trained_model(tiny_run, "ensemble").fusion == "late"


def test_predict_prints_one_row_per_clip_and_model(tiny_run, ravdess_clips, capsys):
    capsys.readouterr()
    _cli(["predict", str(tiny_run), str(ravdess_clips[0]), "--format", "json", "--quiet", "--models", "yamnet,egemaps"])
    records = json.loads(capsys.readouterr().out)
    assert [r["model"] for r in records] == ["yamnet", "egemaps"]
    assert all(sum(r["probabilities"].values()) == pytest.approx(1.0, abs=1e-6) for r in records)


def test_predict_csv_has_a_probability_column_per_emotion_and_the_argmax_label(tiny_run, ravdess_clips, capsys):
    from seraudit.ensemble.model.trained import load_trained_model
    from seraudit.preprocessing.pipeline import clip_features

    clips = [str(p) for p in ravdess_clips[:2]]
    capsys.readouterr()
    _cli(["predict", str(tiny_run), *clips, "--format", "csv", "--quiet", "--models", "ensemble,yamnet"])
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    labels = json.loads((tiny_run / "models" / "yamnet" / "labels.json").read_text())
    p_cols = [f"p_{lab}" for lab in labels]
    assert list(table.columns[:4]) == ["path", "model", "display_name", "label"] and set(p_cols) <= set(table.columns)
    assert len(table) == 4 and list(table["model"]) == ["ensemble", "ensemble", "yamnet", "yamnet"]
    np.testing.assert_allclose(table[p_cols].sum(axis=1), 1.0, atol=1e-3)
    assert (table["label"] == table[p_cols].idxmax(axis=1).str[2:]).all()
    assert table["display_name"].iloc[0] == "Ensemble (late fusion; VGGish untrained)"
    direct = load_trained_model(tiny_run, "yamnet").predict_clip(clip_features(clips[1]))
    np.testing.assert_allclose(table[p_cols].iloc[3].to_numpy(float), direct.probabilities, atol=1e-4)


def test_compare_prints_every_pair_of_models_and_the_fusion_weights(tiny_run, capsys):
    capsys.readouterr()
    _cli(["compare", str(tiny_run)])
    text = capsys.readouterr().out
    assert "vs YAMNet" in text and "VGGish (untrained)" in text and "p = " in text and "eGeMAPS + LR" in text
    pairs = [line for line in text.splitlines() if " vs " in line and "p = " in line]
    assert len(pairs) == 6  # 4 models: every pair once, not only the ensemble's
    assert any(line.startswith("  YAMNet vs VGGish (untrained): ") for line in pairs)
    assert "final model: yamnet " in text and "vggish " in text and "(untrained)" in text.split("final model:")[1]


def test_second_run_with_other_head_settings_reuses_the_embedding_cache(tiny_run, cache_dir, tiny_manifest, models_dir):
    from seraudit.ensemble.data.embedding_cache import EmbeddingCache
    from seraudit.ensemble.training.experiment import resolve_sources
    from seraudit.preprocessing.corpora import read_corpus

    files_before = sorted(p.name for p in cache_dir.iterdir())
    table = read_corpus("manifest", tiny_manifest)
    sources = resolve_sources(["yamnet"], str(models_dir), (), download=False)
    cache = EmbeddingCache(cache_dir, progress=False)
    emb = cache.embeddings(table["path"].tolist(), "yamnet", sources["yamnet"], 0)
    assert cache.misses == [] and emb.shape[1] == 1024
    assert sorted(p.name for p in cache_dir.iterdir()) == files_before


def test_a_run_killed_while_saving_leaves_no_model_that_loads(tmp_path):
    from seraudit.ensemble.run import write_run
    from seraudit.ensemble.model.trained import load_trained_model

    class Exploding:
        def save_weights(self, path):
            path.write_bytes(b"half")
            raise KeyboardInterrupt("killed while saving")

    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        write_run(out, {}, [], pd.DataFrame(), {}, {"yamnet": (Exploding(), {}, {})}, ["a"], None)
    assert not out.exists() and not list(tmp_path.iterdir())
    with pytest.raises(RunError, match="does not exist"):
        load_trained_model(out, "yamnet")


def test_missing_vggish_weights_stop_training_unless_untrained_is_allowed(tmp_path, tiny_manifest, models_dir):
    with pytest.raises(WeightsError):
        _cli(["train", "--corpus", "manifest", "--data", str(tiny_manifest), "--models", "vggish", "--models-dir",
              str(models_dir), "--no-download", "--quiet", "--out", str(tmp_path / "run")])
    assert not (tmp_path / "run").exists()


def test_gds_keep_mask_from_cached_correlations_matches_the_pipeline(tiny_run, cache_dir, tiny_manifest):
    from seraudit.ensemble.data.embedding_cache import EmbeddingCache
    from seraudit.preprocessing.gds import GdsSettings
    from seraudit.preprocessing.corpora import read_corpus
    from seraudit.preprocessing.pipeline import clip_features

    paths = read_corpus("manifest", tiny_manifest)["path"].tolist()
    patches = EmbeddingCache(cache_dir, progress=False).patches(paths)
    first = patches.clip_index < 2
    for threshold in (0.3, 0.8, 0.99):
        expected = np.concatenate([clip_features(p, gds_threshold=threshold).selection.keep for p in paths[:2]])
        np.testing.assert_array_equal(patches.keep(GdsSettings(True, threshold))[first], expected)
    assert patches.keep(GdsSettings(False)).all()


def test_fine_tuning_trains_the_layers_below_the_chosen_tap_keeps_the_best_epoch_and_leaves_the_bottom_ones(tiny_manifest, cache_dir, models_dir):
    from seraudit.ensemble.data.corpus_data import prepare_data
    from seraudit.ensemble.data.embedding_cache import EmbeddingCache, build_embedder
    from seraudit.ensemble.training.experiment import resolve_sources
    from seraudit.ensemble.data.folds import final_split
    from seraudit.ensemble.training.settings import FINE_TUNE_LAYERS, TrainSettings
    from seraudit.ensemble.training.trainer import Trainer
    from seraudit.preprocessing.corpora import read_corpus

    settings = TrainSettings(corpus="manifest", data=str(tiny_manifest), models=["yamnet"], fine_tune=True, fine_tune_epochs=2,
                             mixup_alpha=0.2, download=False, cache_dir=str(cache_dir), progress=False)
    sources = resolve_sources(["yamnet"], str(models_dir), (), download=False)
    table = read_corpus("manifest", tiny_manifest)
    cache = EmbeddingCache(cache_dir, progress=False)
    data = prepare_data(table, ["yamnet"], sources, settings.gds, cache, 0, False, patch_data=True)
    trainer = Trainer(settings, sources).fit(data, final_split(data.speakers))

    tuned, pretrained = trainer.full_models_["yamnet"], build_embedder("yamnet", sources["yamnet"], 0)
    history = trainer.history_["yamnet_fine_tune"]
    unfrozen = history["unfrozen"]["yamnet"]
    assert len(unfrozen) == FINE_TUNE_LAYERS["yamnet"]
    assert history["config"]["mixup_alpha"] == 0.2 and history["epochs_run"] >= 1
    tuned_names = {layer.name for layer in tuned.layers}  # the tower stops at the deepest layer the head reads
    weighted = [layer.name for layer in pretrained.layers
                if layer.weights and layer.name.startswith("yamnet") and layer.name in tuned_names]

    def moved(name):
        return max(float(np.abs(a - b).max()) for a, b in zip(tuned.get_layer(name).get_weights(), pretrained.get_layer(name).get_weights()))

    assert unfrozen == weighted[-len(unfrozen):]  # the weight layers right below the chosen tap
    # the unfrozen layers hold the best validation epoch's weights: moved, unless the start was best
    assert all((moved(name) > 1e-6) == (history["best_epoch"] > 0) for name in unfrozen)
    assert all(moved(name) == 0.0 for name in weighted if name not in unfrozen)


def test_cross_corpus_trains_on_one_corpus_and_tests_on_the_other_over_shared_emotions(tmp_path, tiny_manifest, emodb_dir, models_dir, cache_dir, capsys):
    from seraudit.preprocessing.corpora import read_corpus

    emodb = read_corpus("emodb", emodb_dir)
    emodb = emodb[emodb["speaker"].isin(["emodb_03", "emodb_08"]) & emodb["label"].isin(["happy", "sad", "boredom"])]
    emodb = emodb.groupby(["speaker", "label"]).head(1)
    test_manifest = tmp_path / "emodb.csv"
    emodb[["path", "label", "speaker"]].to_csv(test_manifest, index=False)
    out = tmp_path / "cross"
    _cli(["train", "--corpus", "manifest", "--data", str(tiny_manifest), "--models", "ensemble,yamnet",
          "--models-dir", str(models_dir), "--allow-untrained", "vggish", "--no-download", "--bootstrap", "50",
          "--cache-dir", str(cache_dir), "--quiet", "--test-corpus", "manifest", "--test-data", str(test_manifest), "--out", str(out)])
    assert "cross-corpus (happy, sad)" in capsys.readouterr().out
    predictions = pd.read_csv(out / "predictions.csv")
    assert set(predictions["label"]) == {"happy", "sad"} and set(predictions["prediction"]) <= {"happy", "sad"}
    assert set(predictions["path"]) == set(emodb.loc[emodb["label"] != "boredom", "path"])
    assert json.loads((out / "models" / "yamnet" / "labels.json").read_text()) == ["happy", "sad"]
    _cli(["evaluate", str(out), "--json"])
    results = json.loads(capsys.readouterr().out)
    assert len(results["models"]["yamnet"]["uar"]["folds"]) == 2  # one score per test speaker
    assert [(c["a"], c["b"]) for c in results["comparisons"]] == [("ensemble", "yamnet")]
    ensemble = predictions[predictions["model"] == "ensemble"]
    recalls = (ensemble["prediction"] == ensemble["label"]).groupby(ensemble["label"]).mean()
    assert results["models"]["ensemble"]["uar"]["pooled"] == pytest.approx(100 * recalls.mean())
