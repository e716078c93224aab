"""The audit's verdict: a short list of pass / warn / fail checks, each with its figure and where the report shows it.

One function, `audit_checks`, turns what is already saved (the audit index, the
run's ``results.json`` and the files the run or the audit could not use) into
``[{"name", "status", "value", "evidence"}]``. It is written into ``audit.json`` as
``"checks"`` so a CI pipeline can gate on it, and the report's index opens with the
same list. ``evidence`` is the report page and section that shows the figure
(``"index.html#comparisons"``). Nothing here runs a model.

The rules:

* ensemble vs each single model and vs the eGeMAPS baseline: pass when the 95 %
  bootstrap interval of the UAR difference lies above 0, fail when it lies below,
  warn when it holds 0;
* every registered metric (`xai.metrics.registry`), per method of the reference model,
  as the metric declares it (`metric_checks`): a metric with a control (deletion and
  insertion: a random order of the same blocks) passes when the gain interval over
  clips lies above 0, fails when below, warns when it holds 0 or there are too few
  clips for one; a metric with a threshold (model randomisation: rank correlation at
  the most randomised stage below `SANITY_MAX_SPEARMAN`) passes when its mean beats it,
  else fails; a metric run on a few clips only warns when it was not run;
* untrained backbones: always listed, warn when any model holds one;
* files that could not be used: pass at 0, warn otherwise.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

from seraudit.core.naming import slug
from seraudit.ensemble.evaluation.comparison import BETTER, WORSE, compared_with_ensemble, interval_verdict
from seraudit.ensemble.model.naming import model_display
from seraudit.xai.audit.summary import metric_sections
from seraudit.xai.metrics.base import Metric
from seraudit.xai.metrics.registry import registered_metrics
from seraudit.xai.metrics.sanity import ModelRandomisation

PASS, WARN, FAIL = "pass", "warn", "fail"
#: The randomisation check passes when the maps of the randomised model rank cells this differently at most.
SANITY_MAX_SPEARMAN = ModelRandomisation.threshold
RUN_FAILURES_FILE = "failures.csv"  # the run folder's table of files training could not use (columns clip, error)


def check(name: str, status: str, value: str, evidence: str) -> dict[str, str]:
    return {"name": name, "status": status, "value": value, "evidence": evidence}


def interval_status(low: float | None, high: float | None) -> str:
    """pass above 0, fail below 0, warn when the interval holds 0 or is missing."""
    return {BETTER: PASS, WORSE: FAIL}.get(interval_verdict(low, high), WARN)


def read_run_failures(run_dir: str | os.PathLike | None) -> list[dict[str, str]]:
    """Rows of the run folder's ``failures.csv`` (clip, error); none when the run has no such file."""
    if not run_dir:
        return []
    path = Path(run_dir) / RUN_FAILURES_FILE
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        return [{"clip": str(r.get("clip", "")), "error": str(r.get("error", "")), "stage": str(r.get("stage") or "training")}
                for r in csv.DictReader(handle)]


def _title(name: str, index: dict[str, Any], results: dict[str, Any]) -> str:
    rec = index.get("models", {}).get(name) or results.get("models", {}).get(name) or {}
    if name == "egemaps":
        return "eGeMAPS baseline"
    return str(rec.get("display_name") or name)


def comparison_checks(index: dict[str, Any], results: dict[str, Any]) -> list[dict[str, str]]:
    out = []
    for c in results.get("comparisons", []):
        if c.get("a") != "ensemble" or c.get("b") not in compared_with_ensemble():
            continue
        low, high, diff, p = c.get("ci_low"), c.get("ci_high"), c.get("uar_difference"), c.get("p_value")
        if diff is None:
            continue
        interval = "" if low is None or high is None else f" [{low:+.1f}, {high:+.1f}]"
        value = f"{diff:+.1f} UAR points{interval}" + ("" if p is None else f", McNemar p = {p:.3g}")
        out.append(check(f"{_title('ensemble', index, results)} beats {_title(c['b'], index, results)}",
                         interval_status(low, high), value, "index.html#comparisons"))
    return out


