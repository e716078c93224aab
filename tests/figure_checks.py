"""Checks shared by the figure tests: what a drawn matplotlib figure holds, read back from its renderer."""

from __future__ import annotations

from matplotlib.figure import Figure


def drawn(fig: Figure):
    """The renderer of `fig` drawn as its PNG is (Agg), for the window extents of what it holds."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    return renderer


def texts_inside(fig: Figure) -> None:
    """Every text drawn (titles, labels, legends, colour bars, the tick labels in view) lies on the canvas: the PNG
    is saved without a tight bounding box, so nothing may stick out."""
    from matplotlib.text import Text

    renderer = drawn(fig)
    axes = [a for ax in fig.axes for a in (ax, *ax.child_axes)]
    ticks = {axis: axis.get_major_ticks() + axis.get_minor_ticks() for ax in axes for axis in (ax.xaxis, ax.yaxis)}
    tick_labels = {id(t.label1) for per_axis in ticks.values() for t in per_axis} | {
        id(t.label2) for per_axis in ticks.values() for t in per_axis}
    shown = [t for t in fig.findobj(Text) if id(t) not in tick_labels]
    for axis, per_axis in ticks.items():
        low, high = sorted(axis.get_view_interval())
        shown += [label for t in per_axis if low - 1e-9 <= t.get_loc() <= high + 1e-9 for label in (t.label1, t.label2)]
    canvas = fig.bbox.padded(1.0)
    for text in shown:
        if text.get_visible() and text.get_text().strip():
            box = text.get_window_extent(renderer)
            assert canvas.contains(box.x0, box.y0) and canvas.contains(box.x1, box.y1), text.get_text()


def colour_bar_labels(ax) -> list[str]:
    return [child.get_ylabel() for child in ax.child_axes]
