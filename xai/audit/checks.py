"""The audit's verdict: a short list of pass / warn / fail checks, each with its figure and where the report shows it.

One function, `audit_checks`, turns what is already saved (the audit index, the
run's ``results.json`` and the files the run or the audit could not use) into
checks, written into ``audit.json`` as ``"checks"`` (with the worst status as the
file's ``"status"``, `overall_status`) so a CI pipeline can gate on it; the report's
index opens with the same list. Each check is a dict:

* ``id``: stable across audits (``deletion.yamnet.gradcam``, ``comparison.ensemble.vggish``,
  ``untrained_backbones``, ``unusable_files``);
* ``name``: the sentence the report shows (models by their short names: "Ensemble", "VGGish"; the
  ``untrained_backbones`` check says which hold random weights); ``status``: pass, warn or fail;
* ``value``: the number judged (a float, or null when nothing could be scored), ``threshold``:
  the number it is judged against (calibrated on the audited clips where the metric says so),
  ``control``: the control's figure when there is one; ``figure``: all of it in words;
* ``evidence``: the report page and section that shows the figure (``"index.html#comparisons"``,
  relative to the report folder); ``evidence_audit``: where the figure is stored, relative to
  the audit folder (``"audit.json#/metrics/deletion/summary/yamnet/gradcam"``, a JSON pointer);
* ``model``, ``method``, ``metric`` where they apply.

Nothing here runs a model. The rules:

* ensemble vs each single model and vs the eGeMAPS baseline: pass when the 95 %
  bootstrap interval of the UAR difference lies above 0, fail when it lies below,
  warn when it holds 0;
* every registered metric (`xai.metrics.registry`), per audited model and method, as the
  metric declares it (`metric_status`): with a threshold (fixed, or calibrated on the clips:
  deletion and insertion against what random maps gain over random orders, model
  randomisation against the similarity of two random-weight models' maps) it fails when the
  mean does not beat the threshold, passes when it does and the interval of the margin (or of
  the gain over the control) lies above 0, warns when that interval holds 0; with a control
  only, the gain interval decides; a metric run on a few clips only warns when it was not run;
* untrained backbones: always listed, warn when any model holds one;
* files that could not be used: pass at 0, warn otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Sequence

from seraudit.core import display
from seraudit.core.naming import slug
from seraudit.ensemble.evaluation.comparison import BETTER, WORSE, compared_with_ensemble, interval_verdict
from seraudit.ensemble.model.naming import model_display
from seraudit.ensemble.model.spec import BASELINE_MODEL
from seraudit.xai.audit.summary import metric_sections
from seraudit.xai.metrics.base import Metric
from seraudit.xai.metrics.registry import registered_metrics
from seraudit.xai.metrics.sanity import ModelRandomisation

PASS, WARN, FAIL = "pass", "warn", "fail"
SEVERITY = {PASS: 0, WARN: 1, FAIL: 2}
#: Kept for older callers: model randomisation's threshold is now calibrated per audit (None here).
SANITY_MAX_SPEARMAN = ModelRandomisation.threshold


def check(check_id: str, name: str, status: str, value: float | None, threshold: float | None, figure: str,
          evidence: str, evidence_audit: str, *, control: float | None = None, **where: Any) -> dict[str, Any]:
    """One check as ``audit.json`` stores it (see the module docstring)."""
    number = lambda x: None if x is None else float(x)  # noqa: E731
    return {"id": check_id, "name": name, "status": status, "value": number(value), "threshold": number(threshold),
            "control": number(control), "figure": figure, "evidence": evidence, "evidence_audit": evidence_audit,
            **where}


def overall_status(checks: Sequence[dict[str, Any]]) -> str:
    """The worst status of `checks` (fail over warn over pass); warn when there is nothing to check."""
    statuses = [c.get("status") for c in checks if c.get("status") in SEVERITY]
    return max(statuses, key=SEVERITY.__getitem__) if statuses else WARN


def json_pointer(*keys: Any) -> str:
    """``audit.json#/a/b``: an RFC 6901 pointer into the audit index (``~`` and ``/`` escaped)."""
    return "audit.json#" + "".join("/" + str(k).replace("~", "~0").replace("/", "~1") for k in keys)


def _run_file(index: dict[str, Any], name: str, audit_dir: str | os.PathLike | None) -> str:
    """A file of the run folder as a link from the audit folder (relative when the audit folder is known)."""
    run = index.get("run") or ""
    if not run:
        return json_pointer("run")
    target = Path(run) / name
    if audit_dir is None:
        return str(target)
    return Path(os.path.relpath(target.resolve(), Path(audit_dir).resolve())).as_posix()


