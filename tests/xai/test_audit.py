"""Auditing clips: every model x method leaves maps, sounds, pictures and metrics; a bad clip never stops the batch."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import numpy as np
import pytest
import soundfile as sf

from seraudit.core.errors import SerauditError
from seraudit.xai.attribution import Attribution
from seraudit.xai.audit import AuditSettings, ClipSpec, parse_methods, run_audit

LABELS = ["neutral", "happy", "sad", "angry"]
METHODS = ("gradcam", "gradcam++", "occlusion")


@pytest.fixture(scope="module")
def model():
    """A YAMNet-tower model with random weights (marked untrained): enough to exercise every audit step."""
    from seraudit.ensemble.fusion import build_model
    from seraudit.ensemble.trained import TrainedModel

    built = build_model({"name": "yamnet", "head": {}}, n_classes=len(LABELS))
    return TrainedModel(
        name="yamnet", keras_model=built.keras_model, labels=LABELS, conv_layers=built.conv_layers,
        embedding_layers=built.embedding_layers, branch_untrained={"yamnet": True}, fusion=None,
    )


@pytest.fixture(scope="module")
def audited(model, ravdess_clips, tmp_path_factory):
    out = tmp_path_factory.mktemp("audit")
    broken = out.parent / "broken.wav"
    broken.write_bytes(b"not audio at all")
    specs = [ClipSpec(str(ravdess_clips[0]), "neutral", "ravdess_01"), ClipSpec(str(broken)),
             ClipSpec(str(ravdess_clips[5]), "angry", "ravdess_01")]
    settings = AuditSettings(methods=METHODS, probe=False, faithfulness_steps=5, faithfulness_random=1)
    index = run_audit([model], specs, out, settings, progress=False)
    return out, index, specs, settings


def test_each_clip_model_and_method_leaves_map_sounds_overlay_and_metrics(audited):
    out, index, specs, _ = audited
    assert [c["path"] for c in index["clips"]] == [specs[0].path, specs[2].path]
    for entry in index["clips"]:
        record = json.loads((out / entry["dir"] / "clip.json").read_text())
        assert set(record["methods"]["yamnet"]) == set(METHODS)
        for method, rec in record["methods"]["yamnet"].items():
            base = out / entry["dir"]
            attribution = Attribution.load(base / rec["attribution"])
            assert attribution.method == method and attribution.clip_map.shape[1] == 64
            for kind in ("listened", "ignored"):
                audio, rate = sf.read(base / rec[kind])
                assert rate == 16000 and audio.size > 0 and np.abs(audio).max() <= 1.0
            assert (base / rec["overlay"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            metrics = rec["metrics"]
            for key in ("deletion_auc", "insertion_auc", "random_deletion_auc", "seconds"):
                assert np.isfinite(metrics[key]), (method, key)
            assert 0.0 <= metrics["deletion_auc"] <= 1.0 and 0.0 <= metrics["insertion_auc"] <= 1.0
            curves = rec["curves"]
            assert len(curves["fractions"]) == len(curves["deletion"]) == 6  # 5 steps
            assert np.trapezoid(curves["deletion"], curves["fractions"]) == pytest.approx(metrics["deletion_auc"])
        base = out / entry["dir"]
        for figure in (record["time_profile"]["yamnet"], record["faithfulness_curves"]["yamnet"]):
            image = plt.imread(base / figure)  # one summary figure per model: time profiles, faithfulness curves
            assert image.ndim == 3 and image.shape[0] > 100
        assert abs(sum(record["predictions"]["yamnet"]["probabilities"].values()) - 1.0) < 1e-5
        agreement = record["agreement"]["yamnet"]
        assert agreement["methods"] == list(METHODS) and agreement["matrix"][0][0] == pytest.approx(1.0)


def test_a_broken_clip_is_recorded_and_the_batch_goes_on(audited):
    out, index, specs, _ = audited
    assert len(index["failures"]) == 1
    failure = index["failures"][0]
    assert failure["clip"] == specs[1].path and "broken.wav" in failure["error"]
    assert not list((out / "clips").glob("broken*")), "a failed clip must leave no folder behind"
    assert not list(out.rglob("*.part")), "no temporary files may remain"


def test_summary_and_metrics_files_cover_every_model_and_method(audited):
    out, index, _, _ = audited
    assert set(index["summary"]["yamnet"]) == set(METHODS)
    assert index["summary"]["yamnet"]["gradcam"]["n_clips"] == 2
    rows = json.loads((out / "metrics.json").read_text())["rows"]
    assert len(rows) == 2 * len(METHODS)
    assert index["models"]["yamnet"]["display_name"] == "YAMNet (untrained)"


def test_second_run_reuses_the_audited_clips(audited, model):
    out, _, specs, settings = audited
    record = out / "clips" / json.loads((out / "audit.json").read_text())["clips"][0]["dir"].split("/")[-1] / "clip.json"
    before = record.stat().st_mtime_ns
    index = run_audit([model], specs, out, settings, progress=False)
    assert index["reused"] == 2 and record.stat().st_mtime_ns == before


def test_unknown_method_names_the_choices():
    with pytest.raises(SerauditError, match="unknown method.*'shap'.*gradcam"):
        parse_methods("gradcam,shap")
    assert parse_methods("gradcam,probe,lime") == (("gradcam", "lime"), True)


def _record(model: str, method: str, deletion: float, random_deletion: float) -> dict:
    metrics = {"deletion_auc": deletion, "random_deletion_auc": random_deletion, "insertion_auc": 0.5,
               "random_insertion_auc": 0.5}
    return {"methods": {model: {method: {"metrics": metrics}}}}


def test_summary_says_how_often_and_how_surely_a_map_beats_random(rng):
    from seraudit.xai.audit import summarise

    better = 0.05 + 0.02 * rng.standard_normal(40)  # a map that removes evidence faster than random on most clips
    noise = 0.03 * rng.standard_normal(40)  # a map no better than random
    records = [_record("yamnet", "good", 0.2 - g, 0.2) for g in better]
    records += [_record("yamnet", "noise", 0.2 - g, 0.2) for g in noise]
    summary = summarise(records)["yamnet"]
    good, noisy = summary["good"], summary["noise"]
    assert good["deletion_beats_random"] == pytest.approx(np.mean(better > 0))
    low, high = good["deletion_gain_ci"]
    assert 0 < low < better.mean() < high
    low, high = noisy["deletion_gain_ci"]
    assert low < 0 < high  # cannot be told from random
    assert good["insertion_gain_ci"] is None  # no spread: equal to random on every clip
    assert summarise(records[:2])["yamnet"]["good"]["deletion_gain_ci"] is None  # too few clips for an interval
