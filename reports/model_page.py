"""A model page's own sections: its UAR fold by fold, its mean deletion/insertion curves over the audited clips,
the clips audited with it, and where the index shows the rest.

`uar_by_fold(page)` reads the run folder through `Run` (cached with the calibration, `reports.model_calibration`):
each fold's UAR exactly as ``results.json`` saved it (over the emotions present in that fold's test clips), beside
the fold's test speakers and clip count from the plan and the predictions, with the mean and a 95 % Student-t
interval over folds. `faithfulness_curves(page)` averages the curves every clip's ``clip.json`` saved
(`xai.metrics.faithfulness`) per method; `audited_clips(page)` lists the clips with this model's label.
Nothing here runs a model or recomputes a score.
"""

from __future__ import annotations

import functools
import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from seraudit.reports.run_reader import METRIC_NAMES

#: The confidence level of the UAR interval over folds and of the curve bands over clips.
LEVEL = 0.95
#: The curves a faithfulness record saves, drawn in this order: (key, legend text, colour, dashed).
CURVES = (("deletion", "deletion: most-attributed blocks removed first", "#D55E00", False),
          ("random_deletion", "deletion, random order (control)", "#D55E00", True),
          ("insertion", "insertion: most-attributed blocks revealed first", "#0072B2", False),
          ("random_insertion", "insertion, random order (control)", "#0072B2", True))
#: Scores the index's metrics table already shows (mean over folds, pooled): a model page leaves them out.
INDEX_SCORES = frozenset({f"{shown} (mean over folds)" for shown in METRIC_NAMES.values()} | {"UAR pooled over folds"})


