"""The metric family: one call shape (`Metric.__call__(MetricContext) -> MetricResult`) and one result type.

In the spirit of Xplique's metrics: a metric is configured once (its hyper-parameters,
usually from the audit's settings through `Metric.from_settings`) and then scores one
attribution at a time. The audit, its summary, its checks and the report loop over the
registered metrics (`xai.metrics.registry`), so a new metric is one class and one
`register_metric` line.

What a metric declares on its class (read by the audit, never by name):

* ``id``, ``name``, ``description``: how records and the report name it;
* ``higher_is_better``: the direction of ``value`` (and of the gain over ``control``);
* ``control_name``: what ``control`` is (a random ranking, ...), None without one;
* ``threshold``: a fixed value a map must beat for the check to pass (None: the check asks whether the map beats its
  control over clips; without a control either, no check is derived). A metric calibrated on the audited clips
  leaves it None and puts the calibration in each result instead (``MetricResult.threshold``: the value this clip's
  map must beat, e.g. model randomisation's midpoint between 1 and the similarity of two random-weight models'
  maps; ``MetricResult.null_gains``: the gains over the control that random maps score on this clip, e.g. leave-one-
  out random orders for deletion), and the summary turns them into the cell's threshold (`xai.audit.summary.summary_cell`);
* ``threshold_rule``: one sentence saying how the threshold is set (the report prints it beside the figures);
* ``checked``: False for a metric reported without a verdict;
* ``on_every_clip``: False for a costly metric run only on the first ``sanity_clips`` audited clips;
* ``required``: False when a failure of the metric must not lose the clip (the value is then null);
* ``record_key`` / ``control_key``: where the clip record's legacy ``metrics`` dict keeps the value and control
  (kept so older readers find ``deletion_auc`` where they always did).

Declarations and the reading side (`describe`, `legacy_summary`, `summary_extras`,
`index_entry`) live on the class: the summary, the checks and the report read an audit
folder with the registered classes, never an instance configured by the audit's settings.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Mapping

import numpy as np

from seraudit.core import display


@dataclass(frozen=True)
class MetricContext:
    """What a metric may look at to score one attribution of one clip by one model.

    ``attributions`` are every method's maps of the same model and clip (for metrics that
    compare methods); ``explainers`` recompute a map (for metrics that perturb the model).
    ``shared`` is one dict for every context of the same clip, where metrics that share a
    computation (deletion and insertion curves come from one pass) leave it for each other.
    """

    model: Any
    clip: Any
    attribution: Any
    attributions: Mapping[str, Any] = field(default_factory=dict)
    explainers: Mapping[str, Any] = field(default_factory=dict)
    shared: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def target(self) -> int:
        """The class the attribution explains (every metric scores that class)."""
        return int(self.attribution.target)

    @property
    def method(self) -> str:
        return str(self.attribution.method)

    def memo(self, key: Any, compute):
        """``compute()`` once per clip for ``key``: later metrics of the same clip reuse the value."""
        if key not in self.shared:
            self.shared[key] = compute()
        return self.shared[key]


@dataclass(frozen=True)
class MetricResult:
    """One metric's score of one attribution (``n`` = 1) or its mean over clips (``n`` clips).

    ``control`` is the same score of a control (e.g. a random ranking of the same regions),
    None when the metric has none; ``details`` hold what a figure needs (curves, per-stage
    rows) and never enter the summary.
    """

    metric: str
    value: float | None
    control: float | None = None
    higher_is_better: bool = True
    n: int = 1
    details: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    threshold: float | None = None  # the value this clip's map must beat, calibrated on the clip (None: none)
    null_gains: tuple[float, ...] | None = None  # gains over the control that random maps score on this clip

    @property
    def gain(self) -> float | None:
        """How far the value beats the control in the metric's direction (positive is better); None without both."""
        if not _finite(self.value) or not _finite(self.control):
            return None
        sign = 1.0 if self.higher_is_better else -1.0
        return sign * (float(self.value) - float(self.control))

    @property
    def margin(self) -> float | None:
        """How far the value beats this clip's calibrated threshold in the metric's direction; None without both."""
        if not _finite(self.value) or not _finite(self.threshold):
            return None
        sign = 1.0 if self.higher_is_better else -1.0
        return sign * (float(self.value) - float(self.threshold))

    def as_record(self) -> dict[str, Any]:
        """How a clip record stores it: value and control, NaN as null (and the calibration, when the metric has one)."""
        record: dict[str, Any] = {"value": _plain(self.value), "control": _plain(self.control)}
        if self.threshold is not None:
            record["threshold"] = _plain(self.threshold)
        if self.null_gains is not None:
            record["null_gains"] = [_plain(g) for g in self.null_gains]
        return record


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float, np.number)) and bool(np.isfinite(value))


def _plain(value: Any) -> float | None:
    return float(value) if _finite(value) else None


