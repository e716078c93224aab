"""A trained run read back for a report: what its model pages and run-level sections show, through `Run` only.

`Run` (`ensemble.run`) is the one reader of a run folder; this module turns what it
read (``results.json`` scores and confusion matrices, each model's saved config, the
fold plan, provenance, failures) into the plain summary `reports.loading.load_report`
takes. Nothing is recounted: the confusion matrices are the ones the scores came from.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

from seraudit.ensemble.model.naming import model_display
from seraudit.core.errors import SerauditError
from seraudit.core.io import read_json
from seraudit.ensemble.run import EGEMAPS_MODEL, RUN_FILE, Run, corpus_display
from seraudit.reports import run_sections
from seraudit.reports.model import display_path

#: Where the main job records its phases' times in a run folder (`api.main_job` writes it; the report reads it).
TIMINGS_FILE = "timings.json"
#: Scores a model page lists beside its UAR: results.json key -> shown name.
METRIC_NAMES = {"accuracy": "accuracy", "macro_f1": "macro-F1", "top2_accuracy": "top-2 accuracy",
                "top3_accuracy": "top-3 accuracy"}
POOLING_TEXT = {
    "mean": "mean of the kept patches' log-probabilities",
    "stats": "statistics pooling in the graph (mean and standard deviation of the layers over the kept patches)",
    "attentive": "attentive statistics pooling in the graph (learned weight per kept patch; the audit's "
                 "'attention' method draws it)",
}


def run_summary(run: Run) -> dict[str, Any]:
    """What the report shows from a trained run, read from its saved files (never recomputed).

    ``results.json`` gives each model's scores, its confusion matrix over all test folds and
    the ensemble-vs-single comparisons; the rest of the run gives the run-level sections.
    """
    models: dict[str, Any] = {}
    baselines: dict[str, Any] = {}
    for name, rec in run.results.get("models", {}).items():
        (baselines if name == EGEMAPS_MODEL else models)[name] = model_summary(run, name, rec)
    root = corpus_root_of(run.provenance.get("data") or run.settings.get("data"))
    # the name the run measured from its clips ("RAVDESS" for full-length ones); a run from before that, its corpus key
    corpus = run.results.get("corpus_display") or corpus_display(str(run.provenance.get("corpus") or ""))
    return {
        "results": run.results,
        "run_failures": run.failures,
        "corpus_root": root,
        "sections": run_level_sections(run, root),
        "models": models,
        "baselines": baselines,
        "comparisons": saved_comparisons(run.results),
        "corpus_note": corpus,
        "baseline_titles": {n: b["display_name"] for n, b in baselines.items()},
    }


def model_summary(run: Run, name: str, rec: dict[str, Any]) -> dict[str, Any]:
    """One model's page figures: its name, UAR, the other scores, the layers it reads and its stored confusion matrix."""
    uar = rec.get("uar", {})
    entry = {
        "display_name": rec.get("display_name", name),
        "untrained_branches": list(rec.get("untrained", [])),
        "labels": [str(x) for x in run.results.get("labels", [])],
        "uar_mean": uar.get("mean"),
        "uar_std": uar.get("std"),
        "uar_folds": [float(v) for v in uar.get("folds") or []],
        "extra": extra_scores(rec) | layers_read(run.model_config(name) if name != EGEMAPS_MODEL else None),
    }
    confusion = run.confusion(name)
    if confusion is not None:
        entry["confusion_labels"], entry["confusion"] = confusion
    return entry


def extra_scores(rec: dict[str, Any]) -> dict[str, Any]:
    """The scores beside UAR (mean over folds), then UAR pooled over all test clips."""
    uar = rec.get("uar", {})
    scores = {f"{shown} (mean over folds)": rec[metric]["mean"] for metric, shown in METRIC_NAMES.items()
              if isinstance(rec.get(metric), dict) and "mean" in rec[metric]}
    return scores | ({"UAR pooled over folds": uar["pooled"]} if "pooled" in uar else {})


def layers_read(config: dict[str, Any] | None) -> dict[str, str]:
    """``{"layers read ...": "YAMNet layer8; VGGish fc1", "clip pooling": ...}`` from a model's saved config.

    No config (the eGeMAPS baseline, a model saved without one) shows nothing; a config
    without taps is a model saved before heads chose their layers: it reads the embedding.
    """
    if config is None:
        return {}
    taps = config.get("taps")
    if not taps:
        return {"layers read": "the embedding (last layer)"}
    weights = config.get("layer_weights") or {}

    def describe(branch: str, layers: list[str]) -> str:
        if branch in weights:  # a learned softmax-weighted sum: show each layer's weight
            mix = ", ".join(f"{t} {weights[branch][t]:.2f}" for t in layers)
            return f"{model_display(branch)} weighted sum ({mix})"
        return f"{model_display(branch)} {' + '.join(layers)}"

    text = "; ".join(describe(b, t) for b, t in taps.items())
    return {"layers read (chosen on validation speakers)": text, "clip pooling": POOLING_TEXT[config.get("pooling", "mean")]}


def saved_comparisons(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The ensemble-vs-single comparisons as results.json stores them, under the names the report uses."""
    return [{"model": c.get("a"), "other": c.get("b"), "uar_difference": c.get("uar_difference"),
             "ci_low": c.get("ci_low"), "ci_high": c.get("ci_high"), "mcnemar_p": c.get("p_value")}
            for c in results.get("comparisons", [])]


def run_level_sections(run: Run, root: str) -> dict[str, Any]:
    """The index's run-level sections (`reports.run_sections`), each from the run's saved records."""
    results, predictions = run.results, run.predictions
    metric_names, metric_rows = run_sections.metrics_section(results)
    recall_labels, recall_rows = run_sections.recall_section(results)
    folds = run.folds if isinstance(run.folds, dict) else {}  # a folds.json that is not a plan gives none
    return {
        "corpus": run_sections.corpus_section(results, predictions, run.provenance),
        "folds": run_sections.folds_section(folds, predictions),
        "metric_names": metric_names,
        "metrics": metric_rows,
        "recall_labels": recall_labels,
        "recall": recall_rows,
        "gds_ablation": run_sections.gds_ablation_section(results),
        "provenance": run_sections.provenance_section(run.provenance, functools.partial(display_path, root=root))
        | run_sections.run_record(run.provenance, predictions, root, n_left_out=len(run.failures),
                                  run_file=run.path / RUN_FILE, timings=saved_timings(run.path),
                                  timings_file=run.path / TIMINGS_FILE),
        "model_card": run_sections.model_card(results, run.provenance),
        "corpus_root": root,
    }


def saved_timings(run_dir: Path) -> dict[str, Any] | None:
    """Where the main job's time went (``RUN/timings.json``, written by `api.main_job`); None when it wrote none."""
    path = Path(run_dir) / TIMINGS_FILE
    if not path.is_file():
        return None
    try:
        data = read_json(path, "timings")
    except SerauditError:  # a damaged timings file costs the table, not the report
        return None
    return data if isinstance(data, dict) else None


def corpus_root_of(data: str | os.PathLike | None) -> str:
    """The folder a run's paths are shown relative to: its corpus folder, or a manifest's folder."""
    if not data:
        return ""
    path = Path(os.fspath(data))
    return os.path.abspath(path.parent if path.suffix.lower() == ".csv" else path)