# ------------------------------------------------------------------ UAR fold by fold
def t_interval(values: list[float] | np.ndarray, level: float = LEVEL) -> tuple[float, float] | None:
    """The Student-t interval of the mean of `values` (sample standard deviation); None under two values."""
    from scipy import stats

    x = np.asarray(values, dtype=float)
    if x.size < 2:
        return None
    half = float(stats.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return float(x.mean()) - half, float(x.mean()) + half


def fold_figures(run) -> dict[str, dict[str, Any]]:
    """Per model of a `Run`: one row per test fold (fold, test speakers, UAR as saved, clips, emotions present and
    missing), the mean of the saved fold UARs and their 95 % interval. A model whose saved fold UARs do not match
    its folds in the predictions (an older run) gets no rows."""
    predictions, results = run.predictions, run.results
    labels = [str(x) for x in results.get("labels", [])]
    plan = {f.get("index"): f for f in (run.folds.get("folds", []) if isinstance(run.folds, dict) else [])}
    out: dict[str, dict[str, Any]] = {}
    for name, rec in results.get("models", {}).items():
        saved = [float(v) for v in (rec.get("uar") or {}).get("folds", [])]
        own = predictions[predictions["model"] == name]
        folds = sorted(own["fold"].unique()) if len(own) else []
        if not saved or len(saved) != len(folds):  # results.json lists fold UARs in sorted fold order
            continue
        rows = []
        for fold, uar in zip(folds, saved):
            held = own[own["fold"] == fold]
            present = set(held["label"].astype(str))
            speakers = plan.get(int(fold), {}).get("test_speakers") or sorted(held["speaker"].astype(str).unique())
            rows.append({"fold": int(fold), "test_speakers": [str(s) for s in speakers], "uar": uar,
                         "n_clips": int(len(held)), "n_emotions": len(present),
                         "missing": [lab for lab in labels if lab not in present]})
        interval = t_interval(saved)
        out[name] = {"rows": rows, "mean": float(np.mean(saved)), "interval": interval, "level": LEVEL,
                     "n_labels": len(labels)}
    return out


@functools.lru_cache(maxsize=4)
def _fold_figures_of(run_dir: str, stamp: float) -> dict[str, dict[str, Any]]:
    from seraudit.ensemble.run import Run

    try:
        return fold_figures(Run.open(run_dir))
    except Exception:  # noqa: BLE001 - a run folder that is gone or older: the page shows its mean UAR only
        return {}


def _saved_fold_figures(run_dir: str | os.PathLike | None) -> dict[str, dict[str, Any]]:
    """`fold_figures` of a run folder (cached per folder and its predictions); empty without one."""
    predictions = Path(run_dir) / "predictions.csv" if run_dir else None
    if predictions is None or not predictions.is_file():
        return {}
    return _fold_figures_of(str(run_dir), predictions.stat().st_mtime)


def uar_by_fold(page) -> dict[str, Any]:
    """The model's UAR per test fold with its mean and interval, and how it reads the audio (its layers and pooling:
    the scores beside UAR are on the index); an empty table without the run folder."""
    record = (_saved_fold_figures(page.report.run_dir) or {}).get(page.subject.info.name)
    reads = {k: v for k, v in page.subject.extra_metrics.items() if k not in INDEX_SCORES}
    return {"folds": record, "reads": reads}


# ------------------------------------------------------------------ mean deletion/insertion curves
def clip_curves(audit_dir: str | os.PathLike) -> dict[str, dict[str, dict[str, dict[str, list[float]]]]]:
    """clip id -> model -> method -> its saved curves, from every ``clip.json`` of the audit folder."""
    from seraudit.xai.audit.folder import read_audit_index, read_clip_record

    out = {}
    for entry in read_audit_index(audit_dir).get("clips", []):
        record = read_clip_record(audit_dir, entry)
        out[record["id"]] = {model: {method: rec["curves"] for method, rec in per_method.items() if rec.get("curves")}
                             for model, per_method in record.get("methods", {}).items()}
    return out


def mean_curves(per_clip: list[dict[str, list[float]]], level: float = LEVEL) -> dict[str, Any] | None:
    """The mean over clips of each saved curve, with a `level` Student-t interval of the mean at each fraction.

    Clips saved on different fraction grids are interpolated onto the finest one. Returns
    ``fractions``, ``n_clips`` and per curve key ``{"mean", "low", "high"}`` (bands None under two clips).
    """
    from scipy import stats

    per_clip = [c for c in per_clip if c.get("fractions")]
    if not per_clip:
        return None
    grids = [np.asarray(c["fractions"], dtype=float) for c in per_clip]
    same = all(g.shape == grids[0].shape and np.allclose(g, grids[0]) for g in grids)
    fractions = grids[0] if same else np.linspace(0.0, 1.0, max(g.size for g in grids))
    out: dict[str, Any] = {"fractions": fractions.tolist(), "n_clips": len(per_clip), "level": level, "curves": {}}
    for key, *_ in CURVES:
        rows = [np.interp(fractions, g, np.asarray(c[key], dtype=float)) for g, c in zip(grids, per_clip) if c.get(key)]
        if not rows:
            continue
        values = np.vstack(rows)
        mean = values.mean(axis=0)
        entry = {"mean": mean.tolist(), "low": None, "high": None, "n_clips": len(rows)}
        if len(rows) >= 2:
            half = stats.t.ppf(0.5 + level / 2, len(rows) - 1) * values.std(axis=0, ddof=1) / np.sqrt(len(rows))
            entry["low"], entry["high"] = (mean - half).tolist(), (mean + half).tolist()
        out["curves"][key] = entry
    return out if out["curves"] else None


def curves_figure(panels: dict[str, dict[str, Any]], title: str):
    """One panel per method: the mean deletion and insertion curves and their random-order controls (dashed), each
    with its band; one shared probability axis, one legend below the panels (never over a curve)."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    n = len(panels)
    cols = min(n, 4)
    rows = -(-n // cols)
    fig = Figure(figsize=(2.9 * cols + 0.4, 2.3 * rows + 0.9), dpi=100, layout="constrained")
    axes = fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False)
    for ax, (method, data) in zip(axes.flat, panels.items()):
        x = 100.0 * np.asarray(data["fractions"])
        for key, _, colour, dashed in CURVES:
            entry = data["curves"].get(key)
            if entry is None:
                continue
            if entry["low"] is not None:  # a probability's band ends at 0 and 1
                ax.fill_between(x, np.clip(entry["low"], 0, 1), np.clip(entry["high"], 0, 1), color=colour,
                                alpha=0.10 if dashed else 0.22, linewidth=0)
            ax.plot(x, entry["mean"], color=colour, linestyle="--" if dashed else "-", linewidth=1.2 if dashed else 1.8)
        ax.set_title(f"{method} (n = {data['n_clips']} clips)", fontsize=9, parse_math=False)
        ax.set_xlim(0, 100)
        ax.set_ylim(0, 1.02)
        ax.grid(True, color="0.9", linewidth=0.6)
        ax.tick_params(labelsize=8)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("blocks removed / revealed (%)", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("p(target class)", fontsize=8)
    handles = [Line2D([], [], color=c, linestyle="--" if d else "-", linewidth=1.2 if d else 1.8) for _, _, c, d in CURVES]
    fig.legend(handles, [text for _, text, _, _ in CURVES], loc="outside lower center", ncol=2, fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=10)
    return fig


def curves_svg(panels: dict[str, dict[str, Any]], title: str) -> str:
    """`curves_figure` as an inline SVG document (text, so the page holds it without an asset file)."""
    from seraudit.reports.plots import _inline_svg

    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # text stays text: a smaller page, and searchable
        curves_figure(panels, title).savefig(buffer, format="svg", metadata={"Date": None})
    return _inline_svg(buffer.getvalue())


def model_curves(report, model: str) -> dict[str, dict[str, Any]]:
    """Method -> `mean_curves` over the report's clips that saved curves for `model`, in the audit's method order."""
    saved = clip_curves(report.audit_dir)
    methods = [m for m in report.methods] + sorted({m for c in saved.values() for m in c.get(model, {})} - set(report.methods))
    out = {}
    for method in methods:
        per_clip = [saved[c.clip_id][model][method] for c in report.clips
                    if method in saved.get(c.clip_id, {}).get(model, {})]
        mean = mean_curves(per_clip)
        if mean is not None:
            out[method] = mean
    return out


def faithfulness_curves(page) -> dict[str, Any] | None:
    """The model's mean curves per method with their figure, each method's time per clip; None when the audit saved
    neither curves nor times for it."""
    info = page.subject.info
    panels = model_curves(page.report, info.name)
    seconds = {method: m["seconds"] for method, m in page.subject.method_means.items() if m.get("seconds") is not None}
    if not panels and not seconds:
        return None
    svg = curves_svg(panels, f"{info.title}: mean over the audited clips") if panels else None
    return {"panels": panels, "svg": svg, "seconds": seconds, "level": LEVEL}


# ------------------------------------------------------------------ the clips audited with this model
def audited_clips(page) -> list[dict[str, Any]] | None:
    """One row per clip the audit explained with this model: the clip, its speaker, which model explained it
    (held out or in sample), its true label, this model's label and confidence, and its out-of-fold label."""
    name = page.subject.info.name
    rows = []
    for clip in page.report.clips:
        prediction = clip.predictions.get(name)
        if prediction is None and name not in clip.methods:
            continue
        source = clip.explained_by or {}
        rows.append({"clip": clip, "prediction": prediction, "source": source,
                     "out_of_fold": (source.get("cv_predictions") or {}).get(name),
                     "correct": None if prediction is None or clip.true_label is None else prediction.label == clip.true_label})
    return rows or None


def on_the_index(page) -> list[dict[str, str]]:
    """What a model page leaves to the index, as (anchor on the index, what it holds) links."""
    report = page.report
    links = [("metrics", "UAR, accuracy, macro-F1 and top-k accuracy of every model (mean ± std, range, pooled)")]
    if page.figures.get("confusion"):
        links.append(("confusion", "the confusion matrices over all test folds"))
    links.append(("per-class-recall", "recall per emotion"))
    if report.comparison_rows:
        links.append(("comparisons", "the ensemble against each model (UAR difference, interval, McNemar p)"))
    if report.metrics:
        links.append(("explanation-metrics", "every explanation metric per model and method, against its control"))
    if report.probing_rows or report.probing_controls:
        links.append(("probing", "eGeMAPS probing of each backbone against its controls"))
    return [{"anchor": anchor, "text": text} for anchor, text in links]
