"""Figures only the report draws (confusion matrices, probing heatmaps, class maps, waveforms, dose-response); they read saved numbers, never a model.

Each figure has a drawing function that returns a matplotlib `Figure` (a notebook shows
it inline) or draws into an Axes or Figure the caller gives, and a file writer
(``*_png``) that saves it as PNG. Figures are built with the object-oriented API
(`matplotlib.figure.Figure`), never pyplot: importing this module leaves the caller's
matplotlib backend alone, and the report's PNGs are written the same under any backend.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure, FigureBase
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from seraudit.core.io import atomic_path

#: Resolution of every figure drawn here (and of its PNG).
DPI = 100


def _axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Axes, Figure, bool]:
    """The Axes to draw into, the Figure holding it, and whether it is a new Figure this module lays out."""
    if ax is None:
        fig = Figure(figsize=figsize, dpi=DPI)
        return fig.add_subplot(), fig, True
    return ax, ax.get_figure(root=True), False


def confusion_matrix_figure(
    labels: list[str], matrix: list[list[int]] | np.ndarray, title: str, *, ax: Axes | None = None
) -> Figure:
    """A row-normalised confusion matrix (colour = share of the true class, counts printed in each cell).

    ``title`` is the model's display name, so an untrained branch shows in the figure too.
    Draws into `ax` when given, else into a new Figure; returns the Figure drawn on.
    """
    counts = np.asarray(matrix, dtype=float)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.shape[0] != len(labels):
        raise ValueError(f"confusion matrix of shape {counts.shape} does not match {len(labels)} labels")
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    n = len(labels)
    size = max(3.5, 0.55 * n + 1.5)
    ax, fig, own = _axes(ax, (size, size * 0.9))
    ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(n), [str(x) for x in labels], rotation=45, ha="right")
    ax.set_yticks(range(n), [str(x) for x in labels])
    for label in ax.get_xticklabels() + ax.get_yticklabels():
        label.set_parse_math(False)
    for i in range(n):
        for j in range(n):
            ax.text(
                j, i, f"{int(counts[i, j])}", ha="center", va="center", fontsize=8,
                color="white" if share[i, j] > 0.5 else "black",
            )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10, parse_math=False)
    if own:
        fig.tight_layout()
    return fig


def confusion_matrix_png(
    labels: list[str], matrix: list[list[int]] | np.ndarray, title: str, path: str | os.PathLike
) -> Path:
    """PNG of `confusion_matrix_figure` (row-normalised, counts in each cell) at `path`."""
    return _save(confusion_matrix_figure(labels, matrix, title), path)


def probing_heatmap_figure(rows: list[dict], backbone: str, title: str, value_key: str = "R² top",
                           emotions: list[str] | None = None, *, ax: Axes | None = None) -> Figure:
    """eGeMAPS feature group (rows) x emotion (columns) for one backbone; colour = the probe's ``value_key``.

    ``rows`` are the audit's probing rows (``backbone``, ``emotion``, ``category``, figures);
    a missing cell stays blank. Draws into `ax` when given, else into a new Figure;
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
    ax, fig, own = _axes(ax, (max(5.0, 0.9 * len(emotions) + 3.5), max(3.0, 0.55 * len(categories) + 1.8)))
    finite = grid[np.isfinite(grid)]
    vmax = max(0.05, float(finite.max())) if finite.size else 1.0
    image = ax.imshow(np.ma.masked_invalid(grid), cmap="viridis", vmin=min(0.0, float(finite.min()) if finite.size else 0.0),
                      vmax=vmax, aspect="auto")
    ax.set_xticks(range(len(emotions)), emotions, rotation=45, ha="right")
    ax.set_yticks(range(len(categories)), categories)
    for label in ax.get_xticklabels() + ax.get_yticklabels():
        label.set_parse_math(False)
    for i in range(len(categories)):
        for j in range(len(emotions)):
            if np.isfinite(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", fontsize=8,
                        color="white" if grid[i, j] < 0.6 * vmax else "black")
    ax.figure.colorbar(image, ax=ax, label=value_key)
    ax.set_title(title, fontsize=10, parse_math=False)
    if own:
        fig.tight_layout()
    return fig


def probing_heatmap_png(rows: list[dict], backbone: str, title: str, path: str | os.PathLike,
                        value_key: str = "R² top", emotions: list[str] | None = None) -> Path:
    """PNG of `probing_heatmap_figure` (feature group x emotion for one backbone) at `path`."""
    return _save(probing_heatmap_figure(rows, backbone, title, value_key, emotions), path)


