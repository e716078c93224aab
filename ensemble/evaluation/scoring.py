"""Scores a run's cross-validation predictions: metrics per model (per fold and pooled) and ensemble-vs-single comparisons."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from seraudit.ensemble.evaluation.comparison import compare_models, compared_with_ensemble, interval_verdict
from seraudit.ensemble.evaluation.metrics import classification_metrics, summarize
from seraudit.ensemble.model.naming import display_name
from seraudit.ensemble.model.spec import ENSEMBLE

if TYPE_CHECKING:
    from seraudit.ensemble.run import Run

# What a run's results.json records about the run itself (not recomputed from its predictions).
RUN_FACTS = ("corpus", "corpus_display", "gds", "gds_kept_fraction", "fine_tune", "n_clips", "n_speakers", "seconds",
             "cross_corpus", "test_corpus", "test_corpus_display", "shared_labels", "n_train_clips", "metrics_over",
             "corpus_summary", "gds_ablation")


def model_metrics(predictions: pd.DataFrame, labels: list[str]) -> dict:
    """Metrics of one model's clip predictions: per fold, then mean ± std over folds and pooled.

    The ``p_<label>`` probability columns, when the table has one per label, add top-k accuracy.
    """
    index = {lab: i for i, lab in enumerate(labels)}
    y, p = predictions["label"].map(index).to_numpy(), predictions["prediction"].map(index).to_numpy()
    columns = [f"p_{lab}" for lab in labels]
    scores = predictions[columns].to_numpy(dtype=float) if set(columns) <= set(predictions.columns) else None
    per_fold = []
    for f in sorted(predictions["fold"].unique()):
        rows = (predictions["fold"] == f).to_numpy()
        per_fold.append(classification_metrics(y[rows], p[rows], labels, None if scores is None else scores[rows]))
    return summarize(per_fold, classification_metrics(y, p, labels, scores))


def aux_metrics(predictions: pd.DataFrame) -> dict:
    """UAR and accuracy (mean ± std over folds, and pooled) of every auxiliary field a model predicted (multitask)."""
    from sklearn.metrics import accuracy_score, balanced_accuracy_score

    out = {}
    for column in [c for c in predictions.columns if c.endswith("_prediction")]:
        task = column[: -len("_prediction")]
        rows = predictions[predictions[column].notna() & predictions.get(task, pd.Series(dtype=object)).notna()]
        if task not in predictions or rows.empty:
            continue
        entry = {}
        for metric, score in (("uar", balanced_accuracy_score), ("accuracy", accuracy_score)):
            folds = [100.0 * score(f[task].astype(str), f[column].astype(str)) for _, f in rows.groupby("fold")]
            entry[metric] = {"mean": float(np.mean(folds)), "std": float(np.std(folds)), "folds": folds,
                             "pooled": 100.0 * float(score(rows[task].astype(str), rows[column].astype(str)))}
        entry["classes"] = sorted(rows[task].astype(str).unique())
        out[task] = entry
    return out


def evaluate_predictions(predictions: pd.DataFrame, labels: list[str], model_info: dict[str, dict], n_boot: int = 2000, seed: int = 0) -> dict:
    """Metrics for every model and the paired comparisons of the ensemble with each other model.

    `model_info` maps model name -> {"fusion": ..., "untrained": [...]}.
    """
    out: dict = {"models": {}, "comparisons": [], "labels": list(labels)}
    for name, frame in predictions.groupby("model", sort=False):
        info = model_info.get(name, {})
        entry = {
            "display_name": display_name(name, info.get("fusion"), info.get("untrained", [])),
            "fusion": info.get("fusion"),
            "untrained": list(info.get("untrained", [])),
            **model_metrics(frame, labels),
        }
        aux = aux_metrics(frame)
        if aux:
            entry["aux"] = aux
        out["models"][name] = entry
    if ENSEMBLE in out["models"]:
        index = {lab: i for i, lab in enumerate(labels)}
        ens = predictions[predictions["model"] == ENSEMBLE].set_index("path")
        for other in [m for m in compared_with_ensemble() if m in out["models"]]:
            oth = predictions[predictions["model"] == other].set_index("path").loc[ens.index]
            y = ens["label"].map(index).to_numpy()
            result = compare_models(
                y, ens["prediction"].map(index).to_numpy(), oth["prediction"].map(index).to_numpy(),
                speakers=ens["speaker"].to_numpy(), n_boot=n_boot, seed=seed,
            )
            boot = result["bootstrap"]
            out["comparisons"].append({
                "a": ENSEMBLE,
                "b": other,
                "a_display": out["models"][ENSEMBLE]["display_name"],
                "b_display": out["models"][other]["display_name"],
                "uar_difference": boot["difference"],
                "ci_low": boot["ci_low"],
                "ci_high": boot["ci_high"],
                "p_value": result["mcnemar"]["p_value"],
                "mcnemar": result["mcnemar"],
                "bootstrap": boot,
                "n_clips": int(len(y)),
            })
    return out


def load_results(run: "Run", n_boot: int | None = None) -> dict:
    """A run's scores, recomputed from its saved predictions, with the facts its results.json records and its fold plan.

    Recomputing lets a run be re-scored with another bootstrap size (`n_boot`;
    default: the run's own) without retraining.
    """
    info = run.provenance
    stored = run.results
    results = evaluate_predictions(
        run.predictions, info["labels"], info["models"],
        n_boot=n_boot or info["settings"].get("n_boot", 2000), seed=info["settings"].get("seed", 0),
    )
    results.update({key: stored[key] for key in RUN_FACTS if key in stored})
    results["folds"] = run.folds
    return results


def comparison_table(results: dict, title: str = "") -> str:
    """Plain-text table: every model's UAR / accuracy / macro-F1, then the ensemble vs each model with CI and p-value."""
    lines = [title] if title else []
    width = max([len(m["display_name"]) for m in results["models"].values()] + [10])
    lines.append(f"{'model':<{width}}  {'UAR %':>13}  {'acc. %':>13}  {'macro-F1 %':>13}  {'pooled UAR':>10}")
    for m in results["models"].values():
        cells = [f"{m[k]['mean']:5.1f} ± {m[k]['std']:4.1f}" for k in ("uar", "accuracy", "macro_f1")]
        lines.append(f"{m['display_name']:<{width}}  {cells[0]:>13}  {cells[1]:>13}  {cells[2]:>13}  {m['uar']['pooled']:>10.1f}")
    aux = [(m["display_name"], task, entry) for m in results["models"].values() for task, entry in m.get("aux", {}).items()]
    if aux:
        lines.append("")
        lines.append("auxiliary fields learned beside the emotion (multitask), UAR % over folds")
        lines.extend(f"  {name}: {task} {e['uar']['mean']:.1f} ± {e['uar']['std']:.1f} (accuracy {e['accuracy']['mean']:.1f})"
                     for name, task, e in aux)
    if results.get("comparisons"):
        lines.append("")
        lines.append("ensemble vs single model, same clips (UAR difference in points; 95 % bootstrap CI over speakers; McNemar p)")
        for c in results["comparisons"]:
            verdict = interval_verdict(c["ci_low"], c["ci_high"])
            lines.append(
                f"  {c['a_display']} vs {c['b_display']}: {c['uar_difference']:+.1f} "
                f"[{c['ci_low']:+.1f}, {c['ci_high']:+.1f}], p = {c['p_value']:.3g} ({c['mcnemar']['method']}) -> {verdict}"
            )
    return "\n".join(lines)
