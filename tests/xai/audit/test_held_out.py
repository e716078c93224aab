"""Held-out audits: a corpus clip is explained by the model of the fold that tested its speaker, never by one that
trained on it; a file outside the corpus by the final model, labelled so; a run without fold models audits in-sample.

One small synthetic corpus (3 speakers x 3 emotions x 2 harmonic tones of 1.2 s) is trained once, YAMNet and the
ensemble with an untrained VGGish; the audits explain with Grad-CAM only, under the main job's cheap settings.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from seraudit.ensemble.run import Run

SPEAKERS = ("s1", "s2", "s3")
EMOTIONS = ("neutral", "happy", "sad")
RATE = 16000


def tone(f0: float, rate_hz: float, seconds: float = 1.2, seed: int = 0) -> np.ndarray:
    """A harmonic tone whose pitch says the speaker and emotion and whose loudness swings at `rate_hz`."""
    t = np.arange(int(seconds * RATE)) / RATE
    wave = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 6)) * (0.5 + 0.5 * np.sin(2 * np.pi * rate_hz * t))
    return (0.1 * wave + np.random.default_rng(seed).normal(0, 0.003, t.size)).astype(np.float32)


def write_tone_corpus(root: Path, seconds: float = 1.2) -> list[dict]:
    """Every speaker x emotion x 2 takes as `tone` wavs under `root`, with ``manifest.csv``; returns its rows."""
    rows = []
    for si, speaker in enumerate(SPEAKERS):
        for ei, emotion in enumerate(EMOTIONS):
            for k in range(2):
                path = root / f"{speaker}_{emotion}_{k}.wav"
                sf.write(path, tone(120 + 40 * si + 60 * ei + 5 * k, 2 + 3 * ei, seconds, seed=si * 10 + ei * 2 + k), RATE)
                rows.append({"path": str(path), "label": emotion, "speaker": speaker})
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)
    return rows


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synthetic-corpus")
    write_tone_corpus(root)
    return root


@pytest.fixture(scope="module")
def run(corpus, models_dir) -> Run:
    import seraudit as sa

    return sa.train("manifest", corpus / "manifest.csv", corpus / "run", models=["ensemble", "yamnet"],
                    allow_untrained=["vggish"], models_dir=str(models_dir), download=False, progress=False,
                    cache_dir=str(corpus / "cache"), n_boot=20)


@pytest.fixture(scope="module")
def audit(run, corpus):
    import seraudit as sa

    return sa.audit(run, per_emotion=1, methods="gradcam", models=["yamnet"], out=corpus / "audit", progress=False)


def records(audit) -> list[dict]:
    return [json.loads((audit.path / entry["dir"] / "clip.json").read_text()) for entry in audit.clips]


def cv_row(run: Run, path: str, model: str) -> pd.Series:
    table = run.predictions
    return table[(table["path"].map(os.path.abspath) == os.path.abspath(path)) & (table["model"] == model)].iloc[0]


def test_every_fold_keeps_its_small_head_weights(run):
    for name in ("ensemble", "yamnet"):
        final = (run.path / "models" / name / "model.weights.h5").stat().st_size
        for fold in run.folds["folds"]:
            assert run.has_fold_model(name, fold["index"])
            kept = sum(p.stat().st_size for p in (run.path / "models" / name / "folds").glob(f"{fold['index']}.*"))
            assert kept < 1e6 and kept < final, (name, fold["index"], kept, final)  # heads, never a copy of the towers


def test_an_audited_corpus_clip_is_explained_by_a_model_that_never_trained_on_its_speaker(run, audit):
    folds = {f["index"]: f for f in run.folds["folds"]}
    assert len(audit.clips) == len(EMOTIONS)
    for record in records(audit):
        source = record["explained_by"]
        assert source["kind"] == "held-out" and source["held_out"] is True and source["model"] == "fold"
        assert "speaker not seen in training" in source["text"]
        fold = folds[source["fold"]]  # the fold plan in folds.json: its model never saw the clip's speaker
        assert record["speaker"] in fold["test_speakers"]
        assert record["speaker"] not in fold["train_speakers"] + fold["val_speakers"]
    assert audit.index["explained_by"]["counts"] == {"held-out": len(EMOTIONS)}
    assert audit.index["explained_by"]["aggregated"] == len(EMOTIONS)
    assert "per true emotion" in audit.index["selection"]  # the rule that picked the clips


def test_the_audited_prediction_is_the_clip_s_row_of_predictions_csv(run, audit):
    for record in records(audit):
        row = cv_row(run, record["path"], "yamnet")
        prediction = record["predictions"]["yamnet"]
        assert prediction["label"] == row["prediction"] and int(row["fold"]) == record["explained_by"]["fold"]
        for label, p in prediction["probabilities"].items():
            assert p == pytest.approx(row[f"p_{label}"], abs=1e-4)
        assert record["explained_by"]["cv_predictions"]["yamnet"]["label"] == row["prediction"]


def test_every_fold_s_ensemble_predicts_its_test_clips_as_cross_validation_did(run):
    for fold in run.folds["folds"]:
        path = run.predictions[(run.predictions["speaker"] == fold["test_speakers"][0])]["path"].iloc[0]
        model = run.model_for_clip("ensemble", path)
        assert model.provenance["fold"] == fold["index"]
        row = cv_row(run, path, "ensemble")
        probabilities = model.predict_clip(run.clip(path)).probabilities
        np.testing.assert_allclose(probabilities, [row[f"p_{label}"] for label in model.labels], atol=1e-4)


def test_a_file_outside_the_corpus_is_explained_by_the_final_model_and_labelled_so(run, corpus, tmp_path):
    import seraudit as sa

    outside = tmp_path / "visitor.wav"
    sf.write(outside, tone(333, 4, seed=99), RATE)
    result = sa.audit(run, [outside], methods="gradcam", models=["yamnet"], out=tmp_path / "audit", progress=False,
                      fast=True)
    [record] = records(result)
    source = record["explained_by"]
    assert source["kind"] == "outside" and source["model"] == "final" and source["fold"] is None
    assert source["text"] == "final model; not a corpus clip" and not source["held_out"] and not source["in_sample"]
    model = run.model("yamnet")
    final = dict(zip(model.labels, model.predict_clip(run.clip(outside)).probabilities))
    assert record["predictions"]["yamnet"]["probabilities"] == pytest.approx(final, abs=1e-5)


def test_a_run_without_fold_models_audits_in_sample_and_leaves_its_clips_out_of_every_aggregate(run, tmp_path):
    import seraudit as sa

    old = tmp_path / "old-run"  # a run folder as written before fold models were kept (large weights linked, not copied)
    shutil.copytree(run.path, old, ignore=shutil.ignore_patterns("folds", "audit", "report"), copy_function=os.symlink)
    old_run = Run.open(old)
    clip = run.predictions[run.predictions["model"] == "yamnet"]["path"].iloc[0]
    result = sa.audit(old_run, [clip], methods="gradcam", models=["yamnet"], out=tmp_path / "audit", progress=False,
                      fast=True)
    [record] = records(result)
    source = record["explained_by"]
    assert source["kind"] == "in-sample" and source["in_sample"] and not source["held_out"] and source["model"] == "final"
    assert result.index["explained_by"] == {**result.index["explained_by"], "counts": {"in-sample": 1}, "aggregated": 0}
    assert result.index["summary"] == {}  # no aggregate holds an in-sample clip
    page = sa.report(old_run, result, tmp_path / "report")
    assert "in-sample" in page.read_text()
    clip_pages = [p for p in page.parent.rglob("*.html") if record["id"] in p.name]
    assert clip_pages and all("in-sample" in p.read_text() for p in clip_pages)


def test_a_record_written_before_the_rule_reads_as_in_sample_when_it_is_a_corpus_clip():
    from seraudit.xai.audit.clip_identity import in_aggregates, record_source

    assert record_source({"speaker": "s1"})["kind"] == "in-sample" and not in_aggregates({"speaker": "s1"})
    assert record_source({"speaker": None})["kind"] == "outside" and in_aggregates({"speaker": None})
