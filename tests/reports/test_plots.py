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
from tests.figure_checks import colour_bar_labels, drawn, texts_inside

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
    _opens(probing_heatmap_png(probing_rows, "yamnet", "eGeMAPS probing, YAMNet", tmp_path / "probe.png"), 200)
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


# --- legible figures: counts and shares, Hz axes, colour bars with units, shared scales, nothing off the canvas ---

def test_confusion_cells_show_the_share_of_the_true_class_over_the_count():
    matrix = [[5, 1, 0], [2, 7, 1], [0, 0, 9]]
    fig = confusion_matrix_figure(LABELS, matrix, "YAMNet")
    ax = fig.axes[0]
    expected = []
    for row in matrix:
        expected += [f"{round(100 * c / sum(row))} %\n({c})" for c in row]
    assert [t.get_text() for t in ax.texts] == expected  # row-normalised (recall on the diagonal), the count below
    assert np.allclose(ax.images[0].get_array().sum(axis=1), 100.0)  # the colour is the row share in %
    assert [t.get_text() for t in ax.get_yticklabels()] == ["neutral (6)", "happy (10)", "sad_$x$ (9)"]
    assert fig.axes[1].get_ylabel() == "share of the true class (%)" and ax.images[0].get_clim() == (0.0, 100.0)
    texts_inside(fig)


def test_probing_heatmaps_of_every_backbone_share_one_colour_scale(probing_rows):
    yamnet = probing_heatmap_figure(probing_rows, "yamnet", "YAMNet").axes[0].images[0].get_clim()
    vggish = probing_heatmap_figure(probing_rows, "vggish", "VGGish").axes[0].images[0].get_clim()
    values = [r["R² top"] for r in probing_rows if np.isfinite(r["R² top"])]
    assert yamnet == vggish == pytest.approx((0.0, max(values)))  # the scale of all rows, not of one backbone's
    fixed = probing_heatmap_figure(probing_rows, "yamnet", "YAMNet", vmin=-0.1, vmax=1.0)
    assert fixed.axes[0].images[0].get_clim() == (-0.1, 1.0)
    assert "one scale\nfor every backbone" in fixed.axes[1].get_ylabel()


def test_class_maps_share_one_scale_with_a_colour_bar_and_a_hz_axis(class_maps):
    fig = class_maps_figure(class_maps, "gradcam, YAMNet")
    maps, profiles = [a for a in fig.axes if a.images], [a for a in fig.axes if a.lines]
    assert len(maps) == len(profiles) == 2
    assert maps[0].images[0].get_clim() == maps[1].images[0].get_clim()  # one colour scale across emotions
    assert profiles[0].get_ylim() == profiles[1].get_ylim()  # and one profile scale
    assert [t.get_text() for t in maps[0].get_yticklabels()] == ["250", "500", "1k", "2k", "4k"]
    assert maps[0].get_ylabel() == "frequency (Hz)"
    assert "scaled" in colour_bar_labels(maps[-1])[0] and "peak of 1" in colour_bar_labels(maps[-1])[0]
    texts_inside(fig)



