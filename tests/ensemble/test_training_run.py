"""The user's story: train on a tiny RAVDESS slice, evaluate, reload the models, predict; interrupted runs leave nothing loadable."""

import argparse
import json

import numpy as np
import pytest

from seraudit.commands import compare, evaluate, predict, train
from seraudit.errors import RunError, WeightsError


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
def tiny_run(tmp_path_factory, ravdess_dir, models_dir, cache_dir):
    out = tmp_path_factory.mktemp("runs") / "tiny"
    _cli(["train", "--corpus", "ravdess", "--data", str(ravdess_dir), "--models", "ensemble,yamnet,vggish,egemaps",
          "--models-dir", str(models_dir), "--allow-untrained", "vggish", "--no-download", "--max-clips", "24",
          "--epochs", "8", "--bootstrap", "100", "--cache-dir", str(cache_dir), "--quiet", "--out", str(out)])
    return out


def test_evaluate_json_reports_uar_per_model_and_ensemble_comparisons(tiny_run, capsys):
    capsys.readouterr()
    _cli(["evaluate", str(tiny_run), "--json"])
    results = json.loads(capsys.readouterr().out)
    assert set(results["models"]) == {"ensemble", "yamnet", "vggish", "egemaps"}
    for m in results["models"].values():
        assert 0 <= m["uar"]["mean"] <= 100 and m["uar"]["std"] >= 0
    assert results["models"]["vggish"]["untrained"] == ["vggish"]
    assert "untrained" in results["models"]["vggish"]["display_name"]
    assert "untrained" in results["models"]["ensemble"]["display_name"]
    assert results["models"]["yamnet"]["untrained"] == []
    pairs = {(c["a"], c["b"]) for c in results["comparisons"]}
    assert {("ensemble", "yamnet"), ("ensemble", "vggish")} <= pairs
    for c in results["comparisons"]:
        assert c["ci_low"] <= c["uar_difference"] <= c["ci_high"] and 0 <= c["p_value"] <= 1
    folds = results["folds"]["folds"]
    assert len(folds) == 6
    for f in folds:
        assert not set(f["test_speakers"]) & (set(f["train_speakers"]) | set(f["val_speakers"]))


def test_saved_models_reload_and_predict_identically(tiny_run, ravdess_clips):
    from ensemble.trained import load_trained_model
    from preprocessing.pipeline import clip_features

    clip = clip_features(ravdess_clips[0])
    for name in ("ensemble", "yamnet", "vggish"):
        first = load_trained_model(tiny_run, name)
        second = load_trained_model(tiny_run, name)
        np.testing.assert_array_equal(first.predict_patches(clip.patches.data), second.predict_patches(clip.patches.data))
        pred = first.predict_clip(clip)
        assert pred.label in first.labels and pred.probabilities.sum() == pytest.approx(1.0)
        prov = first.provenance
        assert prov["corpus"] == "ravdess" and prov["seeds"]["global"] == 0 and "tensorflow" in prov["library_versions"]
        assert prov["weights"]["yamnet" if name != "vggish" else "vggish"]["sha256"] or name == "vggish"
    assert load_trained_model(tiny_run, "vggish").display_name == "VGGish (untrained)"
    assert load_trained_model(tiny_run, "ensemble").fusion == "late"


def test_predict_prints_one_row_per_clip_and_model(tiny_run, ravdess_clips, capsys):
    capsys.readouterr()
    _cli(["predict", str(tiny_run), str(ravdess_clips[0]), "--format", "json", "--quiet", "--models", "yamnet,egemaps"])
    records = json.loads(capsys.readouterr().out)
    assert [r["model"] for r in records] == ["yamnet", "egemaps"]
    assert all(sum(r["probabilities"].values()) == pytest.approx(1.0, abs=1e-6) for r in records)


def test_compare_prints_the_ensemble_vs_single_table(tiny_run, capsys):
    capsys.readouterr()
    _cli(["compare", str(tiny_run)])
    text = capsys.readouterr().out
    assert "RAVDESS (2.4 s)" in text and "vs YAMNet" in text and "VGGish (untrained)" in text and "p = " in text


def test_second_run_with_other_head_settings_reuses_the_embedding_cache(tiny_run, cache_dir, ravdess_dir):
    from ensemble.embedding_cache import EmbeddingCache
    from ensemble.experiment import resolve_sources
    from ensemble.training import select_clips
    from preprocessing.corpora import read_corpus

    files_before = sorted(p.name for p in cache_dir.iterdir())
    table = select_clips(read_corpus("ravdess", ravdess_dir), 24)
    sources = resolve_sources(["yamnet"], str(ravdess_dir.parents[1] / "models"), (), download=False)
    cache = EmbeddingCache(cache_dir, progress=False)
    emb = cache.embeddings(table["path"].tolist(), "yamnet", sources["yamnet"], 0)
    assert cache.misses == [] and emb.shape[1] == 1024
    assert sorted(p.name for p in cache_dir.iterdir()) == files_before


def test_an_interrupted_write_leaves_no_loadable_model(tmp_path, tiny_run):
    from ensemble.run_dir import write_run
    from ensemble.trained import load_trained_model

    class Exploding:
        def save_weights(self, path):
            path.write_bytes(b"half")
            raise KeyboardInterrupt("killed while saving")

    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        write_run(out, {}, [], __import__("pandas").DataFrame(), {}, {"yamnet": (Exploding(), {}, {})}, ["a"], None)
    assert not out.exists() and not list(tmp_path.iterdir())
    with pytest.raises(RunError, match="does not exist"):
        load_trained_model(out, "yamnet")


def test_missing_vggish_weights_stop_training_unless_untrained_is_allowed(tmp_path, ravdess_dir, models_dir):
    with pytest.raises(WeightsError):
        _cli(["train", "--corpus", "ravdess", "--data", str(ravdess_dir), "--models", "vggish", "--models-dir",
              str(models_dir), "--no-download", "--max-clips", "4", "--quiet", "--out", str(tmp_path / "run")])
    assert not (tmp_path / "run").exists()


def test_gds_keep_mask_from_cached_correlations_matches_the_pipeline(tiny_run, cache_dir, ravdess_clips):
    from ensemble.embedding_cache import EmbeddingCache, GdsSettings
    from preprocessing.pipeline import clip_features

    paths = [str(p) for p in ravdess_clips[:4]]
    patches = EmbeddingCache(cache_dir, progress=False).patches(paths)
    for threshold in (0.3, 0.8, 0.99):
        expected = np.concatenate([clip_features(p, gds_threshold=threshold).selection.keep for p in paths])
        np.testing.assert_array_equal(patches.keep(GdsSettings(True, threshold)), expected)
    assert patches.keep(GdsSettings(False)).all()
