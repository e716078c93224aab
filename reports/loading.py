"""Assemble a `Report` from an audit folder and a run summary: each function here builds one part of it.

`load_report` reads the audit (`reports.audit_reader`), names every model once
(`model_infos`), builds each model's page (`model_reports`) and takes the verdict the
audit saved (`report_checks`); the run's side comes ready from `reports.run_reader`.
Nothing here reads a run folder or recomputes a figure.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from seraudit.reports.audit_reader import load_audit
from seraudit.reports.audit_sections import audit_provenance, selection_summary
from seraudit.reports.display import model_title
from seraudit.reports.metric_records import metric_records
from seraudit.reports.model import Comparison, ModelInfo, ModelReport, Report
from seraudit.xai.audit.checks import all_failures, audit_checks


def load_report(
    run_summary: dict[str, Any] | None,
    audit_dir: str | os.PathLike,
    *,
    run_dir: str = "",
    title: str | None = None,
    redact_paths: bool = False,
) -> Report:
    """Assemble a report from an audit folder and a run summary (`reports.run_reader.run_summary`).

    Failures are the audit's and the run's (files training left out, its ``failures.csv``).
    Paths show relative to the run's corpus root, or as file names with `redact_paths`.
    ``None`` for the run summary makes model pages show only the audit's own figures.
    """
    audit_dir = Path(audit_dir)
    run_summary = run_summary or {}
    index, clips = load_audit(audit_dir, run_summary.get("corpus_root"), redact_paths)
    models = model_infos(index, run_summary)
    baselines = run_summary.get("baselines", {})
    return Report(
        title=title or index.get("title") or "SERAudit report",
        run_dir=run_dir or index.get("run", ""),
        audit_dir=audit_dir,
        models=models,
        methods=list(index.get("methods", [])),
        clips=clips,
        model_reports=model_reports(models, index, run_summary),
        failures=all_failures(index, run_summary.get("run_failures", [])),
        corpus_note=run_summary.get("corpus_note", ""),
        metrics=metric_records(index),
        baselines=baselines,
        faithfulness_block=tuple(index.get("settings", {}).get("faithfulness_block", (1, 1))),
        checks=report_checks(index, run_summary),
        sections=with_provenance(run_summary.get("sections", {}), index, audit_dir),
        comparison_rows=comparison_rows(run_summary.get("comparisons", []), models, baselines),
        probing_rows=list((index.get("probing") or {}).get("rows", [])),
        probing_controls=list((index.get("probing") or {}).get("controls", [])),
        corpus_root=run_summary.get("corpus_root", ""),
        redact_paths=redact_paths,
        selection=selection_summary(index, clips),
    )


def with_provenance(sections: dict[str, Any], index: dict[str, Any], audit_dir: Path) -> dict[str, Any]:
    """The run-level sections with the provenance completed: the run's own (``run``: False without a run), the
    audit's settings and date (`audit_sections.audit_provenance`) and the software and date of this report."""
    from seraudit.core.provenance import software, utc_now

    run_side = dict(sections.get("provenance") or {})
    provenance = {**run_side, "run": bool(run_side), "audit": audit_provenance(index, audit_dir),
                  "report": {"software": software(), "date": utc_now()}}
    return {**sections, "provenance": provenance}


def model_infos(index: dict[str, Any], run_summary: dict[str, Any]) -> dict[str, ModelInfo]:
    """Every model the audit explained, then the run's other models, each named once (the audit's record first)."""
    records = {**run_summary.get("models", {}), **index.get("models", {})}
    order = [*index.get("models", {}), *(n for n in run_summary.get("models", {}) if n not in index.get("models", {}))]
    return {name: model_info(name, records[name]) for name in order}


def model_info(name: str, rec: dict[str, Any]) -> ModelInfo:
    """A model's name, display name, untrained branches and labels from its audit or run record."""
    return ModelInfo(name=name, display_name=rec.get("display_name", name),
                     untrained_branches=list(rec.get("untrained_branches", [])), labels=list(rec.get("labels", [])))


def model_reports(models: dict[str, ModelInfo], index: dict[str, Any], run_summary: dict[str, Any]) -> dict[str, ModelReport]:
    """Each model's page: the run's figures for it, its comparisons, its probing rows and the audit's means."""
    probing = index.get("probing") or {}
    summary = index.get("summary", {})
    out = {}
    for name, info in models.items():
        rec = run_summary.get("models", {}).get(name, {})
        out[name] = ModelReport(
            info=info,
            uar_mean=rec.get("uar_mean"),
            uar_std=rec.get("uar_std"),
            uar_folds=list(rec.get("uar_folds") or []),
            confusion_labels=list(rec.get("confusion_labels", [])),
            confusion=[list(map(int, row)) for row in rec.get("confusion", [])],
            comparisons=comparisons_of(name, run_summary.get("comparisons", [])),
            probing=probing_rows(probing, name),
            probing_controls=probing_rows({"rows": probing.get("controls", [])}, name),
            method_means=summary.get(name, {}),
            extra_metrics=rec.get("extra", {}),
        )
    return out


def comparisons_of(name: str, comparisons: list[dict[str, Any]]) -> list[Comparison]:
    """The saved comparisons of model `name` with each other model."""
    return [Comparison(other=c.get("other", ""), uar_difference=c.get("uar_difference"), ci_low=c.get("ci_low"),
                       ci_high=c.get("ci_high"), mcnemar_p=c.get("mcnemar_p"))
            for c in comparisons if c.get("model") == name]


def report_checks(index: dict[str, Any], run_summary: dict[str, Any]) -> list[dict[str, str]]:
    """The verdict the audit saved; an audit from before the verdict gets it computed by the same rules."""
    if index.get("checks"):
        return list(index["checks"])
    return audit_checks(index, run_summary.get("results"), run_summary.get("run_failures", []))


def comparison_rows(comparisons: list[dict[str, Any]], models: dict[str, ModelInfo],
                    baselines: dict[str, Any]) -> list[dict[str, Any]]:
    """Every saved comparison as a table row: both models' names, the UAR difference, its interval, McNemar p, the verdict."""
    def title(name: str) -> str:
        return model_title(name, models, baselines.get(name, {}).get("display_name", name))

    rows = []
    for c in comparisons:
        comparison = Comparison(other=c.get("other", ""), uar_difference=c.get("uar_difference"), ci_low=c.get("ci_low"),
                                ci_high=c.get("ci_high"), mcnemar_p=c.get("mcnemar_p"))
        rows.append({"model": title(c.get("model", "")), "other": title(comparison.other), "comparison": comparison})
    return rows


def probing_rows(probing: dict[str, Any], model: str) -> list[dict[str, Any]]:
    """Probing rows that concern ``model`` (rows name a backbone; the ensemble shows all)."""
    rows = probing.get("rows", [])
    if model == "ensemble":
        return rows
    return [r for r in rows if r.get("backbone") in (model, None)]