class Metric(ABC):
    """Base of every metric: subclasses set the class attributes and implement `__call__`."""

    id: ClassVar[str] = ""
    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    higher_is_better: ClassVar[bool] = True
    control_name: ClassVar[str | None] = None
    threshold: ClassVar[float | None] = None
    threshold_rule: ClassVar[str | None] = None
    checked: ClassVar[bool] = True
    on_every_clip: ClassVar[bool] = True
    required: ClassVar[bool] = True
    record_key: ClassVar[str | None] = None
    control_key: ClassVar[str | None] = None
    #: Check wording; ``{method}``, ``{model}`` (the reference model's title) and ``{name}`` are filled in.
    check_title: ClassVar[str] = "{method}: {name} ({model})"
    #: Where the report shows the figure; ``{id}`` and ``{model}`` (the reference model's slug) are filled in.
    evidence: ClassVar[str] = "index.html#metric-{id}"
    #: The check listed when an ``on_every_clip=False`` metric was not run (None: "<name> check").
    not_run_title: ClassVar[str | None] = None
    not_run_value: ClassVar[str] = "not run on this audit"

    @classmethod
    def from_settings(cls, settings: Any) -> "Metric":
        """The metric configured by an audit's settings (`AuditSettings`); the default takes no parameter."""
        return cls()

    @abstractmethod
    def __call__(self, context: MetricContext) -> MetricResult:
        """Score ``context.attribution`` (of ``context.model`` on ``context.clip``, for ``context.target``)."""

    def result(self, value: Any, control: Any = None, *, threshold: Any = None,
               null_gains: Any = None, **details: Any) -> MetricResult:
        """A `MetricResult` of this metric (its id and direction filled in; ``threshold`` and ``null_gains`` calibrate it)."""
        nulls = None if null_gains is None else tuple(float(g) for g in null_gains if _finite(g))
        return MetricResult(self.id, _plain(value), _plain(control), self.higher_is_better, 1,
                            MappingProxyType(dict(details)), _plain(threshold), nulls)

    # ----------------------------------------------------------------- how the audit stores and reads it
    @classmethod
    def legacy_summary(cls, index: Mapping[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
        """This metric's summary cells rebuilt from an audit index written before the generic ``metrics`` section.

        The default reads the legacy per-model/method ``summary`` means of ``record_key``/``control_key``.
        """
        if not cls.record_key:
            return {}
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for model, per_method in (index.get("summary") or {}).items():
            for method, entry in per_method.items():
                if cls.record_key not in entry and f"{cls.id}_beats_random" not in entry:
                    continue
                out.setdefault(model, {})[method] = {
                    "value": entry.get(cls.record_key),
                    "control": entry.get(cls.control_key) if cls.control_key else None,
                    "n_clips": int(entry.get("n_clips", 0)),
                    "beats_control": entry.get(f"{cls.id}_beats_random"),
                    "gain_ci": entry.get(f"{cls.id}_gain_ci"),
                }
        return out

    @classmethod
    def summary_extras(cls, results: list[MetricResult]) -> dict[str, Any]:
        """Fields added to a summary cell from the clips' results (e.g. which stage a value refers to)."""
        return {}

    @classmethod
    def describe(cls, cell: Mapping[str, Any]) -> str:
        """The check's figure for one summary cell: value, control and threshold side by side, then the interval."""
        value, n = cell.get("value"), int(cell.get("n_clips") or 0)
        clips = f"{n} clip" if n == 1 else f"{n} clips"
        threshold = cell.get("threshold", cls.threshold)
        if threshold is not None:
            if value is None:
                return f"no {cls.name} on {clips}"
            side = "above" if cls.higher_is_better else "below"
            control = cell.get("control")
            beside = "" if control is None or not cls.control_name else f", {cls.control_name} {display.value(control)}"
            text = f"{cls.name} {display.value(value)} over {clips}{beside}; passes {side} {display.value(threshold)}"
            ci = cell.get("margin_ci") or cell.get("gain_ci")
            if ci:
                text += f", margin 95 % CI [{ci[0]:+.3f}, {ci[1]:+.3f}]" if cell.get("margin_ci") else (
                    f", gain over {cls.control_name} 95 % CI [{ci[0]:+.3f}, {ci[1]:+.3f}]")
            elif "margin_ci" in cell or (cls.control_name and "gain_ci" in cell):
                text += ", no interval (too few clips, or no spread)"
            return text
        share, ci = cell.get("beats_control"), cell.get("gain_ci")
        if share is None:
            return f"no {cls.control_name} to compare with on {clips}"
        interval = "too few clips for an interval" if not ci else f"gain 95 % CI [{ci[0]:+.3f}, {ci[1]:+.3f}]"
        return f"beats {cls.control_name} on {100 * share:.0f} % of {clips}, {interval}"

    @classmethod
    def index_entry(cls, results: list[tuple[str, MetricResult]], seconds: float) -> Any:
        """For a metric run on a few clips after the loop: its legacy ``audit.json`` entry (see ``index_key``)."""
        return None

    #: The legacy top-level key of ``audit.json`` that `index_entry` fills (``"sanity"``), None for none.
    index_key: ClassVar[str | None] = None
