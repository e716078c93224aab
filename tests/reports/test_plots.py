"""The report's figures: PNG files that open, and the same pictures drawn where a notebook wants them."""

from __future__ import annotations

import matplotlib.image as mpimg
import numpy as np
import pytest
from matplotlib.figure import Figure

from seraudit.reports.plots import (
    class_maps_figure,
    class_maps_png,
    confusion_matrix_figure,
    confusion_matrix_png,
    probing_heatmap_figure,
    probing_heatmap_png,
    waveform_figure,
    waveform_png,
)

LABELS = ["neutral", "happy", "sad_$x$"]  # a `$` must print as itself, not start mathtext


@pytest.fixture
def probing_rows(rng) -> list[dict]:
    rows = [{"backbone": b, "emotion": e, "category": c, "R² top": float(rng.uniform(0, 0.9))}
            for b in ("yamnet", "vggish") for e in ("angry", "happy") for c in ("pitch", "loudness", "spectral")]
    rows[0]["R² top"] = float("nan")  # a missing figure leaves its cell blank
    return rows


@pytest.fixture
def class_maps(rng) -> dict[str, dict]:
    return {e: {"map": rng.normal(size=(150, 64)), "profile": rng.normal(size=150), "n": 4} for e in ("angry", "sad")}


@pytest.fixture
def clip(rng) -> dict:
    sample_rate = 16000
    return {"waveform": rng.normal(size=2 * sample_rate) * 0.1, "sample_rate": sample_rate,
            "log_mel": rng.normal(size=(200, 64)),
            "patches": {"start_s": [0.0, 0.96], "end_s": [0.96, 1.92], "keep": [True, False]}}


def _opens(path, min_width: int) -> np.ndarray:
    image = mpimg.imread(path)
    assert image.ndim == 3 and image.shape[1] >= min_width
    assert image[..., :3].std() > 0.05  # a picture, not a blank canvas
    return image


def test_every_writer_leaves_one_png_that_opens(tmp_path, probing_rows, class_maps, clip):
    matrix = [[5, 1, 0], [2, 7, 1], [0, 0, 9]]
    _opens(confusion_matrix_png(LABELS, matrix, "Ensemble (late fusion)", tmp_path / "cm.png"), 300)
    _opens(probing_heatmap_png(probing_rows, "yamnet", "eGeMAPS probing, YAMNet", tmp_path / "probe.png"), 450)
    _opens(class_maps_png(class_maps, "gradcam, YAMNet", tmp_path / "maps.png"), 400)
    wave = _opens(waveform_png(clip["waveform"], clip["sample_rate"], clip["log_mel"], clip["patches"], "c.wav",
                               tmp_path / "wave.png"), 800)
    assert wave.shape[:2] == (480, 900)  # 9 x 4.8 inches at 100 dpi, as the report has always shown it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cm.png", "maps.png", "probe.png", "wave.png"]  # no .part left


def test_a_confusion_matrix_that_does_not_match_its_labels_is_refused(tmp_path):
    with pytest.raises(ValueError, match="does not match 3 labels"):
        confusion_matrix_png(LABELS, [[1, 2], [3, 4]], "x", tmp_path / "cm.png")
    assert not list(tmp_path.iterdir())


def test_single_panel_figures_draw_into_the_given_axes(probing_rows):
    page = Figure(figsize=(10, 4))
    spare, matrix_ax, probe_ax = page.subplots(1, 3)
    assert confusion_matrix_figure(LABELS, np.eye(3) * 4, "YAMNet", ax=matrix_ax) is page
    assert len(matrix_ax.images) == 1 and len(matrix_ax.texts) == 9  # a count in every cell
    assert [t.get_text() for t in matrix_ax.get_xticklabels()] == LABELS
    assert probing_heatmap_figure(probing_rows, "vggish", "VGGish", emotions=["happy", "angry"], ax=probe_ax) is page
    assert len(probe_ax.images) == 1 and len(probe_ax.texts) == 6  # 3 feature groups x 2 emotions, all present
    assert [t.get_text() for t in probe_ax.get_xticklabels()] == ["happy", "angry"]
    assert not spare.images and not spare.texts  # nothing spilled onto the other axes


def test_multi_panel_figures_draw_into_the_given_subfigure(class_maps, clip):
    page = Figure(figsize=(12, 8))
    maps_part, wave_part, spare = page.subfigures(1, 3)
    assert class_maps_figure(class_maps, "gradcam, YAMNet", fig=maps_part) is maps_part
    assert len(maps_part.axes) == 4 and len(maps_part.axes[0].images) == 1  # map and profile per emotion
    assert waveform_figure(clip["waveform"], clip["sample_rate"], clip["log_mel"], clip["patches"], "c.wav",
                           fig=wave_part) is wave_part
    top, lane, bottom = wave_part.axes
    assert len(top.lines) == 1 and len(lane.patches) == 2 and len(bottom.images) == 1  # one bar per patch
    assert not spare.axes


def test_without_axes_each_figure_stands_alone_at_the_report_size(probing_rows, class_maps, clip):
    figures = [
        confusion_matrix_figure(LABELS, np.eye(3), "YAMNet"),
        probing_heatmap_figure(probing_rows, "yamnet", "YAMNet"),
        class_maps_figure(class_maps, "gradcam, YAMNet"),
        waveform_figure(clip["waveform"], clip["sample_rate"], clip["log_mel"], clip["patches"], "c.wav"),
    ]
    for fig in figures:
        assert isinstance(fig, Figure) and fig.canvas.manager is None  # not held by pyplot, shown inline by a notebook
        assert fig.dpi == 100
    assert tuple(figures[3].get_size_inches()) == (9.0, 4.8)
