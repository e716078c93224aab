"""The report's data model: what an audit folder and a run folder hold, read back as plain data.

Reports consume saved artefacts only. `load_report` reads an audit folder through
`xai.audit.folder` (``audit.json`` plus one ``clip.json`` per clip) and `run_summary`
reads the run's saved evaluation through `ensemble.run.Run`; nothing here loads a
network or recomputes a prediction.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seraudit.core.naming import UNTRAINED_TAG, display_name
from seraudit.ensemble.run import Run, corpus_display
from seraudit.reports import run_sections
from seraudit.xai.audit.runner import REFERENCE_MODEL
from seraudit.xai.audit.checks import all_failures, audit_checks, read_run_failures
from seraudit.xai.audit.folder import read_audit_index, read_clip_record


def display_path(path: str | os.PathLike | None, root: str | os.PathLike | None = None, redact: bool = False) -> str:
    """How a report shows a file's path: relative to the corpus `root` when it lies below it (a manifest's clips:
    relative to its folder), else (and always with `redact`) the file name alone. The one place a report turns a
    path into text, so no page shows an absolute path of the machine that made it."""
    if not path:
        return ""
    text = os.fspath(path)
    name = Path(text).name or text
    if redact or not os.path.isabs(text):
        return name if redact else text
    if root:
        root_path = Path(os.fspath(root))
        if root_path.suffix.lower() == ".csv":  # a manifest: its clips are named relative to its folder
            root_path = root_path.parent
        try:
            return Path(os.path.abspath(text)).relative_to(os.path.abspath(root_path)).as_posix()
        except ValueError:
            pass
    return name


def redact_text(text: str | None, paths: list[str] | tuple[str, ...] = (), root: str | os.PathLike | None = None,
                redact: bool = False) -> str:
    """A message (an error naming files) with each of `paths`, the corpus `root` and the home folder replaced
    by what `display_path` shows, so failure reasons are as portable as the paths."""
    out = str(text or "")
    for path in sorted({os.fspath(p) for p in paths if p}, key=len, reverse=True):
        out = out.replace(path, display_path(path, root, redact))
    if root:
        out = out.replace(os.path.abspath(os.fspath(root)) + os.sep, "")
    home = os.path.expanduser("~")
    if home and home != os.sep:
        out = out.replace(home, "~")
    return out


@dataclass
class ModelInfo:
    """A model as every page names it: its display name carries the "untrained" tag when needed."""

    name: str
    display_name: str
    untrained_branches: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)

    @property
    def untrained(self) -> bool:
        return bool(self.untrained_branches)

    @property
    def title(self) -> str:
        """The name shown in headings, tables and plot titles: the tool's display name, "untrained" tag included.

        The saved display name is the tool's own (`core.naming.display_name`); one that
        is missing or hides an untrained branch is rebuilt by the same rule.
        """
        if self.display_name and (not self.untrained or UNTRAINED_TAG in self.display_name):
            return self.display_name
        return display_name(self.name, untrained=self.untrained_branches)


@dataclass
class MethodResult:
    """One method's artefacts for one clip and model (paths relative to the audit folder)."""

    method: str
    target_label: str
    overlay: str | None
    excerpt: str | None
    listened: str | None
    ignored: str | None
    attribution: str | None
    metrics: dict[str, float]


@dataclass
class Prediction:
    label: str
    probabilities: dict[str, float]

    @property
    def confidence(self) -> float:
        return float(self.probabilities.get(self.label, max(self.probabilities.values(), default=0.0)))


