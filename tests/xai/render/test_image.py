"""A reader sees where each method points on the spectrogram, and which model (trained or not) it explains."""

from __future__ import annotations

import matplotlib.image as mpimg
import numpy as np
import pytest

from seraudit.ensemble.model.trained import TrainedModel
from seraudit.preprocessing.audio import load_audio
from seraudit.preprocessing.frontend import log_mel
from seraudit.xai.render.image import (
    image_name,
    model_title,
    plot_faithfulness_curves,
    plot_overlay,
    plot_time_profiles,
)


@pytest.fixture(scope="module")
def speech_log_mel(speech_wav) -> np.ndarray:
    return log_mel(load_audio(speech_wav).waveform)


def test_overlay_png_opens_with_a_readable_size_and_a_safe_name(speech_log_mel, rng, tmp_path, make_attribution):
    signed = rng.normal(size=speech_log_mel.shape).cumsum(axis=0)  # a LIME/occlusion-like signed map
    name = image_name("speech <1>.wav", "ensemble", "lime", "overlay")
    assert name == "speech_1__ensemble__lime__overlay.png"  # the one slug rule: unsafe runs become "_"
    path = plot_overlay(make_attribution(signed, "lime"), speech_log_mel, tmp_path / name)
    overlay = mpimg.imread(path)
    assert overlay.ndim == 3 and overlay.shape[0] >= 250 and overlay.shape[1] >= 600
    assert overlay[..., :3].std() > 0.05  # a picture, not a blank canvas
    assert not list(tmp_path.glob("*.part"))


def test_non_negative_maps_render_too(speech_log_mel, tmp_path, make_attribution):
    cam = np.zeros_like(speech_log_mel)
    cam[100:150, 10:30] = 1.0  # a Grad-CAM-like map
    path = plot_overlay(make_attribution(cam, "gradcam"), speech_log_mel, tmp_path / "cam.png")
    assert mpimg.imread(path).shape[1] >= 600


def test_a_map_from_another_clip_is_refused(speech_log_mel, tmp_path, make_attribution):
    other = make_attribution(np.zeros((120, 64)), "gradcam")
    with pytest.raises(ValueError, match="pass the log-mel of the clip"):
        plot_overlay(other, speech_log_mel, tmp_path / "x.png")


def test_titles_name_the_model_and_mark_untrained_branches():
    ensemble = TrainedModel(
        name="ensemble",
        keras_model=None,
        labels=["neutral", "angry"],
        conv_layers={},
        embedding_layers={},
        branch_untrained={"yamnet": False, "vggish": True},
        fusion="late",
    )
    vggish = TrainedModel(
        name="vggish", keras_model=None, labels=["neutral"], conv_layers={}, embedding_layers={},
        branch_untrained={"vggish": True}, fusion=None,
    )  # fmt: skip
    assert "VGGish untrained" in model_title(ensemble)
    assert model_title(vggish) == "VGGish (untrained)"
    assert model_title("yamnet") == "YAMNet"


def test_one_figure_per_model_compares_every_method_in_time_and_in_faithfulness(
    speech_log_mel, rng, tmp_path, make_attribution
):
    maps = {"gradcam": np.abs(rng.normal(size=speech_log_mel.shape)), "lime": rng.normal(size=speech_log_mel.shape)}
    profile = plot_time_profiles([make_attribution(m, name) for name, m in maps.items()], tmp_path / "t.png", model="yamnet")
    assert mpimg.imread(profile).shape[1] >= 600
    fractions = np.linspace(0, 1, 11)
    curves = {name: {"fractions": fractions, "deletion": 1 - fractions, "insertion": fractions,
                     "random_deletion": 1 - fractions**0.5, "random_insertion": fractions**2} for name in maps}
    image = mpimg.imread(plot_faithfulness_curves(curves, tmp_path / "f.png", model="yamnet"))
    assert image.shape[0] >= 250 and image[..., :3].std() > 0.05
    with pytest.raises(ValueError, match="at least one method"):
        plot_faithfulness_curves({}, tmp_path / "none.png", model="yamnet")
