"""Figures only the report draws (confusion matrices, probing heatmaps, class maps, waveforms, dose-response); they read saved numbers, never a model.

Each figure has a drawing function that returns a matplotlib `Figure` (a notebook shows
it inline) or draws into an Axes or Figure the caller gives, and a file writer
(``*_png``) that saves it as PNG. Figures are built with the object-oriented API
(`matplotlib.figure.Figure`), never pyplot: importing this module leaves the caller's
matplotlib backend alone, and the report's PNGs are written the same under any backend.

Every colour has a colour bar with its unit; mel axes are labelled in Hz and log-mels
shown in dB (`xai.render.image.mel_hz_axis`, `log_mel_db`); panels meant to be compared
share one colour scale (the probing heatmaps of every backbone, a class map's emotions);
legends sit outside the data.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure, FigureBase
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from seraudit.core.io import atomic_path
from seraudit.xai.render.image import fitting_font_size, log_mel_db, mel_hz_axis

#: Resolution of every figure drawn here (and of its PNG).
DPI = 100


def _inches(fig: FigureBase) -> tuple[float, float]:
    """Width and height of a Figure or SubFigure, in inches."""
    return fig.bbox.width / fig.dpi, fig.bbox.height / fig.dpi


def _axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Axes, Figure, bool]:
    """The Axes to draw into, the Figure holding it, and whether it is a new Figure this module lays out."""
    if ax is None:
        fig = Figure(figsize=figsize, dpi=DPI)
        return fig.add_subplot(), fig, True
    return ax, ax.get_figure(root=True), False


def confusion_matrix_figure(
    labels: list[str], matrix: list[list[int]] | np.ndarray, title: str, *, ax: Axes | None = None
) -> Figure:
    """A row-normalised confusion matrix: each cell shows the share of its true class (recall on the diagonal) and,
    below it, the count; the colour is the share, on a 0-100 % colour bar.

    Rows are normalised because classes differ in size (RAVDESS has half as many neutral
    clips as of any other emotion); each true class's clip count is in its row label.
    ``title`` is the model's display name, so an untrained branch shows in the figure too.
    Draws into `ax` when given, else into a new Figure; returns the Figure drawn on.
    """
    counts = np.asarray(matrix, dtype=float)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.shape[0] != len(labels):
        raise ValueError(f"confusion matrix of shape {counts.shape} does not match {len(labels)} labels")
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    n = len(labels)
    x_labels = [str(x) for x in labels]
    y_labels = [f"{x} ({int(r)})" for x, r in zip(labels, rows[:, 0])]
    own = ax is None
    cell = 0.6 if n <= 5 else 0.42 if n <= 10 else max(0.25, 4.2 / n)  # inches: 8 classes, two matrices a row
    if own:  # laid out by hand: square cells, room for the longest labels and the colour bar
        fig, ax, cax = _matrix_figure(x_labels, y_labels, cell, cell)
    image = ax.imshow(share * 100.0, cmap="Blues", vmin=0.0, vmax=100.0, aspect="auto" if own else "equal")
    ax.set_xticks(range(n), x_labels, rotation=45, ha="right")
    ax.set_yticks(range(n), y_labels)
    ax.tick_params(labelsize=9)
    for label in ax.get_xticklabels() + ax.get_yticklabels():
        label.set_parse_math(False)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, confusion_cell_text(share[i, j], counts[i, j], rows[i, 0] > 0), ha="center", va="center",
                    fontsize=8 if cell >= 0.5 else 7 if cell >= 0.4 else 5.5, linespacing=1.05,
                    color="white" if share[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted", fontsize=9)
    ax.set_ylabel("true (clips)", fontsize=9)
    bar = fig.colorbar(image, cax=cax) if own else ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.03)
    bar.set_label("share of the true class (%)", fontsize=8)
    bar.ax.tick_params(labelsize=8)
    ax.set_title(title, fontsize=fitting_font_size(title, n * cell + 1.6) if own else 10, parse_math=False)
    return ax.get_figure(root=True)


def _matrix_figure(x_labels: list[str], y_labels: list[str], cell_width: float, cell_height: float,
                   right: float = 0.85, axis_titles: bool = True) -> tuple[Figure, Axes, Axes]:
    """A Figure laid out by hand for a labelled matrix: cells of the given size (inches), room for the longest tick
    labels (9 pt, the column labels at 45 degrees), the axis titles when there are and a colour bar; returns it,
    the matrix's Axes and the bar's."""
    title_room = 0.3 if axis_titles else 0.12
    left = 0.15 + title_room + max((_text_width(t, 9) for t in y_labels), default=0.0)
    bottom = 0.2 + title_room + 0.71 * max((_text_width(t, 9) for t in x_labels), default=0.0)
    top, across, down = 0.4, len(x_labels) * cell_width, len(y_labels) * cell_height
    width, height = left + across + right, bottom + down + top
    fig = Figure(figsize=(width, height), dpi=DPI)
    ax = fig.add_axes((left / width, bottom / height, across / width, down / height))
    cax = fig.add_axes(((left + across + 0.12) / width, bottom / height, 0.13 / width, down / height))
    return fig, ax, cax


def _text_width(text: str, fontsize: float) -> float:
    """How wide (inches) `text` is at `fontsize` points in the default font (laid out, drawn on no canvas)."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import text_to_path

    width, _, _ = text_to_path.get_text_width_height_descent(text, FontProperties(size=fontsize), ismath=False)
    return float(width) / 72.0


