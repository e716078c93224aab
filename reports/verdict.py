"""The index's first screen: the verdict in one line, each model's UAR against chance, the untrained banner, the checks.

`verdict` reads what the report already holds (the audit's checks, each model's UAR over
the cross-validation folds, the labels, the untrained branches) and returns a `Verdict`
for ``sections/verdict.html``:

* ``counts``: checks per status, worst first, and ``overall``, the worst status
  (`xai.audit.checks.overall_status`);
* ``headlines``: each model's UAR (mean and standard deviation over the folds, as the run
  saved them) beside ``chance`` (one over the number of classes);
* ``untrained``: the models with a backbone on seeded random weights (the banner), and
  ``legend``: each model's full name once, since the checks call models by short names;
* ``rows``: checks that stand alone (comparisons, calibration, files, ...) sorted
  fail -> warn -> skipped -> pass;
* ``matrices``: checks that come as a family over models (an explanation metric per
  method and model, a shortcut battery per edit and model) as one method x model table
  each, sorted by their worst cell; ``blocks``: the table of rows and the matrices in the
  order the page shows them, worst first (a failing matrix above a table that only warns).

Nothing here recomputes a figure; saved check names that carry a model's full name (audits
written before the short names) are shown with the short name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from seraudit.core.naming import slug
from seraudit.ensemble.model.naming import model_display
from seraudit.reports.model import ModelInfo, Report
from seraudit.reports.model_page import t_interval
from seraudit.xai.audit.checks import overall_status, short_model_name

#: The order checks are listed in: what needs attention first.
STATUS_ORDER = ("fail", "warn", "skipped", "pass")
#: Shortcut-battery families (a check's ``kind``) and the heading of their matrix.
SHORTCUT_TITLES = {"edit": "Shortcut edits: share of labels an edit flips",
                   "speaker": "Speaker shortcut: who speaks, read from the features",
                   "lexical": "Sentence shortcut: which sentence, read from the features"}


@dataclass
class Headline:
    """One model's UAR over the cross-validation folds, in percent points."""

    model: str
    short: str
    uar_mean: float | None
    uar_std: float | None
    untrained: bool = False
    baseline: bool = False
    interval: tuple[float, float] | None = None  # 95 % Student-t interval of the mean over the folds


@dataclass
class Matrix:
    """A family of checks as a table: ``rows`` (method or edit) x ``columns`` (models); ``cells[(row, column)]``."""

    id: str
    title: str
    rows: list[tuple[str, str]]  # (key, label)
    columns: list[tuple[str, str]]  # (model, short name)
    cells: dict[tuple[str, str], dict[str, Any]]
    direction: str = ""  # "<" when a value passes below its threshold, ">" above, "" when the rule says more
    control_name: str = ""
    rule: str = ""
    link: str = ""  # the report section that explains the family ("index.html#metric-deletion"), as check evidence is

    @property
    def status(self) -> str:
        return worst(c["status"] for c in self.cells.values())

    @property
    def counts(self) -> dict[str, int]:
        return status_counts(self.cells.values())


@dataclass
class Verdict:
    overall: str
    counts: dict[str, int]
    n_checks: int
    headlines: list[Headline]
    chance: float | None
    n_classes: int
    n_folds: int | None
    untrained: list[dict[str, Any]]  # {"model", "short", "title", "branches", "alone"}
    legend: list[tuple[str, str]]  # (short name, full name) where they differ
    rows: list[dict[str, Any]]
    matrices: list[Matrix]
    failing: list[dict[str, Any]] = field(default_factory=list)  # {"id", "title", "n", "of"}: where the fails are

    @property
    def blocks(self) -> list[tuple[str, Any]]:
        """What the section shows after the banner, worst first: ``("rows", checks)`` (the table of checks that stand
        alone, placed by its worst row) and ``("matrices", [Matrix, ...])`` (consecutive matrices, side by side)."""
        items: list[tuple[int, int, Any]] = [(rank(m.status), i + 1, m) for i, m in enumerate(self.matrices)]
        items.append((rank(worst(c.get("status") for c in self.rows)) if self.rows else len(STATUS_ORDER), 0, None))
        out: list[tuple[str, Any]] = []
        for _, _, item in sorted(items, key=lambda x: (x[0], x[1])):
            if item is None:
                out.append(("rows", self.rows))
            elif out and out[-1][0] == "matrices":
                out[-1][1].append(item)
            else:
                out.append(("matrices", [item]))
        return out


