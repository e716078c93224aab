"""Scores a run's cross-validation predictions: metrics per model (per fold and pooled) and ensemble-vs-single comparisons."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from seraudit.ensemble.evaluation.calibration import calibration_summary, model_calibration
from seraudit.ensemble.data.fold_coverage import coverage_lines, fold_coverage
from seraudit.ensemble.evaluation.comparison import compare_models, compared_with_ensemble, interval_verdict
from seraudit.ensemble.evaluation.metrics import classification_metrics, summarize
from seraudit.ensemble.model.naming import display_name
from seraudit.ensemble.model.spec import BASELINE_MODEL, ENSEMBLE

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
    from sklearn.metrics import accuracy_score

    from seraudit.ensemble.heads.search import present_uar

    out = {}
    for column in [c for c in predictions.columns if c.endswith("_prediction")]:
        task = column[: -len("_prediction")]
        rows = predictions[predictions[column].notna() & predictions.get(task, pd.Series(dtype=object)).notna()]
        if task not in predictions or rows.empty:
            continue
        entry = {}
        for metric, score in (("uar", present_uar), ("accuracy", accuracy_score)):
            folds = [100.0 * score(f[task].astype(str), f[column].astype(str)) for _, f in rows.groupby("fold")]
            entry[metric] = {"mean": float(np.mean(folds)), "std": float(np.std(folds)), "folds": folds,
                             "pooled": 100.0 * float(score(rows[task].astype(str), rows[column].astype(str)))}
        entry["classes"] = sorted(rows[task].astype(str).unique())
        out[task] = entry
    return out


def evaluate_predictions(predictions: pd.DataFrame, labels: list[str], model_info: dict[str, dict], n_boot: int = 2000, seed: int = 0) -> dict:
    """Metrics for every model (calibration included) and the paired comparisons of every pair of models
    (`model_pairs`: the ensemble's first).

    `model_info` maps model name -> {"fusion": ..., "untrained": [...]}.
    """
    out: dict = {"models": {}, "comparisons": [], "labels": list(labels),
                 "fold_coverage": fold_coverage(predictions, labels)}  # per-fold UAR is over the emotions a fold holds
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
        calibration = model_calibration(frame, labels)
        if calibration is not None:
            entry["calibration"] = calibration
        out["models"][name] = entry
    index = {lab: i for i, lab in enumerate(labels)}
    for first, other in model_pairs(list(out["models"])):
        ens = predictions[predictions["model"] == first].set_index("path")
        oth = predictions[predictions["model"] == other].set_index("path").loc[ens.index]
        y = ens["label"].map(index).to_numpy()
        result = compare_models(
            y, ens["prediction"].map(index).to_numpy(), oth["prediction"].map(index).to_numpy(),
            speakers=ens["speaker"].to_numpy(), n_boot=n_boot, seed=seed,
        )
        boot = result["bootstrap"]
        out["comparisons"].append({
            "a": first,
            "b": other,
            "a_display": out["models"][first]["display_name"],
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


def model_pairs(names: list[str]) -> list[tuple[str, str]]:
    """Every pair of models, each once: the ensemble against each model it is compared with first, then the other
    models pairwise in the order `compared_with_ensemble` gives (a model outside it last)."""
    order = [m for m in (ENSEMBLE, *compared_with_ensemble()) if m in names] + \
        [m for m in names if m not in (ENSEMBLE, *compared_with_ensemble())]
    return [(a, b) for i, a in enumerate(order) for b in order[i + 1:]]


def fusion_summary(run: "Run", results: dict) -> dict | None:
    """The late-fusion weights of the run's ensemble: per fold (as fitted in cross-validation) and of the final model,
    by branch, each branch flagged when its backbone is untrained. None without a late-fused ensemble."""
    info = run.provenance
    config = run.model_config(ENSEMBLE) if ENSEMBLE in run.model_names else None
    final = (config or {}).get("late_fusion_weights")
    histories = info.get("cv_histories") or []
    if not final and not any(h.get("late_fusion_weights") for h in histories):
        return None
    registry = [b for b in compared_with_ensemble() if b != BASELINE_MODEL]  # the order of the ensemble's branches
    branches = [b for b in registry if b in final] + [b for b in final if b not in registry] if final else registry
    untrained = set(results.get("models", {}).get(ENSEMBLE, {}).get("untrained", []))
    folds = []
    for h in histories:
        weights = h.get("late_fusion_weights")
        if weights is None:
            continue
        record = h.get("late_fusion") or {}
        folds.append({"fold": h.get("fold"), "weights": dict(zip(branches, map(float, weights))),
                      "fitted": dict(zip(branches, map(float, record["fitted"]))) if "fitted" in record else None,
                      "shrinkage": record.get("shrinkage"), "n_speakers": record.get("n_speakers"),
                      "criterion": record.get("criterion")})
    return {"branches": branches, "untrained": sorted(untrained & set(branches)), "folds": folds,
            "final": {b: float(final[b]) for b in branches} if final else None}


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
    calibration = calibration_summary(run.predictions, info["labels"], info.get("cv_histories"))
    for name, entry in calibration.items():
        if name in results["models"]:
            config = run.model_config(name) if name in run.model_names else None
            entry["final_temperature"] = (config or {}).get("temperature")  # the saved model's (None: raw or unknown)
            results["models"][name]["calibration"] = entry
    results["fusion"] = fusion_summary(run, results)
    return results


def comparison_table(results: dict, title: str = "") -> str:
    """Plain-text table: every model's UAR / accuracy / macro-F1 / ECE, the late-fusion weights, then every pair of
    models with the UAR difference's CI and McNemar p."""
    lines = [title] if title else []
    width = max([len(m["display_name"]) for m in results["models"].values()] + [10])
    lines.append(f"{'model':<{width}}  {'UAR %':>13}  {'acc. %':>13}  {'macro-F1 %':>13}  {'pooled UAR':>10}  {'ECE':>5}")
    for m in results["models"].values():
        cells = [f"{m[k]['mean']:5.1f} ± {m[k]['std']:4.1f}" for k in ("uar", "accuracy", "macro_f1")]
        lines.append(f"{m['display_name']:<{width}}  {cells[0]:>13}  {cells[1]:>13}  {cells[2]:>13}  {m['uar']['pooled']:>10.1f}"
                     f"  {ece_text(m.get('calibration')):>5}")
    calibrated = [(m["display_name"], m["calibration"]) for m in results["models"].values()
                  if (m.get("calibration") or {}).get("scaled")]
    if calibrated:
        lines.append("")
        lines.append("expected calibration error (10 bins, out of fold): raw -> temperature-scaled per fold "
                     "(temperatures fitted on validation speakers)")
        lines.extend(f"  {name}: {c['raw']['ece']:.3f} -> {c['scaled']['ece']:.3f} (predictions show {c['shown']})"
                     for name, c in calibrated)
    lines.extend(fusion_lines(results.get("fusion")))
    aux = [(m["display_name"], task, entry) for m in results["models"].values() for task, entry in m.get("aux", {}).items()]
    if aux:
        lines.append("")
        lines.append("auxiliary fields learned beside the emotion (multitask), UAR % over folds")
        lines.extend(f"  {name}: {task} {e['uar']['mean']:.1f} ± {e['uar']['std']:.1f} (accuracy {e['accuracy']['mean']:.1f})"
                     for name, task, e in aux)
    lines.extend(coverage_lines(results.get("fold_coverage")))
    if results.get("comparisons"):
        lines.append("")
        lines.append("every pair of models, same clips (UAR difference in points; 95 % bootstrap CI over speakers; McNemar p)")
        for c in results["comparisons"]:
            verdict = interval_verdict(c["ci_low"], c["ci_high"])
            lines.append(
                f"  {c['a_display']} vs {c['b_display']}: {c['uar_difference']:+.1f} "
                f"[{c['ci_low']:+.1f}, {c['ci_high']:+.1f}], p = {c['p_value']:.3g} ({c['mcnemar']['method']}) -> {verdict}"
            )
    return "\n".join(lines)


def ece_text(calibration: dict | None) -> str:
    """A model's out-of-fold ECE as the tables print it ("unknown" for a run that cannot give one)."""
    value = (calibration or {}).get("ece")
    return "unknown" if value is None else f"{value:.3f}"


def weights_text(weights: dict | None, untrained: list[str]) -> str:
    """``yamnet 0.62, vggish 0.38 (untrained)``; "unknown" when not recorded."""
    if not weights:
        return "unknown"
    return ", ".join(f"{b} {w:.2f}" + (" (untrained)" if b in untrained else "") for b, w in weights.items())


def fusion_lines(fusion: dict | None) -> list[str]:
    """The late-fusion weights, per fold and final, as the evaluate and compare commands print them."""
    if not fusion:
        return []
    untrained = fusion.get("untrained", [])
    lines = ["", "late-fusion weights (fitted on out-of-fold validation predictions pooled over speakers, "
                 "shrunk toward equal weights)"]
    for f in fusion.get("folds", []):
        extra = "" if f.get("fitted") is None else \
            f" (fitted {weights_text(f['fitted'], [])}, shrinkage {f['shrinkage']:g}, {f['n_speakers']} speakers)"
        lines.append(f"  fold {f['fold']}: {weights_text(f['weights'], untrained)}{extra}")
    lines.append(f"  final model: {weights_text(fusion.get('final'), untrained)}")
    return lines