@dataclass
class ClipReport:
    """Everything one clip's page shows."""

    clip_id: str
    path: str
    true_label: str | None
    original: str | None
    predictions: dict[str, Prediction]
    methods: dict[str, dict[str, MethodResult]]
    agreement: dict[str, dict[str, Any]]
    egemaps_deviation: list[dict[str, Any]]
    time_profile: dict[str, str]
    duration_s: float | None = None
    faithfulness_curves: dict[str, str] = field(default_factory=dict)  # model -> PNG of its deletion/insertion curves
    reference_model: str = REFERENCE_MODEL
    speaker: str | None = None
    patches: dict[str, Any] | None = None  # start_s, end_s, keep, correlation, threshold (audits before: None)
    shown_path: str = ""  # the path as pages show it (`display_path`)
    warnings: list[str] = field(default_factory=list)  # e.g. "no speech detected" (preprocessing.speech)
    speech_fraction: float | None = None

    @property
    def name(self) -> str:
        return Path(self.path).name if self.path else self.clip_id

    @property
    def patch_rows(self) -> list[dict[str, Any]]:
        """One row per patch: its times, its GDS correlation and whether the models pooled it."""
        p = self.patches or {}
        return [{"index": i, "start_s": a, "end_s": b, "kept": bool(k), "correlation": c}
                for i, (a, b, k, c) in enumerate(zip(p.get("start_s", []), p.get("end_s", []), p.get("keep", []),
                                                     p.get("correlation", [])))]

    def excerpt(self, model: str | None = None) -> str | None:
        """The Grad-CAM time excerpt of `model` (default: the reference model), else the first method's."""
        per_method = self.methods.get(model or self.reference_model) or {}
        chosen = per_method.get("gradcam") or next(iter(per_method.values()), None)
        return None if chosen is None else chosen.excerpt

    @property
    def reference(self) -> Prediction | None:
        if self.reference_model in self.predictions:
            return self.predictions[self.reference_model]
        return next(iter(self.predictions.values()), None)

    @property
    def correct(self) -> bool | None:
        ref = self.reference
        if ref is None or self.true_label is None:
            return None
        return ref.label == self.true_label

    @property
    def confidence(self) -> float | None:
        ref = self.reference
        return None if ref is None else ref.confidence

    @property
    def disagreement(self) -> float:
        """Mean total-variation distance between the reference model and every other model (0..1).

        High values mark clips where the ensemble and the single backbones hear
        different things: the ones a person should listen to first.
        """
        ref = self.reference
        others = [p for m, p in self.predictions.items() if m != self.reference_model]
        if ref is None or not others:
            return 0.0
        distances = []
        for other in others:
            labels = set(ref.probabilities) | set(other.probabilities)
            distances.append(
                0.5 * sum(abs(ref.probabilities.get(k, 0.0) - other.probabilities.get(k, 0.0)) for k in labels)
            )
        return float(sum(distances) / len(distances))

    @property
    def label_disagreements(self) -> int:
        """How many single models predict a different label from the reference model."""
        ref = self.reference
        if ref is None:
            return 0
        return sum(p.label != ref.label for m, p in self.predictions.items() if m != self.reference_model)


@dataclass
class Comparison:
    """Ensemble versus one single model on the run's cross-validation test predictions."""

    other: str
    uar_difference: float | None
    ci_low: float | None
    ci_high: float | None
    mcnemar_p: float | None

    @property
    def verdict(self) -> str:
        """In plain words: better or worse only when the 95 % interval excludes 0."""
        if self.ci_low is None or self.ci_high is None:
            return "no interval"
        if self.ci_low > 0:
            return "better (interval excludes 0)"
        if self.ci_high < 0:
            return "worse (interval excludes 0)"
        return "no clear difference (interval includes 0)"


@dataclass
class ModelReport:
    """Everything one model's page shows."""

    info: ModelInfo
    uar_mean: float | None
    uar_std: float | None
    confusion_labels: list[str]
    confusion: list[list[int]]
    comparisons: list[Comparison]
    probing: list[dict[str, Any]]
    faithfulness: dict[str, dict[str, float]]
    extra_metrics: dict[str, Any] = field(default_factory=dict)


@dataclass
class Report:
    title: str
    run_dir: str
    audit_dir: Path
    models: dict[str, ModelInfo]
    methods: list[str]
    clips: list[ClipReport]
    model_reports: dict[str, ModelReport]
    failures: list[dict[str, str]]
    sanity: dict[str, Any] | None
    corpus_note: str = ""
    baselines: dict[str, dict[str, Any]] = field(default_factory=dict)
    faithfulness_block: tuple[int, int] = (1, 1)  # frames x bands removed at once; audits before blocks removed cells
    checks: list[dict[str, str]] = field(default_factory=list)  # the verdict (`xai.audit.checks`)
    sections: dict[str, Any] = field(default_factory=dict)  # run-level sections (`reports.run_sections`)
    comparison_rows: list[dict[str, Any]] = field(default_factory=list)  # every ensemble-vs-other row
    probing_rows: list[dict[str, Any]] = field(default_factory=list)
    corpus_root: str = ""  # paths below it are shown relative to it (`display_path`)
    redact_paths: bool = False  # show file names only

    def shown_path(self, path: str | os.PathLike | None) -> str:
        """`display_path` with this report's corpus root and redaction: what every template prints for a path."""
        return display_path(path, self.corpus_root, self.redact_paths)

    def shown_text(self, text: str | None) -> str:
        """`redact_text` for a message of this report (failure reasons)."""
        paths = [c.path for c in self.clips] + [f.get("clip", "") for f in self.failures] + [self.run_dir]
        return redact_text(text, paths, self.corpus_root, self.redact_paths)