def class_maps_figure(maps: dict[str, dict], title: str, frame_hop_s: float = 0.01, *,
                      fig: FigureBase | None = None) -> FigureBase:
    """Mean attribution map per emotion on the log-mel grid (top row) with its mean time profile (bottom row).

    ``maps``: emotion -> {"map": [frames, bands], "profile": [frames], "n": clips}.
    Two panels per emotion, so the drawing goes into `fig` (an empty Figure or
    SubFigure) when given, else into a new Figure; returns it.
    """
    emotions = list(maps)
    n = max(1, len(emotions))
    own = fig is None
    if own:
        fig = Figure(figsize=(max(4.0, 2.3 * n), 4.2), dpi=DPI)
    axes = fig.subplots(2, n, squeeze=False, gridspec_kw={"height_ratios": [3, 1]})
    vmax = max((float(np.nanmax(np.abs(m["map"]))) for m in maps.values() if np.size(m["map"])), default=1.0) or 1.0
    signed = any(float(np.nanmin(m["map"])) < 0 for m in maps.values() if np.size(m["map"]))
    for j, emotion in enumerate(emotions):
        entry = maps[emotion]
        grid = np.asarray(entry["map"], dtype=float)
        seconds = grid.shape[0] * frame_hop_s
        axes[0, j].imshow(grid.T, origin="lower", aspect="auto", extent=(0, seconds, 0, grid.shape[1]),
                          cmap="RdBu_r" if signed else "magma", vmin=-vmax if signed else 0.0, vmax=vmax)
        axes[0, j].set_title(f"{emotion} (n={entry['n']})", fontsize=9, parse_math=False)
        axes[0, j].set_xticks([])
        if j == 0:
            axes[0, j].set_ylabel("mel band")
        profile = np.asarray(entry["profile"], dtype=float)
        axes[1, j].plot(np.arange(profile.size) * frame_hop_s, profile, color="#233047", linewidth=1)
        axes[1, j].set_xlim(0, seconds)
        axes[1, j].set_xlabel("time (s)")
        axes[1, j].tick_params(labelsize=7)
    fig.suptitle(title, fontsize=10)
    if own:
        fig.tight_layout()
    return fig


def class_maps_png(maps: dict[str, dict], title: str, path: str | os.PathLike, frame_hop_s: float = 0.01) -> Path:
    """PNG of `class_maps_figure` (mean map and time profile per emotion) at `path`."""
    return _save(class_maps_figure(maps, title, frame_hop_s), path)


def waveform_figure(waveform: np.ndarray, sample_rate: int, log_mel: np.ndarray, patches: dict, title: str,
                    frame_hop_s: float = 0.01, *, fig: FigureBase | None = None) -> FigureBase:
    """Waveform, one bar per patch (green: GDS kept it, red: dropped) and the log-mel of one clip.

    The waveform is shaded green where a kept patch covers it and red where only dropped
    patches do, so a reader sees which parts of the clip the prediction pooled.
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
    top, lane, bottom = fig.subplots(3, 1, sharex=True, gridspec_kw={"height_ratios": [1, 0.45, 1.3]})
    times = np.arange(waveform.size) / sample_rate
    covered_kept = np.zeros(waveform.size, bool)
    covered = np.zeros(waveform.size, bool)
    for a, b, k in zip(starts, ends, keep):
        inside = (times >= a) & (times < b)
        covered |= inside
        covered_kept |= inside & bool(k)
    top.fill_between(times, 0, 1, where=covered_kept, transform=top.get_xaxis_transform(), color=kept_colour,
                     alpha=0.15, linewidth=0)
    top.fill_between(times, 0, 1, where=covered & ~covered_kept, transform=top.get_xaxis_transform(),
                     color=dropped_colour, alpha=0.15, linewidth=0)
    top.plot(times, waveform, color="#233047", linewidth=0.4)
    top.set_ylabel("amplitude")
    for i, (a, b, k) in enumerate(zip(starts, ends, keep)):
        row = i % 2
        lane.barh(row, b - a, left=a, height=0.7, color=kept_colour if k else dropped_colour, alpha=0.75)
        lane.text(a + 0.02, row, f"patch {i}: {a:.2f}–{b:.2f} s{'' if k else ' (dropped)'}", va="center",
                  fontsize=7, color="white")
    lane.set_yticks([])
    lane.set_ylim(-0.5, 1.5)
    lane.invert_yaxis()
    lane.set_ylabel("patches", fontsize=8)
    bottom.imshow(log_mel.T, origin="lower", aspect="auto", cmap="magma",
                  extent=(0, log_mel.shape[0] * frame_hop_s, 0, log_mel.shape[1]))
    bottom.set_ylabel("mel band")
    bottom.set_xlabel("time (s)")
    top.set_xlim(0, max(seconds, max(ends, default=0.0)))
    handles = [Rectangle((0, 0), 1, 1, color=kept_colour, alpha=0.5),
               Rectangle((0, 0), 1, 1, color=dropped_colour, alpha=0.5)]
    top.legend(handles, ["kept by GDS (pooled)", "dropped by GDS"], loc="upper right", fontsize=7)
    top.set_title(title, fontsize=10, parse_math=False)
    if own:
        fig.tight_layout()
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
    are drawn in the method's colour. Draws into `ax` when given, else into a new Figure; returns the Figure.
    """
    ax, fig, own = _axes(ax, (4.6, 3.2))
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
        ax.legend(fontsize=7, loc="lower left")
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
