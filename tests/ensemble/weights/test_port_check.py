"""Checking the YAMNet port against Google's TFLite runtime."""

from __future__ import annotations

import numpy as np
import pytest

from seraudit.ensemble.backbones.yamnet import build_yamnet, keras_layer_name, load_yamnet_weights
from seraudit.ensemble.weights.port_check import (
    EMBEDDING_COSINE_BAR,
    FRONTEND_TOP1_BAR,
    TfliteYamnet,
    frame_log_mel,
    verify_yamnet,
)
from seraudit.core.errors import WeightsError


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