def confusion_cell_text(share: float, count: float, has_clips: bool = True) -> str:
    """One confusion cell as the figure writes it: the row share in percent (``"51 %"``), its count below (``"(57)"``)."""
    return f"{100.0 * share:.0f} %\n({int(count)})" if has_clips else f"–\n({int(count)})"


def confusion_matrix_png(
    labels: list[str], matrix: list[list[int]] | np.ndarray, title: str, path: str | os.PathLike
) -> Path:
    """PNG of `confusion_matrix_figure` (row-normalised, counts in each cell) at `path`."""
    return _save(confusion_matrix_figure(labels, matrix, title), path)


def probing_scale(rows: list[dict], value_key: str = "R² top") -> tuple[float, float]:
    """The colour scale (vmin, vmax) every probing heatmap of `rows` shares, whatever its backbone: from the lowest
    value (or 0) to the highest (at least 0.05), so backbones shown side by side compare by colour."""
    values = np.asarray([float(r[value_key]) for r in rows if isinstance(r.get(value_key), (int, float))], dtype=float)
    values = values[np.isfinite(values)]
    if not values.size:
        return 0.0, 1.0
    return min(0.0, float(values.min())), max(0.05, float(values.max()))


def probing_heatmap_figure(rows: list[dict], backbone: str, title: str, value_key: str = "R² top",
                           emotions: list[str] | None = None, *, vmin: float | None = None, vmax: float | None = None,
                           ax: Axes | None = None) -> Figure:
    """eGeMAPS feature group (rows) x emotion (columns) for one backbone; colour = the probe's ``value_key``.

    ``rows`` are the audit's probing rows (``backbone``, ``emotion``, ``category``, figures);
    a missing cell stays blank. The colour scale is `probing_scale` of all `rows` (every
    backbone's), so the heatmaps of the backbones drawn from the same rows share it;
    `vmin` / `vmax` set it instead. Draws into `ax` when given, else into a new Figure;
    returns the Figure drawn on.
    """
    own_rows = [r for r in rows if r.get("backbone") == backbone]
    present = list(dict.fromkeys(str(r.get("emotion")) for r in own_rows))
    emotions = [e for e in (emotions or present) if e in present]
    categories = list(dict.fromkeys(str(r.get("category")) for r in own_rows))
    grid = np.full((len(categories), len(emotions)), np.nan)
    for r in own_rows:
        value = r.get(value_key)
        if isinstance(value, (int, float)) and np.isfinite(value):
            grid[categories.index(str(r.get("category"))), emotions.index(str(r.get("emotion")))] = float(value)
    own = ax is None
    if own:  # two backbones side by side on a 1280-pixel screen, at their drawn size
        fig, ax, cax = _matrix_figure(emotions, categories, 0.36 if len(emotions) <= 10 else 0.28, 0.38, right=0.95,
                                      axis_titles=False)
    low, high = probing_scale(rows, value_key)
    low, high = low if vmin is None else float(vmin), high if vmax is None else float(vmax)
    image = ax.imshow(np.ma.masked_invalid(grid), cmap="viridis", vmin=low, vmax=high, aspect="auto")
    ax.set_xticks(range(len(emotions)), emotions, rotation=45, ha="right")
    ax.set_yticks(range(len(categories)), categories)
    ax.tick_params(labelsize=9)
    for label in ax.get_xticklabels() + ax.get_yticklabels():
        label.set_parse_math(False)
    for i in range(len(categories)):
        for j in range(len(emotions)):
            if np.isfinite(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", fontsize=7.5 if own else 8,
                        color="white" if grid[i, j] < low + 0.6 * (high - low) else "black")
    bar = fig.colorbar(image, cax=cax) if own else ax.figure.colorbar(image, ax=ax)
    bar.set_label(f"{value_key}, one scale\nfor every backbone", fontsize=8)
    bar.ax.tick_params(labelsize=8)
    ax.set_title(title, fontsize=fitting_font_size(title, len(emotions) * 0.36 + 1.5) if own else 10, parse_math=False)
    return ax.get_figure(root=True)