def test_eight_emotions_of_class_maps_fit_a_page_column_at_their_drawn_size(rng):
    maps = {e: {"map": np.abs(rng.normal(size=(380, 64))), "profile": rng.normal(size=380), "n": 2}
            for e in ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")}
    fig = class_maps_figure(maps, "gradcam, YAMNet")
    assert fig.get_figwidth() * fig.dpi <= 1200  # two rows of four: shown at 100 %, its 8-pt text stays 11 px
    rows = sorted({round(a.get_position().y0, 3) for a in fig.axes if a.images})
    assert len(rows) == 2
    texts_inside(fig)


def test_the_waveform_figure_labels_its_log_mel_in_hz_and_db_and_keeps_its_legend_off_the_waveform(clip):
    fig = waveform_figure(clip["waveform"], clip["sample_rate"], clip["log_mel"], clip["patches"], "c.wav")
    top, lane, bottom = fig.axes
    assert [t.get_text() for t in bottom.get_yticklabels()] == ["250", "500", "1k", "2k", "4k"]
    assert colour_bar_labels(bottom) == ["log-mel (dB)"]
    assert np.allclose(bottom.images[0].get_array().T, 20 * np.log10(np.exp(clip["log_mel"])))  # ln magnitude -> dB
    renderer = drawn(fig)
    legend = top.get_legend().get_window_extent(renderer)
    assert not legend.overlaps(top.get_window_extent(renderer))
    texts_inside(fig)


def test_the_randomisation_cascade_legend_sits_beside_the_curves():
    from seraudit.reports.plots import randomisation_cascade_figure

    stages = [{"method": m, "stage": s, "stage_name": n, "similarity": v} for m in ("gradcam", "lime")
              for s, n, v in ((1, "head", 0.8), (2, "head + top 2 blocks", 0.2))]
    rows = [{"method": m, "control": 0.1, "threshold": 0.3} for m in ("gradcam", "lime")]
    fig = randomisation_cascade_figure(stages, rows, "YAMNet")
    ax = fig.axes[0]
    renderer = drawn(fig)
    assert not ax.get_legend().get_window_extent(renderer).overlaps(ax.get_window_extent(renderer))
    texts_inside(fig)


def test_a_figure_is_written_once_per_page_and_loads_lazily():
    """A self-contained page holds each figure's data once (no link repeating it); a folder report links the file."""
    from seraudit.reports.build import make_environment

    page = make_environment().from_string(
        '{% from "_macros.html" import figure_img with context %}{{ figure_img("maps.png", "maps <of> YAMNet") }}')
    inline = page.render(asset=lambda src: "data:image/png;base64,QUJD")
    assert inline.count("QUJD") == 1 and 'loading="lazy"' in inline and "<a " not in inline
    assert 'alt="maps &lt;of&gt; YAMNet"' in inline
    linked = page.render(asset=lambda src: f"assets/{src}")
    assert linked.count('href="assets/maps.png"') == 1 and linked.count('src="assets/maps.png"') == 1
    assert 'loading="lazy"' in linked


FIGURES_JS = """
const done = arguments[arguments.length - 1];
const images = Array.from(document.querySelectorAll('figure img'));
const lazy = images.map(img => img.getAttribute('loading'));
images.forEach(img => { img.loading = 'eager'; });  // load the ones below the fold too
Promise.all(images.map(img => img.complete && img.naturalWidth ? Promise.resolve() : new Promise(r => {
  img.addEventListener('load', r, {once: true}); img.addEventListener('error', r, {once: true}); })))
  .then(() => done(images.map((img, i) => {
    const fig = img.closest('figure'), cs = getComputedStyle(fig);
    const room = fig.parentElement.clientWidth - ['paddingLeft', 'paddingRight', 'borderLeftWidth', 'borderRightWidth']
      .reduce((sum, k) => sum + parseFloat(cs[k]), 0);
    const link = img.closest('a');
    const src = img.getAttribute('src');
    return {src: src.startsWith('data:') ? src.slice(0, 30) : src, lazy: lazy[i], natural: img.naturalWidth,
            shown: img.getBoundingClientRect().width, room: room, link: link ? link.getAttribute('href') : null};
  })));
"""


@pytest.mark.parametrize("width", [1280, 760])
def test_figures_show_at_their_drawn_size_up_to_the_column_and_a_click_opens_them(browser, report_dir, width):
    from seraudit.reports.build import clip_page

    size = browser.get_window_size()
    browser.set_window_size(width, 800)
    try:
        pages = ["index.html", clip_page(next(iter(_report_clips(report_dir))))]
        for page in pages:
            browser.get((report_dir / page).as_uri())
            browser.set_script_timeout(30)
            figures = browser.execute_async_script(FIGURES_JS)
            assert figures, page
            for f in figures:
                assert f["lazy"] == "lazy" and f["natural"] > 0, f
                assert abs(f["shown"] - min(f["natural"], f["room"])) <= 1.0, f  # drawn size, or the column's width
                assert f["link"] == f["src"], f  # a click opens the PNG itself, full size
            if width < 1000:
                assert any(f["natural"] > f["room"] for f in figures), page  # some figure is wider than a narrow column
    finally:
        browser.set_window_size(size["width"], size["height"])


def _report_clips(report_dir):
    """Clip ids of the report's clip pages (``clip-<id>.html``), for the page name the report itself would give."""
    from types import SimpleNamespace

    return [SimpleNamespace(clip_id=p.stem.removeprefix("clip-")) for p in sorted(report_dir.glob("clip-*.html"))]


ZOOM_JS = """
const img = arguments[0];
return {shown: img.getBoundingClientRect().width, focused: document.activeElement === img,
        viewport: window.innerWidth};
"""


def test_a_self_contained_report_holds_each_figure_once_and_a_click_enlarges_it(browser, report, tmp_path):
    from seraudit.reports.build import build_report

    index = build_report(report, tmp_path / "single", self_contained=True)
    html = index.read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == html.count("<img ")  # no second copy in a link
    size = browser.get_window_size()
    browser.set_window_size(760, 800)
    try:
        browser.get(index.as_uri())
        browser.set_script_timeout(30)
        figures = browser.execute_async_script(FIGURES_JS)
        wide = [i for i, f in enumerate(figures) if f["natural"] > f["room"] + 2]
        assert wide, "no figure wider than a 760-px column"
        image = browser.find_elements("css selector", "figure img")[wide[0]]
        browser.execute_script("arguments[0].scrollIntoView()", image)
        before = browser.execute_script(ZOOM_JS, image)
        image.click()
        after = browser.execute_script(ZOOM_JS, image)
        assert after["focused"] and after["shown"] > before["shown"] + 5  # enlarged in place
        assert after["shown"] <= after["viewport"]
        browser.find_element("css selector", "h1").click()
        assert browser.execute_script(ZOOM_JS, image)["shown"] == pytest.approx(before["shown"], abs=1)  # and back
    finally:
        browser.set_window_size(size["width"], size["height"])