def metric_status(metric: type[Metric], cell: dict[str, Any]) -> str | None:
    """A metric's verdict on one summary cell, from what the metric declares; None when there is nothing to judge.

    With a ``threshold``: pass when the mean beats it in the metric's direction, else fail
    (warn without a value). Otherwise: the gain interval over the control (`interval_status`).
    """
    if metric.threshold is not None:
        value = cell.get("value")
        if value is None:
            return WARN
        beats = value > metric.threshold if metric.higher_is_better else value < metric.threshold
        return PASS if beats else FAIL
    if cell.get("beats_control") is None:
        return None
    ci = cell.get("gain_ci")
    low, high = ci if isinstance(ci, (list, tuple)) and len(ci) == 2 else (None, None)
    return interval_status(low, high)


def metric_checks(index: dict[str, Any]) -> list[dict[str, str]]:
    """One check per registered metric and method of the reference model, as each metric declares it.

    A metric without a verdict (``checked`` False, or neither a threshold nor a control)
    adds none; a metric run on a few clips only (``on_every_clip`` False) that has no
    figure for the reference model says it was not run.
    """
    reference = index.get("reference_model", "ensemble")
    title = _title(reference, index, {})
    sections = metric_sections(index)
    out = []
    for metric in registered_metrics().values():
        if not metric.checked or (metric.threshold is None and metric.control_name is None):
            continue
        cells = (sections.get(metric.id) or {}).get("summary", {}).get(reference) or {}
        evidence = metric.evidence.format(id=metric.id, model=slug(reference))
        if not cells:
            if not metric.on_every_clip:
                out.append(check(metric.not_run_title or f"{metric.name} check", WARN, metric.not_run_value, evidence))
            continue
        for method in index.get("methods", []):
            cell = cells.get(method)
            status = None if cell is None else metric_status(metric, cell)
            if status is not None:
                out.append(check(metric.check_title.format(method=method, model=title, name=metric.name), status,
                                 metric.describe(cell), evidence))
    return out


def untrained_check(index: dict[str, Any], results: dict[str, Any]) -> dict[str, str]:
    """Always present: which models hold a backbone with random weights."""
    untrained: dict[str, list[str]] = {}
    for source in (results.get("models", {}), index.get("models", {})):
        for name, rec in source.items():
            branches = rec.get("untrained_branches", rec.get("untrained", [])) or []
            for branch in branches:
                untrained.setdefault(model_display(branch), [])
                if name not in untrained[model_display(branch)]:
                    untrained[model_display(branch)].append(name)
    if not untrained:
        return check("every backbone pretrained", PASS, "no model holds an untrained backbone", "index.html#provenance")
    value = "; ".join(f"{b} untrained (random weights) in {', '.join(models)}" for b, models in untrained.items())
    return check("untrained backbones", WARN, value, "index.html#provenance")


def failures_check(failures: Sequence[dict[str, str]]) -> dict[str, str]:
    n = len(failures)
    return check("files that could not be used", PASS if n == 0 else WARN,
                 "none" if n == 0 else f"{n} file{'s' if n != 1 else ''}", "index.html#failures")


def all_failures(index: dict[str, Any], run_failures: Iterable[dict[str, str]]) -> list[dict[str, str]]:
    """The run's unusable files, then the audit's failed clips (each with the stage that dropped it), each once
    (`audit-all` also hands training's failures to the audit index)."""
    rows = ([{"clip": str(f.get("clip", "")), "error": str(f.get("error", "")), "stage": str(f.get("stage") or "training")}
             for f in run_failures]
            + [{"clip": str(f.get("clip", "")), "error": str(f.get("error", "")), "stage": str(f.get("stage") or "audit")}
               for f in index.get("failures", [])])
    seen, unique = set(), []
    for row in rows:
        if (row["clip"], row["error"]) not in seen:
            seen.add((row["clip"], row["error"]))
            unique.append(row)
    return unique


def audit_checks(index: dict[str, Any], results: dict[str, Any] | None = None,
                 run_failures: Sequence[dict[str, str]] = ()) -> list[dict[str, str]]:
    """Every check, in the order the report lists them (see the module docstring for the rules)."""
    results = results or {}
    return [
        *comparison_checks(index, results),
        *metric_checks(index),
        untrained_check(index, results),
        failures_check(all_failures(index, run_failures)),
    ]
