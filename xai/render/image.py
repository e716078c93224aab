"""Render attributions as pictures: an overlay on the clip's log-mel, every method's time profile, faithfulness curves.

Only consumes data (an `Attribution`, the clip's log-mel). Each picture has a drawing
function that returns a matplotlib `Figure` (a notebook shows it inline) or draws into
an Axes or Figure the caller gives, and a file writer (``plot_*``) that saves it as PNG.
Figures are built with the object-oriented API (`matplotlib.figure.Figure`), never
pyplot: importing this module leaves the caller's matplotlib backend alone, and the
PNGs are written the same under any backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure, FigureBase

from seraudit.core.constants import NUM_MEL_BANDS
from seraudit.core.io import atomic_path
from seraudit.ensemble.model.naming import model_display

#: Figure resolution of every PNG written here.
DPI = 110


def model_title(model: Any) -> str:
    """Display name of a model for a figure title.

    Takes a `TrainedModel` (its ``display_name`` marks untrained branches, e.g.
    ``"Ensemble (late fusion; VGGish untrained)"``) or a plain name string.
    """
    if isinstance(model, str):
        return model_display(model)
    return str(getattr(model, "display_name", getattr(model, "name", model)))


def _title(attribution, model: Any | None) -> str:
    name = model_title(model if model is not None else attribution.model)
    return f"{name} — {attribution.method} — target: {attribution.target_label}"


def _time_width(seconds: float) -> float:
    """Figure width for a clip: longer clips get wider figures, within readable bounds."""
    return float(np.clip(2.5 + 3.0 * seconds, 6.0, 14.0))


def _axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Axes, Figure]:
    """The Axes to draw into (a new Figure of `figsize` when none is given) and the Figure that holds it."""
    if ax is None:
        fig = Figure(figsize=figsize)
        return fig.add_subplot(), fig
    return ax, ax.get_figure(root=True)


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, bbox_inches="tight")
    return path


def _overlay_rgba(clip_map: np.ndarray) -> tuple[np.ndarray, float, str]:
    """Colour image of the attribution with opacity growing with its magnitude.

    Non-negative maps use a sequential colormap from 0 to their maximum; signed maps a
    diverging one centred on 0 (red for the target, blue against it).
    """
    m = np.nan_to_num(np.asarray(clip_map, dtype=np.float64))
    signed = bool((m < 0).any())
    scale = float(np.abs(m).max()) or 1.0
    if signed:
        cmap, values = matplotlib.colormaps["RdBu_r"], 0.5 + 0.5 * m / scale
    else:
        cmap, values = matplotlib.colormaps["inferno"], m / scale
    rgba = cmap(values)
    rgba[..., 3] = 0.85 * np.clip(np.abs(m) / scale, 0.0, 1.0) ** 0.7
    return rgba, scale, cmap.name


def overlay_figure(attribution, log_mel: np.ndarray, *, model: Any | None = None, ax: Axes | None = None) -> Figure:
    """The clip's log-mel (grey) with the attribution drawn over it, and a colour bar.

    Parameters
    ----------
    attribution : xai.attribution.Attribution
        Any method's attribution; ``clip_map`` on the same grid as `log_mel`.
    log_mel : np.ndarray ``[n_frames, 64]``
        The clip's log-mel (``ClipFeatures.log_mel``).
    model : TrainedModel or str, optional
        Supplies the display name in the title (untrained branches are marked);
        defaults to the attribution's model name.
    ax : matplotlib Axes, optional
        Draw into this Axes (the colour bar takes room beside it); by default a new Figure.

    Returns
    -------
    The Figure drawn on.
    """
    log_mel = np.asarray(log_mel, dtype=np.float64)
    clip_map = np.asarray(attribution.clip_map)
    if log_mel.ndim != 2 or log_mel.shape[1] != NUM_MEL_BANDS:
        raise ValueError(f"log_mel must be [n_frames, {NUM_MEL_BANDS}], got {log_mel.shape}")
    if log_mel.shape[0] != clip_map.shape[0]:
        raise ValueError(
            f"log-mel has {log_mel.shape[0]} frames but the {attribution.method} map has {clip_map.shape[0]}; "
            "pass the log-mel of the clip the attribution was computed on"
        )
    hop = float(attribution.frame_hop_s)
    extent = (0.0, log_mel.shape[0] * hop, 0, NUM_MEL_BANDS)
    ax, fig = _axes(ax, (_time_width(extent[1]), 3.6))
    ax.imshow(log_mel.T, origin="lower", aspect="auto", cmap="gray", extent=extent, interpolation="nearest")
    rgba, scale, cmap_name = _overlay_rgba(clip_map)
    ax.imshow(np.transpose(rgba, (1, 0, 2)), origin="lower", aspect="auto", extent=extent, interpolation="nearest")
    signed = cmap_name == "RdBu_r"
    mappable = ScalarMappable(norm=Normalize(-scale if signed else 0.0, scale), cmap=matplotlib.colormaps[cmap_name])
    ax.figure.colorbar(mappable, ax=ax, pad=0.01, label="attribution")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("mel band")
    ax.set_title(_title(attribution, model), fontsize=10)
    return fig


def plot_overlay(attribution, log_mel: np.ndarray, path: str | Path, *, model: Any | None = None) -> Path:
    """PNG of `overlay_figure` (the attribution over the clip's log-mel) at `path`."""
    return _save(overlay_figure(attribution, log_mel, model=model), path)


def time_profiles_figure(attributions, *, model: Any | None = None, ax: Axes | None = None) -> Figure:
    """Every method's time profile for one model and clip, each scaled to its own peak, on one time axis.

    Methods have incomparable units (gradients, probability drops, LIME weights);
    scaling each by its largest magnitude shows *where* they agree in time.
    Draws into `ax` when given, else into a new Figure; returns the Figure drawn on.
    """
    attributions = list(attributions)
    if not attributions:
        raise ValueError("plot_time_profiles needs at least one attribution")
    hop = float(attributions[0].frame_hop_s)
    n_frames = attributions[0].n_frames
    ax, fig = _axes(ax, (_time_width(n_frames * hop), 2.8))
    for attribution in attributions:
        profile = np.nan_to_num(np.asarray(attribution.time_profile(), dtype=np.float64))
        peak = float(np.abs(profile).max()) or 1.0
        ax.plot(np.arange(profile.size) * hop, profile / peak, lw=1.2, label=attribution.method)
    ax.axhline(0.0, color="grey", lw=0.5)
    ax.set_xlim(0.0, n_frames * hop)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("attribution / its peak")
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    name = model_title(model if model is not None else attributions[0].model)
    ax.set_title(f"{name} — every method over time", fontsize=10)
    return fig


def plot_time_profiles(attributions, path: str | Path, *, model: Any | None = None) -> Path:
    """PNG of `time_profiles_figure` (every method's time profile, each scaled to its peak) at `path`."""
    return _save(time_profiles_figure(attributions, model=model), path)


def faithfulness_figure(curves: dict[str, dict[str, Any]], *, model: Any, fig: FigureBase | None = None) -> FigureBase:
    """The deletion and insertion curves of every method for one model and clip, beside the random order.

    `curves` maps a method to ``fractions``, ``deletion``, ``insertion``,
    ``random_deletion`` and ``random_insertion`` (as in `xai.metrics.faithfulness.FaithfulnessResult`).
    The random orders depend only on the clip, the model and the seed, so one random
    curve per panel serves every method. Two panels, so the drawing goes into `fig`
    (an empty Figure or SubFigure) when given, else into a new Figure; returns it.
    """
    if not curves:
        raise ValueError("plot_faithfulness_curves needs the curves of at least one method")
    if fig is None:
        fig = Figure(figsize=(9.0, 3.2), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, kind, better in ((axes[0], "deletion", "lower"), (axes[1], "insertion", "higher")):
        for method, c in curves.items():
            ax.plot(c["fractions"], c[kind], lw=1.3, label=method)
        first = next(iter(curves.values()))
        ax.plot(first["fractions"], first[f"random_{kind}"], "k--", lw=1.0, label="random order")
        ax.set_xlabel(f"fraction of blocks {'removed' if kind == 'deletion' else 'revealed'}")
        ax.set_title(f"{kind} ({better} area is better)", fontsize=9)
        ax.set_xlim(0.0, 1.0)
    axes[0].set_ylabel("target probability")
    axes[1].legend(fontsize=8, loc="lower right")
    fig.suptitle(f"{model_title(model)} — faithfulness", fontsize=10)
    return fig


def plot_faithfulness_curves(curves: dict[str, dict[str, Any]], path: str | Path, *, model: Any) -> Path:
    """PNG of `faithfulness_figure` (deletion and insertion curves beside the random order) at `path`."""
    return _save(faithfulness_figure(curves, model=model), path)


def image_name(clip: str, model: str, method: str, kind: str) -> str:
    """``<clip>__<model>__<method>__<kind>.png`` with every part made file-name safe."""
    from seraudit.xai.render.audio import render_name

    return render_name(clip, model, method, kind)[: -len(".wav")] + ".png"
