"""The report's data model: a report, its models, clips and their artefacts, as plain data the templates read.

Built by `reports.loading.load_report` from what an audit folder and a run folder saved;
nothing here reads a file, loads a network or recomputes a prediction. `display_path` and
`redact_text` are the one place a report turns a path into text.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seraudit.core.naming import UNTRAINED_TAG
from seraudit.ensemble.evaluation.comparison import interval_verdict
from seraudit.ensemble.model.naming import display_name
from seraudit.xai.audit.runner import REFERENCE_MODEL


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

        The saved display name is the tool's own (`ensemble.model.naming.display_name`); one that
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
    metrics: dict[str, float]  # the clip record's flat figures (deletion_auc, seconds, ...)
    scores: dict[str, dict[str, float | None]] = field(default_factory=dict)  # metric id -> {"value", "control"}
    renders: dict[str, Any] = field(default_factory=dict)  # gain cap, excerpt regions, each render's level (audio.py)


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
    explained_by: dict[str, Any] = field(default_factory=dict)  # which model explains it (`xai.audit.clip_identity`)

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
        return interval_verdict(self.ci_low, self.ci_high, explain=True)


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
    method_means: dict[str, dict[str, float]]  # method -> the audit's mean figures over clips (seconds per clip, ...)
    extra_metrics: dict[str, Any] = field(default_factory=dict)
    uar_folds: list[float] = field(default_factory=list)  # UAR of each test fold, in percent, as the run saved them
    probing_controls: list[dict[str, Any]] = field(default_factory=list)  # its backbones' probe against controls


@dataclass
class Report:
    """Everything the pages show; the sections (`reports.sections`) each read their part of it."""

    title: str
    run_dir: str
    audit_dir: Path
    models: dict[str, ModelInfo]
    methods: list[str]
    clips: list[ClipReport]
    model_reports: dict[str, ModelReport]
    failures: list[dict[str, str]]
    corpus_note: str = ""
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)  # metric id -> its record in audit.json
    baselines: dict[str, dict[str, Any]] = field(default_factory=dict)
    faithfulness_block: tuple[int, int] = (1, 1)  # frames x bands removed at once; audits before blocks removed cells
    checks: list[dict[str, str]] = field(default_factory=list)  # the verdict (`xai.audit.checks`)
    sections: dict[str, Any] = field(default_factory=dict)  # run-level sections (`reports.run_sections`)
    comparison_rows: list[dict[str, Any]] = field(default_factory=list)  # every ensemble-vs-other row
    probing_rows: list[dict[str, Any]] = field(default_factory=list)
    probing_controls: list[dict[str, Any]] = field(default_factory=list)  # per backbone and group: R² against controls
    corpus_root: str = ""  # paths below it are shown relative to it (`display_path`)
    redact_paths: bool = False  # show file names only
    selection: dict[str, Any] = field(default_factory=dict)  # how the clips were picked and explained (`audit_sections`)

    def shown_path(self, path: str | os.PathLike | None) -> str:
        """`display_path` with this report's corpus root and redaction: what every template prints for a path."""
        return display_path(path, self.corpus_root, self.redact_paths)

    def shown_text(self, text: str | None) -> str:
        """`redact_text` for a message of this report (failure reasons)."""
        paths = [c.path for c in self.clips] + [f.get("clip", "") for f in self.failures] + [self.run_dir]
        return redact_text(text, paths, self.corpus_root, self.redact_paths)