def rank(status: Any) -> int:
    """Where a status sorts: fail 0, warn 1, skipped 2, pass 3, anything else after."""
    return STATUS_ORDER.index(status) if status in STATUS_ORDER else len(STATUS_ORDER)


def worst(statuses) -> str:
    ranked = sorted(statuses, key=rank)
    return ranked[0] if ranked else "warn"


def sort_checks(checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Checks fail -> warn -> skipped -> pass, in saved order within a status."""
    return sorted(checks, key=lambda c: rank(c.get("status")))


def status_counts(checks) -> dict[str, int]:
    """Checks per status, worst first (others after them); a status no check has is left out."""
    counts: dict[str, int] = {}
    for c in checks:
        status = str(c.get("status"))
        counts[status] = counts.get(status, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: rank(item[0])))


def short_name(name: str, info: ModelInfo | None = None) -> str:
    """A model's short name ("YAMNet", "VGGish", "Ensemble"), as check names give it (`checks.short_model_name`)."""
    return short_model_name(name, info.display_name if info is not None else "")


def _full_names(report: Report) -> dict[str, tuple[str, str]]:
    """model -> (full name as pages title it, short name)."""
    return {name: (info.title, short_name(name, info)) for name, info in report.models.items()}


def shortened(text: str, names: dict[str, tuple[str, str]], saved: dict[str, str] | None = None) -> str:
    """`text` with every model's full name (its title, its saved display name) replaced by its short name."""
    pairs = {}
    for model, (full, short) in names.items():
        for long_name in (full, (saved or {}).get(model, "")):
            if long_name and long_name != short:
                pairs[long_name] = short
    for long_name in sorted(pairs, key=len, reverse=True):
        text = text.replace(long_name, pairs[long_name])
    return text


def chance_level(report: Report) -> tuple[float | None, int]:
    """1 / number of emotion classes (from the models' labels, else a confusion matrix's); None without labels."""
    labels: list[str] = []
    for info in report.models.values():
        labels = labels or list(info.labels)
    for mr in report.model_reports.values():
        labels = labels or list(mr.confusion_labels)
    labels = labels or list(report.sections.get("recall_labels") or [])
    return (1.0 / len(labels) if labels else None), len(labels)


def headlines(report: Report) -> list[Headline]:
    """Each model with a UAR (mean, SD and the 95 % interval of the mean over its folds), then the baselines (eGeMAPS),
    as the run summary saved them."""
    out = [Headline(name, short_name(name, mr.info), mr.uar_mean, mr.uar_std, mr.info.untrained,
                    interval=t_interval(mr.uar_folds))
           for name, mr in report.model_reports.items() if mr.uar_mean is not None]
    for name, rec in report.baselines.items():
        if rec.get("uar_mean") is not None:
            short = short_name(name, ModelInfo(name, str(rec.get("display_name") or name)))
            out.append(Headline(name, short, rec.get("uar_mean"), rec.get("uar_std"), baseline=True,
                                interval=t_interval(rec.get("uar_folds") or [])))
    return out


def untrained_models(report: Report) -> list[dict[str, Any]]:
    """The models holding a backbone on seeded random weights, with the branches that are."""
    return [{"model": name, "short": short_name(name, info), "title": info.title,
             "branches": [model_display(b) for b in info.untrained_branches],
             "alone": list(info.untrained_branches) == [name]}
            for name, info in report.models.items() if info.untrained]


def _family(check: dict[str, Any]) -> tuple[str, str] | None:
    """(family, row) of a check that belongs in a matrix, None for one that stands alone.

    An explanation metric's check per model and method (``deletion.yamnet.gradcam``) is the
    metric's family, its method the row; a shortcut check per model (``shortcut.telephone.yamnet``)
    is its battery's family (``kind``), its edit or probe the row.
    """
    model = check.get("model")
    if not model:
        return None
    if check.get("metric") and check.get("method"):
        return str(check["metric"]), str(check["method"])
    parts = str(check.get("id", "")).split(".")
    if parts[0] == "shortcut" and len(parts) == 3 and parts[2] == model:
        return f"shortcut-{check.get('kind') or 'checks'}", parts[1]
    return None


def _row_label(check: dict[str, Any], short: str) -> str:
    """A shortcut check's name without the model it names ("ignores +6 dB gain")."""
    name = str(check.get("name", ""))
    if name.startswith(short):
        name = name[len(short):].lstrip(" :")
    return name or str(check.get("id", ""))


def matrices(checks: list[dict[str, Any]], report: Report,
             names: dict[str, tuple[str, str]]) -> tuple[list[Matrix], list[dict[str, Any]]]:
    """The checks that come as families, one `Matrix` each (worst first), and the checks left as rows."""
    families: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    rows = []
    for check in checks:
        where = _family(check)
        if where is None:
            rows.append(check)
        else:
            families.setdefault(where[0], []).append((where[1], check))
    model_order = list(report.models)
    out = []
    for family, members in families.items():
        present = list(dict.fromkeys(str(c["model"]) for _, c in members))
        columns = sorted(present, key=lambda m: model_order.index(m) if m in model_order else len(model_order))
        keys = list(dict.fromkeys(row for row, _ in members))
        if not family.startswith("shortcut-"):
            keys = sorted(keys, key=lambda k: report.methods.index(k) if k in report.methods else len(report.methods))
        cells = {(row, str(c["model"])): c for row, c in members}
        short = {m: names.get(m, (m, short_name(m)))[1] for m in columns}
        if family.startswith("shortcut-"):
            kind = family.removeprefix("shortcut-")
            labels = {row: _row_label(c, short[str(c["model"])]) for row, c in reversed(members)}
            rules = [str(c.get("rule")) for _, c in members if c.get("rule")]
            evidence = {str(c.get("evidence") or "") for _, c in members}
            out.append(Matrix(f"verdict-{slug(family)}", SHORTCUT_TITLES.get(kind, f"Shortcut checks ({kind})"),
                              [(k, labels[k]) for k in keys], [(m, short[m]) for m in columns], cells,
                              rule=rules[0] if len(set(rules)) == 1 else "",
                              link=evidence.pop() if len(evidence) == 1 else ""))
        else:
            record = report.metrics.get(family) or {}
            higher = record.get("higher_is_better")
            out.append(Matrix(f"verdict-{slug(family)}", str(record.get("name") or family),
                              [(k, k) for k in keys], [(m, short[m]) for m in columns], cells,
                              direction="" if higher is None else (">" if higher else "<"),
                              control_name=str(record.get("control_name") or ""),
                              rule=str(record.get("threshold_rule") or ""),
                              link=f"index.html#metric-{family}" if family in report.metrics else ""))
    order = {id(m): i for i, m in enumerate(out)}
    return sorted(out, key=lambda m: (rank(m.status), order[id(m)])), rows


def verdict(report: Report) -> Verdict:
    """The first screen of the index (see the module docstring)."""
    names = _full_names(report)
    saved = {name: info.display_name for name, info in report.models.items()}
    checks = [dict(c, name=shortened(str(c.get("name", "")), names, saved)) for c in report.checks]
    found, rows = matrices(checks, report, names)
    chance, n_classes = chance_level(report)
    folds = report.sections.get("folds") or []
    failing = [{"id": m.id, "title": m.title, "n": m.counts.get("fail", 0), "of": len(m.cells)}
               for m in found if m.counts.get("fail")]
    failing += [{"id": f"check-{slug(str(c.get('id') or c.get('name')))}", "title": c["name"], "n": 1, "of": 1}
                for c in rows if c.get("status") == "fail"]
    untrained = untrained_models(report)
    legend = [(short, full) for full, short in names.values() if full != short]
    return Verdict(
        overall=overall_status(checks),
        counts=status_counts(checks),
        n_checks=len(checks),
        headlines=headlines(report),
        chance=chance,
        n_classes=n_classes,
        n_folds=len(folds) or None,
        untrained=untrained,
        legend=legend,
        rows=sort_checks(rows),
        matrices=found,
        failing=failing,
    )