# --------------------------------------------------------------------- reading
def load_audit(audit_dir: str | os.PathLike, corpus_root: str | None = None,
               redact: bool = False) -> tuple[dict[str, Any], list[ClipReport]]:
    """Read an audit folder written by `xai.audit.runner.run_audit` (``seraudit explain``, ``seraudit audit-all``)."""
    index = read_audit_index(audit_dir)
    reference = index.get("reference_model", REFERENCE_MODEL)
    clips = [_clip_from_json(read_clip_record(audit_dir, entry), entry["dir"], reference, corpus_root, redact)
             for entry in index.get("clips", [])]
    return index, clips


def _rel(base: str, value: str | None) -> str | None:
    return None if not value else f"{base}/{value}"


def _clip_from_json(data: dict[str, Any], base: str, reference: str, root: str | None = None,
                    redact: bool = False) -> ClipReport:
    methods: dict[str, dict[str, MethodResult]] = {}
    for model, per_method in data.get("methods", {}).items():
        methods[model] = {
            method: MethodResult(
                method=method,
                target_label=str(rec.get("target_label", "")),
                overlay=_rel(base, rec.get("overlay")),
                excerpt=_rel(base, rec.get("excerpt")),
                listened=_rel(base, rec.get("listened")),
                ignored=_rel(base, rec.get("ignored")),
                attribution=_rel(base, rec.get("attribution")),
                metrics={k: v for k, v in rec.get("metrics", {}).items() if v is not None},
            )
            for method, rec in per_method.items()
        }
    return ClipReport(
        clip_id=data["id"],
        path=data.get("path", ""),
        true_label=data.get("true_label"),
        original=_rel(base, data.get("original")),
        predictions={
            m: Prediction(label=str(p["label"]), probabilities={str(k): float(v) for k, v in p["probabilities"].items()})
            for m, p in data.get("predictions", {}).items()
        },
        methods=methods,
        agreement=data.get("agreement", {}),
        egemaps_deviation=data.get("egemaps_deviation") or [],
        time_profile={m: _rel(base, p) for m, p in data.get("time_profile", {}).items() if p},
        faithfulness_curves={m: _rel(base, p) for m, p in data.get("faithfulness_curves", {}).items() if p},
        duration_s=data.get("duration_s"),
        reference_model=reference,
        speaker=data.get("speaker"),
        patches=data.get("patches"),
        shown_path=display_path(data.get("path", ""), root, redact),
        warnings=[str(w) for w in data.get("warnings", [])],
        speech_fraction=data.get("speech_fraction"),
    )