def probing_heatmap_png(rows: list[dict], backbone: str, title: str, path: str | os.PathLike,
                        value_key: str = "R² top", emotions: list[str] | None = None, *, vmin: float | None = None,
                        vmax: float | None = None) -> Path:
    """PNG of `probing_heatmap_figure` (feature group x emotion for one backbone, the scale of all `rows`) at `path`."""
    return _save(probing_heatmap_figure(rows, backbone, title, value_key, emotions, vmin=vmin, vmax=vmax), path)


def class_maps_figure(maps: dict[str, dict], title: str, frame_hop_s: float = 0.01, *,
                      fig: FigureBase | None = None) -> FigureBase:
    """Mean attribution map per emotion on the log-mel grid (top row) with its mean time profile (bottom row).

    ``maps``: emotion -> {"map": [frames, bands], "profile": [frames], "n": clips}, each
    clip's map scaled to a peak of 1 before the mean (`reports.audit_sections.class_maps`).
    The emotions share one colour scale (one colour bar, right) and one profile scale, so
    they compare at a glance; the frequency axis is in Hz. Up to six emotions a row (eight
    make two rows of four), so the figure fits a page's column at its drawn size. Two panels
    per emotion, so the drawing goes into `fig` (an empty Figure or SubFigure) when given,
    else into a new Figure; returns it.
    """
    emotions = list(maps)
    n = max(1, len(emotions))
    columns = -(-n // -(-n // 6))  # up to six emotions a row, rows filled evenly (8 emotions: two rows of four)
    rows = -(-n // columns)
    left, right, gap, top, bottom = 0.8, 1.1, 0.12, 0.6, 0.45  # inches
    heights = [2.0, 0.08, 0.6]  # a map, the gap under it, its profile; 0.8 between rows of emotions
    own = fig is None
    if own:
        panel = min(1.9, (11.8 - left - right - (columns - 1) * gap) / columns)
        fig = Figure(figsize=(left + columns * panel + (columns - 1) * gap + right,
                              top + rows * sum(heights) + (rows - 1) * 0.8 + bottom), dpi=DPI)
    width, height = _inches(fig)
    panel = max(width - left - right - (columns - 1) * gap, 0.5 * columns) / columns
    ratios = (heights + [0.8]) * rows
    grid = fig.add_gridspec(len(ratios) - 1, columns, height_ratios=ratios[:-1], hspace=0.0, wspace=gap / panel,
                            left=left / width, right=1 - right / width, top=1 - top / height, bottom=bottom / height)
    vmax = max((float(np.nanmax(np.abs(m["map"]))) for m in maps.values() if np.size(m["map"])), default=1.0) or 1.0
    signed = any(float(np.nanmin(m["map"])) < 0 for m in maps.values() if np.size(m["map"]))
    first_map = first_profile = image = None
    for j, emotion in enumerate(emotions):
        row, column = divmod(j, columns)
        map_ax = fig.add_subplot(grid[4 * row, column], sharey=first_map)
        profile_ax = fig.add_subplot(grid[4 * row + 2, column], sharey=first_profile)
        first_map, first_profile = first_map or map_ax, first_profile or profile_ax
        entry = maps[emotion]
        values = np.asarray(entry["map"], dtype=float)
        seconds = values.shape[0] * frame_hop_s
        image = map_ax.imshow(values.T, origin="lower", aspect="auto", extent=(0, seconds, 0, values.shape[1]),
                              cmap="RdBu_r" if signed else "magma", vmin=-vmax if signed else 0.0, vmax=vmax)
        map_ax.set_title(f"{emotion} (n={entry['n']})", fontsize=9, parse_math=False)
        map_ax.set_xticks([])
        profile = np.asarray(entry["profile"], dtype=float)
        profile_ax.plot(np.arange(profile.size) * frame_hop_s, profile, color="#233047", linewidth=1)
        profile_ax.set_xlim(0, seconds)
        profile_ax.xaxis.set_major_locator(MaxNLocator(nbins=4, steps=[1, 2, 5, 10]))
        profile_ax.set_xlabel("time (s)", fontsize=8)
        profile_ax.tick_params(labelsize=7)
        if column == 0:
            mel_hz_axis(map_ax, n_bands=values.shape[1], fontsize=8)
            profile_ax.set_ylabel("mean over\nbands", fontsize=8)
        else:
            map_ax.tick_params(labelleft=False)
            profile_ax.tick_params(labelleft=False)
        if j == min(n, columns) - 1 and image is not None:  # the colour bar, right of the first row
            bar = fig.colorbar(image, cax=map_ax.inset_axes((1 + 0.1 / panel, 0.0, 0.12 / panel, 1.0)))
            bar.set_label("mean attribution\n(each clip's map scaled\nto a peak of 1)", fontsize=8)
            bar.ax.tick_params(labelsize=7)
    fig.suptitle(title, fontsize=10)
    return fig


def class_maps_png(maps: dict[str, dict], title: str, path: str | os.PathLike, frame_hop_s: float = 0.01) -> Path:
    """PNG of `class_maps_figure` (mean map and time profile per emotion) at `path`."""
    return _save(class_maps_figure(maps, title, frame_hop_s), path)


def waveform_figure(waveform: np.ndarray, sample_rate: int, log_mel: np.ndarray, patches: dict, title: str,
                    frame_hop_s: float = 0.01, *, fig: FigureBase | None = None) -> FigureBase:
    """Waveform, one bar per patch (green: GDS kept it, red: dropped) and the log-mel of one clip (dB, Hz axis).

    The waveform is shaded green where a kept patch covers it and red where only dropped
    patches do, so a reader sees which parts of the clip the prediction pooled; the legend
    sits above the waveform, the log-mel's colour bar right of it.
    ``patches``: ``start_s``, ``end_s`` and ``keep`` lists, as the audit saves them per clip.
    Three panels, so the drawing goes into `fig` (an empty Figure or SubFigure) when
    given, else into a new Figure; returns it.
    """
    kept_colour, dropped_colour = "#1b9e3a", "#d62728"
    waveform = np.asarray(waveform, dtype=float)
    log_mel = np.asarray(log_mel)
    seconds = waveform.size / sample_rate
    starts, ends, keep = patches.get("start_s", []), patches.get("end_s", []), patches.get("keep", [])
    own = fig is None
    if own:
        fig = Figure(figsize=(9.0, 4.8), dpi=DPI)
    width, height = _inches(fig)
    left, right, top, bottom = 0.85, 1.0, 0.4, 0.45  # inches; the colour bar takes the right margin
    plot_width = max(width - left - right, 1.0)
    top_ax, lane, bottom_ax = fig.subplots(3, 1, sharex=True, gridspec_kw={
        "height_ratios": [1, 0.45, 1.3], "left": left / width, "right": 1 - right / width, "top": 1 - top / height,
        "bottom": bottom / height, "hspace": 0.12})
    times = np.arange(waveform.size) / sample_rate
    covered_kept = np.zeros(waveform.size, bool)
    covered = np.zeros(waveform.size, bool)
    for a, b, k in zip(starts, ends, keep):
        inside = (times >= a) & (times < b)
        covered |= inside
        covered_kept |= inside & bool(k)
    top_ax.fill_between(times, 0, 1, where=covered_kept, transform=top_ax.get_xaxis_transform(), color=kept_colour,
                        alpha=0.15, linewidth=0)
    top_ax.fill_between(times, 0, 1, where=covered & ~covered_kept, transform=top_ax.get_xaxis_transform(),
                        color=dropped_colour, alpha=0.15, linewidth=0)
    top_ax.plot(times, waveform, color="#233047", linewidth=0.4)
    top_ax.set_ylabel("amplitude", fontsize=9)
    for i, (a, b, k) in enumerate(zip(starts, ends, keep)):
        row = i % 2
        lane.barh(row, b - a, left=a, height=0.7, color=kept_colour if k else dropped_colour, alpha=0.75)
        lane.text(a + 0.02, row, f"patch {i}: {a:.2f}–{b:.2f} s{'' if k else ' (dropped)'}", va="center",
                  fontsize=7, color="white")
    lane.set_yticks([])
    lane.set_ylim(-0.5, 1.5)
    lane.invert_yaxis()
    lane.set_ylabel("patches", fontsize=8)
    level = bottom_ax.imshow(log_mel_db(log_mel).T, origin="lower", aspect="auto", cmap="magma",
                             extent=(0, log_mel.shape[0] * frame_hop_s, 0, log_mel.shape[1]))
    mel_hz_axis(bottom_ax, n_bands=log_mel.shape[1], fontsize=9)
    bottom_ax.set_xlabel("time (s)")
    bar = fig.colorbar(level, cax=bottom_ax.inset_axes((1 + 0.1 / plot_width, 0.0, 0.12 / plot_width, 1.0)))
    bar.set_label("log-mel (dB)", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    top_ax.set_xlim(0, max(seconds, max(ends, default=0.0)))
    handles = [Rectangle((0, 0), 1, 1, color=kept_colour, alpha=0.5),
               Rectangle((0, 0), 1, 1, color=dropped_colour, alpha=0.5)]
    top_ax.legend(handles, ["kept by GDS (pooled)", "dropped by GDS"], loc="lower right", bbox_to_anchor=(1.0, 1.0),
                  ncol=2, fontsize=7, frameon=False, borderaxespad=0.1)
    top_ax.set_title(title, loc="left", fontsize=fitting_font_size(title, plot_width - 2.9), parse_math=False)
    return fig


def waveform_png(waveform: np.ndarray, sample_rate: int, log_mel: np.ndarray, patches: dict, title: str,
                 path: str | os.PathLike, frame_hop_s: float = 0.01) -> Path:
    """PNG of `waveform_figure` (waveform, GDS patches and log-mel of one clip) at `path`."""
    return _save(waveform_figure(waveform, sample_rate, log_mel, patches, title, frame_hop_s), path)


def _save(fig: Figure, path: str | os.PathLike) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


def reliability_figure(bins: list[dict], title: str, *, ax: Axes | None = None) -> Figure:
    """Reliability diagram: per confidence bin (`ensemble.evaluation.calibration.reliability_bins`) the accuracy as a
    bar over the bin, the diagonal a perfectly calibrated model follows, and each bin's clip count above its bar.

    Empty bins are left blank. Draws into `ax` when given, else into a new Figure; returns the Figure drawn on.
    """
    ax, fig, own = _axes(ax, (3.6, 3.4))
    ax.plot([0, 1], [0, 1], color="0.5", linestyle="--", linewidth=1, label="calibrated")
    for b in bins:
        if not b.get("n"):
            continue
        width = b["high"] - b["low"]
        ax.bar(b["low"], b["accuracy"], width=width, align="edge", color="tab:blue", edgecolor="white", alpha=0.8)
        ax.plot([b["low"], b["high"]], [b["confidence"]] * 2, color="tab:red", linewidth=1.5)
        ax.text(b["low"] + width / 2, min(b["accuracy"] + 0.02, 0.95), str(b["n"]), ha="center", fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (top class)")
    ax.set_ylabel("accuracy (bars); mean confidence (red)")
    ax.set_title(title, fontsize=9, parse_math=False)
    if own:
        fig.tight_layout()
    return fig


def reliability_svg(bins: list[dict], title: str) -> str:
    """`reliability_figure` as an inline SVG document (text, so a page holds it without an asset file)."""
    import io

    buffer = io.StringIO()
    reliability_figure(bins, title).savefig(buffer, format="svg", metadata={"Date": None})
    return _inline_svg(buffer.getvalue())


def randomisation_cascade_figure(stages: list[dict], rows: list[dict], title: str, *, ax: Axes | None = None) -> Figure:
    """The model-randomisation cascade of one model: per method, the mean sign-free similarity of its map to the
    trained model's map (1 before any weight is drawn again) at every stage, head first.

    ``stages`` and ``rows`` are ``audit.json["sanity"]``'s (`xai.metrics.sanity.summarise_randomisation`) for this
    model; at the last stage each method's control (two random-weight models, a cross) and its threshold (a bar)
    are drawn in the method's colour; the legend sits right of the axes, off the curves. Draws into `ax` when given,
    else into a new Figure; returns the Figure.
    """
    ax, fig, own = _axes(ax, (5.8, 3.2))
    names: list[str] = []
    for s in sorted(stages, key=lambda s: s.get("stage", 0)):
        if s.get("stage_name") not in names:
            names.append(str(s.get("stage_name")))
    x_labels = ["trained", *names]
    colours = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:gray"]
    methods = list(dict.fromkeys(str(s.get("method")) for s in stages))
    for i, method in enumerate(methods):
        colour = colours[i % len(colours)]
        own_stages = sorted((s for s in stages if s.get("method") == method), key=lambda s: s.get("stage", 0))
        ys = [1.0] + [np.nan if s.get("similarity") is None else float(s["similarity"]) for s in own_stages]
        ax.plot(range(len(ys)), ys, marker="o", color=colour, label=method, linewidth=1.5)
        row = next((r for r in rows if r.get("method") == method), None)
        last = len(ys) - 1
        if row is not None and row.get("control") is not None:
            ax.plot([last + 0.08 * (i + 1)], [row["control"]], marker="x", color=colour, linestyle="none")
        if row is not None and row.get("threshold") is not None:
            ax.plot([last - 0.25, last + 0.25], [row["threshold"]] * 2, color=colour, linestyle="--", linewidth=1)
    ax.axhline(0.0, color="0.7", linewidth=0.8)
    ax.set_xticks(range(len(x_labels)))
    ax.set_xticklabels(x_labels, rotation=20, ha="right", fontsize=7)
    ax.set_ylim(-0.3, 1.05)
    ax.set_ylabel("rank correlation of |maps|\nwith the trained model's")
    ax.set_title(title, fontsize=9, parse_math=False)
    if methods:
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    if own:
        fig.tight_layout()
    return fig


def randomisation_cascade_svg(stages: list[dict], rows: list[dict], title: str) -> str:
    """`randomisation_cascade_figure` as an inline SVG document (text, so a page holds it without an asset file)."""
    import io

    buffer = io.StringIO()
    randomisation_cascade_figure(stages, rows, title).savefig(buffer, format="svg", metadata={"Date": None})
    return _inline_svg(buffer.getvalue())


def _inline_svg(text: str) -> str:
    """An SVG document as an HTML page holds it inline: no XML prologue, no metadata, no namespace addresses
    (an inline ``<svg>`` needs none, and a page must not name any network address)."""
    import re

    text = text[text.index("<svg"):]
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)
    return re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", text)


def dose_response_figure(panels: list[dict], title: str, *, null_abs_dp: float | None = None,
                         fig: FigureBase | None = None) -> FigureBase:
    """Dose-response of one model: one panel per intervention feature, the mean change of the target class's
    probability against identity resynthesis (y) over the feature's strengths (x, in its unit).

    ``panels``: ``title``, ``xlabel``, ``neutral`` (the strength that changes nothing: drawn at 0, the identity
    itself) and ``points`` (``strength``, ``mean_dp``, ``ci_low``, ``ci_high``, ``flip_rate``, ``n_clips``), as
    `reports.model_use.dose_panels` gives them. The 95 % interval over speakers and clips is a band, each point's
    flip rate is written beside it, 0 is a line, and `null_abs_dp` (the identity resynthesis' own mean |change|
    against the original) a grey band: effects inside it are no larger than the vocoder's. The panels share the
    y axis (three to a row); the legend sits below them. Draws into `fig` (an empty Figure or SubFigure) when given, else into a new
    Figure; returns it.
    """
    n = max(1, len(panels))
    columns = min(n, 3)
    rows = -(-n // columns)
    own = fig is None
    if own:
        fig = Figure(figsize=(2.7 * columns + 0.7, 2.5 * rows + 1.1), dpi=DPI)
    grid = fig.subplots(rows, columns, squeeze=False, sharey=True)
    axes = list(grid.ravel())
    for spare in axes[len(panels):]:
        spare.set_visible(False)
    line_colour, band_colour = "#233047", "#7aa5d8"
    for ax, panel in zip(axes, panels):
        points = sorted((p for p in panel.get("points", []) if p.get("mean_dp") is not None),
                        key=lambda p: float(p["strength"]))
        neutral = float(panel.get("neutral", 0.0))
        xs = [float(p["strength"]) for p in points] + [neutral]
        order = np.argsort(xs, kind="stable")
        x = np.asarray(xs)[order]
        y = np.asarray([float(p["mean_dp"]) for p in points] + [0.0])[order]
        low = np.asarray([float(p["ci_low"]) if p.get("ci_low") is not None else float(p["mean_dp"]) for p in points]
                         + [0.0])[order]
        high = np.asarray([float(p["ci_high"]) if p.get("ci_high") is not None else float(p["mean_dp"]) for p in points]
                          + [0.0])[order]
        if null_abs_dp is not None and np.isfinite(null_abs_dp):
            ax.axhspan(-float(null_abs_dp), float(null_abs_dp), color="0.75", alpha=0.45, linewidth=0)
        ax.axhline(0.0, color="0.35", linewidth=0.8)
        ax.fill_between(x, low, high, color=band_colour, alpha=0.35, linewidth=0)
        ax.plot(x, y, color=line_colour, linewidth=1.4)
        ax.plot([float(p["strength"]) for p in points], [float(p["mean_dp"]) for p in points], "o", color=line_colour,
                markersize=4)
        ax.plot([neutral], [0.0], "o", markerfacecolor="white", markeredgecolor=line_colour, markersize=5)
        for p in points:
            above = p.get("ci_high") if p.get("ci_high") is not None else p["mean_dp"]
            ax.annotate(f"{100.0 * float(p.get('flip_rate') or 0.0):.0f} %", (float(p["strength"]), float(above)),
                        textcoords="offset points", xytext=(0, 4), ha="center", fontsize=7, color="#8a3c00")
        ax.set_xticks(sorted(set(xs)))
        ax.set_xticklabels([f"{v:g}" for v in sorted(set(xs))], fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
        ax.set_xlabel(str(panel.get("xlabel", "")), fontsize=8, parse_math=False)
        ax.set_title(str(panel.get("title", "")), fontsize=8, parse_math=False)
        ax.margins(x=0.12, y=0.18)
    for row in grid:
        row[0].set_ylabel("Δ p(target class)\nvs identity resynthesis", fontsize=8)
    handles = [Line2D([], [], color=line_colour, marker="o", markersize=4, linewidth=1.4),
               Rectangle((0, 0), 1, 1, color=band_colour, alpha=0.35),
               Line2D([], [], color="white", marker="o", markerfacecolor="white", markeredgecolor=line_colour,
                      markersize=5),
               Line2D([], [], color="#8a3c00", marker="$\\%$", linestyle="none", markersize=7)]
    labels = ["mean change over clips", "95 % interval (speakers, then clips)", "identity (no change)",
              "labels flipped vs identity"]
    if null_abs_dp is not None and np.isfinite(null_abs_dp):
        handles.append(Rectangle((0, 0), 1, 1, color="0.75", alpha=0.45))
        labels.append("± identity vs original (vocoder alone)")
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=7, frameon=False)
    fig.suptitle(title, fontsize=9)
    if own:
        fig.tight_layout(rect=(0, 0.75 / (2.5 * rows + 1.1), 1, 1))
    return fig


def dose_response_svg(panels: list[dict], title: str, *, null_abs_dp: float | None = None) -> str:
    """`dose_response_figure` as an inline SVG document (text, so a page holds it without an asset file)."""
    import io

    buffer = io.StringIO()
    dose_response_figure(panels, title, null_abs_dp=null_abs_dp).savefig(buffer, format="svg", metadata={"Date": None})
    return _inline_svg(buffer.getvalue())