def interval_status(low: float | None, high: float | None) -> str:
    """pass above 0, fail below 0, warn when the interval holds 0 or is missing."""
    return {BETTER: PASS, WORSE: FAIL}.get(interval_verdict(low, high), WARN)


def short_model_name(name: str, display_name: str = "") -> str:
    """A model's short name ("Ensemble", "VGGish", "YAMNet", "eGeMAPS baseline"): the registry's, else its display name
    without the notes in brackets. Check names use it; which models hold an untrained backbone is said once, by
    `untrained_check` (and by the report's banner)."""
    if name == BASELINE_MODEL:
        return "eGeMAPS baseline"
    short = model_display(name)
    if short != name or not display_name:
        return short
    return display_name.split(" (", 1)[0].strip() or name


def _title(name: str, index: dict[str, Any], results: dict[str, Any]) -> str:
    rec = index.get("models", {}).get(name) or results.get("models", {}).get(name) or {}
    return short_model_name(name, str(rec.get("display_name") or ""))


def comparison_checks(index: dict[str, Any], results: dict[str, Any],
                      audit_dir: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    out = []
    for i, c in enumerate(results.get("comparisons", [])):
        if c.get("a") != "ensemble" or c.get("b") not in compared_with_ensemble():
            continue
        low, high, diff, p = c.get("ci_low"), c.get("ci_high"), c.get("uar_difference"), c.get("p_value")
        if diff is None:
            continue
        interval = "" if low is None or high is None else f" {display.points_interval([low, high])}"
        value = f"{display.points_change(diff)} UAR points{interval}" + ("" if p is None else f", McNemar {display.pvalue(p)}")
        out.append(check(f"comparison.ensemble.{c['b']}",
                         f"{_title('ensemble', index, results)} beats {_title(c['b'], index, results)}",
                         interval_status(low, high), diff, 0.0, value + "; passes when the interval lies above 0",
                         "index.html#comparisons", f"{_run_file(index, 'results.json', audit_dir)}#/comparisons/{i}",
                         interval=None if low is None or high is None else [float(low), float(high)]))
    return out


def calibration_checks(index: dict[str, Any], results: dict[str, Any],
                       audit_dir: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """Each model's expected calibration error (10 bins) on its out-of-fold predictions, as results.json records it:
    pass at most 0.10, warn up to 0.20, fail above (runs from before calibration was measured give no check)."""
    out = []
    for name, rec in results.get("models", {}).items():
        cal = rec.get("calibration") or {}
        ece, shown = cal.get("ece"), cal.get(cal.get("shown", "raw")) or {}
        if ece is None:
            continue
        status = PASS if ece <= 0.10 else WARN if ece <= 0.20 else FAIL
        figure = (f"ECE {ece:.3f} over {cal.get('n_clips', 0)} out-of-fold clips (mean confidence "
                  f"{shown.get('mean_confidence', float('nan')):.2f} at accuracy {shown.get('accuracy', float('nan')):.2f}); "
                  "passes at most 0.10, fails above 0.20")
        out.append(check(f"calibration.{name}", f"{_title(name, index, results)} is calibrated", status, ece, 0.10, figure,
                         "index.html#models-table" if name == "egemaps" else f"model-{slug(name)}.html#calibration",
                         f"{_run_file(index, 'results.json', audit_dir)}#/models/{name}/calibration/ece", model=name))
    return out


def metric_status(metric: type[Metric], cell: dict[str, Any]) -> str | None:
    """A metric's verdict on one summary cell, from what the metric declares; None when there is nothing to judge.

    With a threshold (the cell's calibrated one, else the metric's fixed one): fail when the
    mean does not beat it in the metric's direction (warn without a value); when it does,
    pass if the cell carries no interval (a fixed threshold) or its interval (``margin_ci``
    over the per-clip thresholds, else ``gain_ci`` over the control) lies above 0, warn
    otherwise. Without a threshold: the gain interval over the control (`interval_status`).
    """
    threshold = cell.get("threshold", metric.threshold)
    if threshold is not None:
        value = cell.get("value")
        if value is None:
            return WARN
        beats = value > threshold if metric.higher_is_better else value < threshold
        if not beats:
            return FAIL
        calibrated = "margin_ci" in cell or "null_gain_q95" in cell
        if not calibrated:
            return PASS
        ci = cell.get("margin_ci") if "margin_ci" in cell else cell.get("gain_ci")
        return PASS if isinstance(ci, (list, tuple)) and len(ci) == 2 and ci[0] > 0 else WARN
    if cell.get("beats_control") is None:
        # A calibrated metric read from an audit written before its calibration: nothing to judge against.
        return WARN if metric.threshold_rule and cell.get("value") is not None else None
    ci = cell.get("gain_ci")
    low, high = ci if isinstance(ci, (list, tuple)) and len(ci) == 2 else (None, None)
    return interval_status(low, high)


def audited_models(index: dict[str, Any], sections: dict[str, Any]) -> list[str]:
    """Every audited model: the index's models in order (the reference first), then any a metric scored besides."""
    reference = index.get("reference_model", "ensemble")
    names = list(index.get("models") or {})
    for section in sections.values():
        names += [m for m in (section or {}).get("summary", {}) if m not in names]
    if reference in names or not names:
        names = [reference] + [n for n in names if n != reference]
    return list(dict.fromkeys(names))


def metric_checks(index: dict[str, Any]) -> list[dict[str, Any]]:
    """One check per registered metric, audited model and method, as each metric declares it.

    A metric without a verdict (``checked`` False, or neither a threshold, a calibration nor a
    control) adds none; a metric run on a few clips only (``on_every_clip`` False) that has no
    figure for a model says it was not run on that model.
    """
    sections = metric_sections(index)
    out = []
    for metric in registered_metrics().values():
        calibrated = metric.threshold_rule is not None
        if not metric.checked or (metric.threshold is None and metric.control_name is None and not calibrated):
            continue
        summary = (sections.get(metric.id) or {}).get("summary", {})
        for model in audited_models(index, sections):
            title = _title(model, index, {})
            cells = summary.get(model) or {}
            evidence = metric.evidence.format(id=metric.id, model=slug(model))
            if not cells:
                if not metric.on_every_clip:
                    name = metric.not_run_title or f"{metric.name} check"
                    out.append(check(f"{metric.id}.{model}.not_run", f"{name} ({title})", WARN, 0.0, None,
                                     metric.not_run_value, evidence, json_pointer("metrics", metric.id, "summary"),
                                     model=model, metric=metric.id))
                continue
            for method in index.get("methods", []) or list(cells):
                cell = cells.get(method)
                status = None if cell is None else metric_status(metric, cell)
                if status is None:
                    continue
                out.append(check(
                    f"{metric.id}.{model}.{method}", metric.check_title.format(method=method, model=title, name=metric.name),
                    status, cell.get("value"), cell.get("threshold", metric.threshold), metric.describe(cell), evidence,
                    json_pointer("metrics", metric.id, "summary", model, method), control=cell.get("control"),
                    model=model, method=method, metric=metric.id))
    return out


def untrained_check(index: dict[str, Any], results: dict[str, Any]) -> dict[str, Any]:
    """Always present: which models hold a backbone with random weights."""
    untrained: dict[str, list[str]] = {}
    for source in (results.get("models", {}), index.get("models", {})):
        for name, rec in source.items():
            branches = rec.get("untrained_branches", rec.get("untrained", [])) or []
            for branch in branches:
                untrained.setdefault(model_display(branch), [])
                if name not in untrained[model_display(branch)]:
                    untrained[model_display(branch)].append(name)
    holding = len({m for models in untrained.values() for m in models})
    if not untrained:
        return check("untrained_backbones", "every backbone pretrained", PASS, 0.0, 0.0,
                     "no model holds an untrained backbone", "index.html#provenance", json_pointer("models"))
    value = "; ".join(f"{b} untrained (random weights) in {', '.join(model_display(m) for m in models)}"
                      for b, models in untrained.items())
    return check("untrained_backbones", "untrained backbones", WARN, holding, 0.0, value, "index.html#provenance",
                 json_pointer("models"))


def failures_check(failures: Sequence[dict[str, str]]) -> dict[str, Any]:
    n = len(failures)
    return check("unusable_files", "files that could not be used", PASS if n == 0 else WARN, n, 0.0,
                 "none" if n == 0 else f"{n} file{'s' if n != 1 else ''}", "index.html#failures", "failures.csv")


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
                 run_failures: Sequence[dict[str, str]] = (), *,
                 audit_dir: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """Every check, in the order the report lists them (see the module docstring for the rules).

    ``audit_dir`` (the folder ``audit.json`` goes to) makes the evidence in the run folder a relative link.
    """
    results = results or {}
    return [
        *comparison_checks(index, results, audit_dir),
        *calibration_checks(index, results, audit_dir),
        *metric_checks(index),
        untrained_check(index, results),
        failures_check(all_failures(index, run_failures)),
    ]
