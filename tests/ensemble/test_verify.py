"""Checking the YAMNet port against Google's TFLite runtime, and the `seraudit check-weights` report of it."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from seraudit.ensemble.backbones.yamnet import build_yamnet, keras_layer_name, load_yamnet_weights
from seraudit.ensemble.verify import (
    EMBEDDING_COSINE_BAR,
    FRONTEND_TOP1_BAR,
    TfliteYamnet,
    frame_log_mel,
    verify_yamnet,
)
from seraudit.cli.commands import check_weights
from seraudit.core.errors import CorpusError, WeightsError

SHARED_YAMNET_SHA256 = "2d5e1e0577beb1fd3b6ba4cf89a7b8813340added8dae72f64fe8cd18731dd4a"


@pytest.fixture(scope="module")
def report(yamnet_tflite, ravdess_clips):
    """verify_yamnet on 20 RAVDESS clips, building and loading the port from the TFLite file itself."""
    return verify_yamnet(yamnet_tflite, yamnet_tflite, ravdess_clips)


def test_port_meets_every_bar_on_twenty_ravdess_clips(report, ravdess_clips):
    assert report["clips"] == len(ravdess_clips) >= 20
    assert report["patches"] >= 4 * 20  # a 2.4 s clip gives YAMNet 4 patches
    assert report["embedding_cosine_mean"] >= EMBEDDING_COSINE_BAR
    assert report["top1_agreement"] == 1.0
    assert report["frontend_top1_agreement"] >= FRONTEND_TOP1_BAR
    assert report["frontend_patches"] >= 3 * 20  # patches at 0, 0.48, 0.96 s line up with YAMNet's
    assert 0.98 <= report["frontend_pearson"] <= 1.0
    assert report["passed"]
    assert [entry["clip"] for entry in report["per_clip"]] == [str(clip) for clip in ravdess_clips]


def test_a_broken_port_fails_the_check(yamnet_tflite, ravdess_clips):
    """Flipping the first kernel in time (as a wrong weight layout would) is caught."""
    model = build_yamnet()
    load_yamnet_weights(model, yamnet_tflite)
    first = model.get_layer(keras_layer_name("layer1/conv"))
    kernel, bias = first.get_weights()
    first.set_weights([kernel[::-1, ::-1], bias])
    broken = verify_yamnet(yamnet_tflite, yamnet_tflite, ravdess_clips[:3], model=model)
    assert broken["embedding_cosine_mean"] < EMBEDDING_COSINE_BAR
    assert not broken["passed"]


def test_patches_are_framed_like_yamnet():
    log_mel = np.arange(240 * 64, dtype=np.float32).reshape(240, 64)
    patches = frame_log_mel(log_mel)
    assert patches.shape == (4, 96, 64)  # starts 0, 48, 96, 144
    np.testing.assert_array_equal(patches[1], log_mel[48:144])
    assert frame_log_mel(log_mel[:95]).shape == (0, 96, 64)


def test_missing_reference_model_is_named(tmp_path):
    with pytest.raises(WeightsError, match="missing.tflite"):
        TfliteYamnet(tmp_path / "missing.tflite")


# --------------------------------------------------------------------------- the command


def _run_command(argv: list[str], capsys) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="seraudit")
    check_weights.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["check-weights", *argv])
    code = args.func(args)
    return code, capsys.readouterr().out


def test_check_weights_reports_yamnet_agreement_and_vggish_status(
    models_dir, ravdess_clips, capsys, tmp_path, monkeypatch
):
    monkeypatch.setenv("SERAUDIT_CACHE_DIR", str(tmp_path / "cache"))  # no stray cached weights
    clips = [str(clip) for clip in ravdess_clips[:2]]
    code, out = _run_command(["--json", "--models-dir", str(models_dir), "--clips", *clips], capsys)
    result = json.loads(out)
    yamnet = result["yamnet"]
    assert code == 0 and yamnet["passed"]
    assert yamnet["clips"] == 2 and yamnet["top1_agreement"] == 1.0
    assert yamnet["embedding_cosine_mean"] >= EMBEDDING_COSINE_BAR
    assert yamnet["weights"].endswith("yamnet/yamnet.tflite") and yamnet["sha256"] == SHARED_YAMNET_SHA256
    for key in ("frontend_top1_agreement", "frontend_pearson"):
        assert 0.9 <= yamnet[key] <= 1.0
    # No VGGish network weights exist here: the report says so and where to get them.
    assert result["vggish"]["status"].startswith("missing: ")
    assert "vggish_model.ckpt" in result["vggish"]["status"]


def test_clips_default_to_the_first_ravdess_files(shared_dir, monkeypatch):
    monkeypatch.setenv("SERAUDIT_SHARED", str(shared_dir))
    clips = check_weights.collect_clips(None, 5)
    assert len(clips) == 5 and all(clip.suffix == ".flac" for clip in clips)
    assert clips == sorted((shared_dir / "data" / "ravdess").rglob("*.flac"))[:5]


def test_bad_clip_path_is_named(tmp_path):
    with pytest.raises(CorpusError, match="nothing-here"):
        check_weights.collect_clips([tmp_path / "nothing-here"], 20)