def load_report(
    run_summary: dict[str, Any] | None,
    audit_dir: str | os.PathLike,
    *,
    run_dir: str = "",
    title: str | None = None,
    redact_paths: bool = False,
) -> Report:
    """Assemble a report from an audit folder and a run summary (see `run_summary`).

    Failures are the audit's and the run's (files training left out, its ``failures.csv``).
    Paths show relative to the run's corpus root, or as file names with `redact_paths`.

    ``run_summary`` holds what the run saved: per-model UAR, confusion matrices
    and ensemble-vs-single comparisons; ``None`` makes model pages show only the
    audit's own figures.
    """
    audit_dir = Path(audit_dir)
    run_summary = run_summary or {}
    index, clips = load_audit(audit_dir, run_summary.get("corpus_root"), redact_paths)
    models: dict[str, ModelInfo] = {}
    for name, rec in index.get("models", {}).items():
        models[name] = ModelInfo(
            name=name,
            display_name=rec.get("display_name", name),
            untrained_branches=list(rec.get("untrained_branches", [])),
            labels=list(rec.get("labels", [])),
        )
    for name, rec in run_summary.get("models", {}).items():
        if name not in models:
            models[name] = ModelInfo(
                name=name,
                display_name=rec.get("display_name", name),
                untrained_branches=list(rec.get("untrained_branches", [])),
                labels=list(rec.get("labels", [])),
            )
    probing = index.get("probing") or {}
    summary = index.get("summary", {})
    model_reports = {}
    for name, info in models.items():
        rec = run_summary.get("models", {}).get(name, {})
        comparisons = [
            Comparison(
                other=c.get("other", ""),
                uar_difference=c.get("uar_difference"),
                ci_low=c.get("ci_low"),
                ci_high=c.get("ci_high"),
                mcnemar_p=c.get("mcnemar_p"),
            )
            for c in run_summary.get("comparisons", [])
            if c.get("model") == name
        ]
        model_reports[name] = ModelReport(
            info=info,
            uar_mean=rec.get("uar_mean"),
            uar_std=rec.get("uar_std"),
            confusion_labels=list(rec.get("confusion_labels", [])),
            confusion=[list(map(int, row)) for row in rec.get("confusion", [])],
            comparisons=comparisons,
            probing=_probing_rows(probing, name),
            faithfulness=summary.get(name, {}),
            extra_metrics=rec.get("extra", {}),
        )
    return Report(
        title=title or index.get("title") or "SERAudit report",
        run_dir=run_dir or index.get("run", ""),
        audit_dir=audit_dir,
        models=models,
        methods=list(index.get("methods", [])),
        clips=clips,
        model_reports=model_reports,
        failures=all_failures(index, run_summary.get("run_failures", [])),
        sanity=index.get("sanity"),
        corpus_note=run_summary.get("corpus_note", ""),
        baselines=run_summary.get("baselines", {}),
        faithfulness_block=tuple(index.get("settings", {}).get("faithfulness_block", (1, 1))),
        checks=list(index["checks"]) if index.get("checks") else audit_checks(
            index, run_summary.get("results"), run_summary.get("run_failures", [])),
        sections=run_summary.get("sections", {}),
        comparison_rows=_comparison_rows(run_summary.get("comparisons", []), models, run_summary.get("baselines", {})),
        probing_rows=list(probing.get("rows", [])),
        corpus_root=run_summary.get("corpus_root", ""),
        redact_paths=redact_paths,
    )


def _comparison_rows(comparisons: list[dict[str, Any]], models: dict[str, ModelInfo],
                     baselines: dict[str, Any]) -> list[dict[str, Any]]:
    """Every saved comparison as a table row: both models' names, the UAR difference, its interval, McNemar p, the verdict."""
    def title(name: str) -> str:
        if name in models:
            return models[name].title
        return "eGeMAPS baseline" if name == "egemaps" else baselines.get(name, {}).get("display_name", name)

    rows = []
    for c in comparisons:
        comparison = Comparison(other=c.get("other", ""), uar_difference=c.get("uar_difference"), ci_low=c.get("ci_low"),
                                ci_high=c.get("ci_high"), mcnemar_p=c.get("mcnemar_p"))
        rows.append({"model": title(c.get("model", "")), "other": title(comparison.other), "comparison": comparison})
    return rows


def corpus_root_of(data: str | os.PathLike | None) -> str:
    """The folder a run's paths are shown relative to: its corpus folder, or a manifest's folder."""
    if not data:
        return ""
    path = Path(os.fspath(data))
    return os.path.abspath(path.parent if path.suffix.lower() == ".csv" else path)


def _probing_rows(probing: dict[str, Any], model: str) -> list[dict[str, Any]]:
    """Probing rows that concern ``model`` (rows name a backbone; the ensemble shows all)."""
    rows = probing.get("rows", [])
    if model == "ensemble":
        return rows
    return [r for r in rows if r.get("backbone") in (model, None)]


# --------------------------------------------------------------------- the run's saved evaluation
METRIC_NAMES = {"accuracy": "accuracy", "macro_f1": "macro-F1", "top2_accuracy": "top-2 accuracy",
                "top3_accuracy": "top-3 accuracy"}

