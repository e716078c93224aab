"""A reader sees where each method points on the spectrogram, and which model (trained or not) it explains."""

from __future__ import annotations

import matplotlib.image as mpimg
import numpy as np
import pytest
from matplotlib.figure import Figure

from seraudit.ensemble.model.trained import TrainedModel
from seraudit.preprocessing.audio import load_audio
from seraudit.preprocessing.frontend import log_mel
from seraudit.xai.render.image import (
    DPI,
    MEL_TICKS_HZ,
    OverlayPainter,
    band_position,
    faithfulness_figure,
    image_name,
    model_title,
    overlay_figure,
    plot_faithfulness_curves,
    plot_overlay,
    plot_time_profiles,
    time_profiles_figure,
)
from tests.figure_checks import colour_bar_labels, drawn, texts_inside


@pytest.fixture(scope="module")
def speech_log_mel(speech_wav) -> np.ndarray:
    return log_mel(load_audio(speech_wav).waveform)


def test_overlay_png_opens_with_a_readable_size_and_a_safe_name(speech_log_mel, rng, tmp_path, make_attribution):
    signed = rng.normal(size=speech_log_mel.shape).cumsum(axis=0)  # a LIME/occlusion-like signed map
    name = image_name("speech <1>.wav", "ensemble", "lime", "overlay")
    assert name == "speech_1__ensemble__lime__overlay.png"  # the one slug rule: unsafe runs become "_"
    path = plot_overlay(make_attribution(signed, "lime"), speech_log_mel, tmp_path / name)
    overlay = mpimg.imread(path)
    assert overlay.ndim == 3 and overlay.shape[0] >= 300 and 500 <= overlay.shape[1] <= 590  # two to a row, 1280 px
    assert overlay[..., :3].std() > 0.05  # a picture, not a blank canvas
    assert not list(tmp_path.glob("*.part"))


def test_non_negative_maps_render_too(speech_log_mel, tmp_path, make_attribution):
    cam = np.zeros_like(speech_log_mel)
    cam[100:150, 10:30] = 1.0  # a Grad-CAM-like map
    path = plot_overlay(make_attribution(cam, "gradcam"), speech_log_mel, tmp_path / "cam.png")
    assert mpimg.imread(path).shape[1] >= 500


def test_a_painter_draws_each_map_of_a_clip_pixel_for_pixel_as_its_whole_figure(speech_log_mel, rng, tmp_path,
                                                                                make_attribution):
    """The clip's log-mel is drawn once for all its maps (`ClipWriter` draws twelve a clip); each map's PNG still
    holds exactly the pixels of the map's own figure, whatever map came before it."""
    shape = speech_log_mel.shape
    maps = [make_attribution(np.abs(rng.normal(size=shape)), "gradcam", model="yamnet"),
            make_attribution(rng.normal(size=shape).cumsum(axis=0), "lime", target_label="sad"),
            make_attribution(np.abs(rng.normal(size=shape)), "gradcam++", model="vggish")]
    painter = OverlayPainter(speech_log_mel, maps[0].frame_hop_s)
    for i, attribution in enumerate(maps):
        painted = mpimg.imread(painter.save(attribution, tmp_path / f"painted{i}.png", model=attribution.model))
        whole = overlay_figure(attribution, speech_log_mel, model=attribution.model)
        whole.savefig(tmp_path / f"whole{i}.png", format="png", dpi=DPI)
        np.testing.assert_array_equal(painted, mpimg.imread(tmp_path / f"whole{i}.png"))
    assert len(painter.ax.images) == 1 and not painter.ax.child_axes  # only the clip's log-mel stays on the figure


def test_threads_sharing_a_painter_take_turns(speech_log_mel, rng, tmp_path, make_attribution):
    from concurrent.futures import ThreadPoolExecutor

    maps = [make_attribution(rng.normal(size=speech_log_mel.shape), "lime", target_label=f"label {i}") for i in range(6)]
    painter = OverlayPainter(speech_log_mel, maps[0].frame_hop_s)
    with ThreadPoolExecutor(3) as pool:
        paths = list(pool.map(lambda i: painter.save(maps[i], tmp_path / f"painted{i}.png"), range(len(maps))))
    for i, path in enumerate(paths):
        overlay_figure(maps[i], speech_log_mel).savefig(tmp_path / f"whole{i}.png", format="png", dpi=DPI)
        np.testing.assert_array_equal(mpimg.imread(path), mpimg.imread(tmp_path / f"whole{i}.png"))


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


def _curves(methods) -> dict:
    fractions = np.linspace(0, 1, 11)
    return {name: {"fractions": fractions, "deletion": 1 - fractions, "insertion": fractions,
                   "random_deletion": 1 - fractions**0.5, "random_insertion": fractions**2} for name in methods}


def test_a_notebook_draws_each_figure_into_its_own_axes(speech_log_mel, rng, make_attribution):
    """`ax=` / `fig=` put the picture where the caller wants it, and nowhere else."""
    lime = make_attribution(rng.normal(size=speech_log_mel.shape), "lime")
    cam = make_attribution(np.abs(rng.normal(size=speech_log_mel.shape)), "gradcam")
    page = Figure(figsize=(12, 8))
    spare, overlay_ax, profile_ax = page.subplots(3, 1)
    assert overlay_figure(lime, speech_log_mel, ax=overlay_ax) is page
    assert len(overlay_ax.images) == 2 and "lime" in overlay_ax.get_title()  # the log-mel and the map over it
    assert time_profiles_figure([lime, cam], model="yamnet", ax=profile_ax) is page
    assert [line.get_label() for line in profile_ax.lines[:2]] == ["lime", "gradcam"]
    assert not spare.images and not spare.lines  # nothing spilled onto the other axes
    curves_page = Figure()
    left, right = curves_page.subfigures(1, 2)
    assert faithfulness_figure(_curves(["lime", "gradcam"]), model="yamnet", fig=right) is right
    assert not left.axes and len(right.axes) == 2
    assert len(right.axes[0].lines) == 3  # two methods and the random order


def test_without_axes_each_picture_is_a_figure_of_its_own_not_held_by_pyplot(speech_log_mel, rng, make_attribution):
    """A returned Figure shows inline in a notebook; pyplot does not keep it alive (no `close` to forget)."""
    lime = make_attribution(rng.normal(size=speech_log_mel.shape), "lime")
    figures = [
        overlay_figure(lime, speech_log_mel),
        time_profiles_figure([lime]),
        faithfulness_figure(_curves(["lime"]), model="ensemble"),
    ]
    for fig in figures:
        assert isinstance(fig, Figure) and fig.canvas.manager is None
    assert figures[0].get_size_inches()[1] == pytest.approx(3.0)  # the size the PNG writer uses
    assert colour_bar_labels(figures[0].axes[0]) == ["lime attribution\n(target probability per cell)"]


# --- legible figures: Hz axes, colour bars with units, legends off the curves, nothing off the canvas ---

def test_each_hz_tick_sits_on_the_band_a_tone_of_that_frequency_lights_up():
    """The mel axis is labelled in Hz where the front end's filter bank puts each frequency (checked with pure tones)."""
    seconds = np.arange(16000) / 16000
    for hz in MEL_TICKS_HZ:
        bands = log_mel((0.5 * np.sin(2 * np.pi * hz * seconds)).astype(np.float32)).mean(axis=0)
        # band i is drawn from i to i + 1: the tick lies within half a band of the centre of the loudest band
        assert abs(band_position(hz) - (int(np.argmax(bands)) + 0.5)) <= 0.5, hz


def test_an_overlay_reads_in_hz_with_colour_bars_in_units_and_nothing_clipped(speech_log_mel, rng, make_attribution):
    cam = np.abs(rng.normal(size=speech_log_mel.shape))
    fig = overlay_figure(make_attribution(cam, "gradcam", target_label="happy"), speech_log_mel, model="ensemble")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["250", "500", "1k", "2k", "4k"]
    assert ax.get_ylabel() == "frequency (Hz)"
    assert colour_bar_labels(ax) == ["gradcam attribution\n(relative, clip peak = 1)"]  # the map's unit
    level = 20 * np.log10(np.exp(speech_log_mel.astype(np.float64)))  # the front end's ln magnitude, in dB
    assert np.allclose(ax.images[0].get_array().T, level)
    grey = [t.get_text() for t in ax.child_axes[0].texts]  # the grey's scale, under the colour bar
    low, high = (f"{v:.0f}".replace("-", "\u2212") for v in (level.min(), level.max()))
    assert grey == [f"grey: log-mel,\n{low} to {high} dB"]
    texts_inside(fig)


def test_legends_sit_beside_the_curves_not_on_them(speech_log_mel, rng, make_attribution):
    curves = faithfulness_figure(_curves(["gradcam", "gradcam++", "lime", "occlusion"]), model="ensemble")
    lime = make_attribution(rng.normal(size=speech_log_mel.shape), "lime")
    cam = make_attribution(np.abs(rng.normal(size=speech_log_mel.shape)), "gradcam")
    profiles = time_profiles_figure([lime, cam], model="yamnet")
    for fig in (curves, profiles):
        renderer = drawn(fig)
        legend = next(ax.get_legend() for ax in fig.axes if ax.get_legend() is not None)
        box = legend.get_window_extent(renderer)
        assert not any(box.overlaps(ax.get_window_extent(renderer)) for ax in fig.axes)  # off every data area
        texts_inside(fig)


def test_two_overlays_of_a_clip_fit_side_by_side_and_a_long_clip_gets_a_wider_one(rng, make_attribution):
    """On a 1280-pixel screen the clip page shows two methods a row at their drawn size (each under 600 px)."""
    widths = {}
    for seconds in (1.0, 3.0, 5.0, 12.0):
        frames = int(seconds * 100)
        fig = overlay_figure(make_attribution(rng.normal(size=(frames, 64)), "lime"), rng.normal(size=(frames, 64)))
        widths[seconds] = fig.get_figwidth() * fig.dpi
        texts_inside(fig)
    assert all(w <= 590 for s, w in widths.items() if s <= 5.0), widths
    assert widths[1.0] <= widths[3.0] <= widths[5.0] < widths[12.0], widths