def _layers_read(run: Run, name: str) -> dict[str, str]:
    """``{"layers read": "YAMNet layer8; VGGish fc1"}`` from the saved model's config (models saved before: the embedding)."""
    from seraudit.core.io import read_json
    from seraudit.core.naming import BACKBONE_DISPLAY

    path = run.path / "models" / name / "config.json"
    if name == "egemaps" or not path.is_file():
        return {}
    config = read_json(path, "model config")
    taps = config.get("taps")
    if not taps:
        return {"layers read": "the embedding (last layer)"}
    weights = config.get("layer_weights") or {}

    def describe(branch: str, layers: list[str]) -> str:
        if branch in weights:  # a learned softmax-weighted sum: show each layer's weight
            mix = ", ".join(f"{t} {weights[branch][t]:.2f}" for t in layers)
            return f"{BACKBONE_DISPLAY.get(branch, branch)} weighted sum ({mix})"
        return f"{BACKBONE_DISPLAY.get(branch, branch)} {' + '.join(layers)}"

    text = "; ".join(describe(b, t) for b, t in taps.items())
    return {"layers read (chosen on validation speakers)": text, "clip pooling": POOLING_TEXT[config.get("pooling", "mean")]}


POOLING_TEXT = {
    "mean": "mean of the kept patches' log-probabilities",
    "stats": "statistics pooling in the graph (mean and standard deviation of the layers over the kept patches)",
    "attentive": "attentive statistics pooling in the graph (learned weight per kept patch; the audit's "
                 "'attention' method draws it)",
}



def run_summary(run: Run) -> dict[str, Any]:
    """What a model page shows from a trained run, read from its saved files (never recomputed).

    ``results.json`` gives each model's UAR (mean and std over folds) and the
    ensemble-vs-single comparisons; ``predictions.csv`` (cross-validation test
    predictions) gives the confusion matrices.
    """
    results = run.results
    labels = [str(x) for x in results.get("labels", [])]
    predictions = run.predictions
    models: dict[str, Any] = {}
    baselines: dict[str, Any] = {}
    for name, rec in results.get("models", {}).items():
        uar = rec.get("uar", {})
        entry = {
            "display_name": rec.get("display_name", name),
            "untrained_branches": list(rec.get("untrained", [])),
            "labels": labels,
            "uar_mean": uar.get("mean"),
            "uar_std": uar.get("std"),
            "extra": {
                f"{shown} (mean over folds)": rec[metric]["mean"]
                for metric, shown in METRIC_NAMES.items()
                if isinstance(rec.get(metric), dict) and "mean" in rec[metric]
            }
            | ({"UAR pooled over folds": uar["pooled"]} if "pooled" in uar else {})
            | _layers_read(run, name),
        }
        if labels:
            own = predictions[predictions["model"] == name]
            codes = {label: i for i, label in enumerate(labels)}
            matrix = [[0] * len(labels) for _ in labels]
            for true, predicted in zip(own["label"], own["prediction"]):
                if true in codes and predicted in codes:
                    matrix[codes[true]][codes[predicted]] += 1
            entry["confusion_labels"] = labels
            entry["confusion"] = matrix
        (baselines if name == "egemaps" else models)[name] = entry
    comparisons = [
        {
            "model": c.get("a"),
            "other": c.get("b"),
            "uar_difference": c.get("uar_difference"),
            "ci_low": c.get("ci_low"),
            "ci_high": c.get("ci_high"),
            "mcnemar_p": c.get("p_value"),
        }
        for c in results.get("comparisons", [])
    ]
    corpus = results.get("corpus_display") or run.provenance.get("corpus", "")
    root = corpus_root_of(run.provenance.get("data") or (run.settings or {}).get("data"))
    shown = functools.partial(display_path, root=root)
    metric_names, metric_rows = run_sections.metrics_section(results)
    recall_labels, recall_rows = run_sections.recall_section(results)
    sections = {
        "corpus": run_sections.corpus_section(results, predictions, run.provenance),
        "folds": run_sections.folds_section(_folds(run), predictions),
        "metric_names": metric_names,
        "metrics": metric_rows,
        "recall_labels": recall_labels,
        "recall": recall_rows,
        "gds_ablation": run_sections.gds_ablation_section(results),
        "provenance": run_sections.provenance_section(run.provenance, shown),
        "model_card": run_sections.model_card(results, run.provenance),
        "corpus_root": root,
    }
    return {
        "results": results,
        "run_failures": read_run_failures(run.path),
        "corpus_root": root,
        "sections": sections,
        "models": models,
        "baselines": baselines,
        "comparisons": comparisons,
        "corpus_note": corpus_display(str(corpus)) if corpus else "",
        "baseline_titles": {n: b["display_name"] for n, b in baselines.items()},
    }


def _folds(run: Run) -> dict[str, Any]:
    """The run's fold plan; a run folder whose ``folds.json`` is not a plan gives none."""
    folds = run.folds
    return folds if isinstance(folds, dict) else {}
