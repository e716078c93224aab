"""The report's sections: each page is a list of them, and a section is one function plus one template block.

A `Section` names its anchor id and heading, a function that picks the section's data
from the loaded report (`Page`: the report, the figures drawn from it and the page's
model or clip), and its template block, a partial under ``templates/sections/``. The
pages loop over `INDEX_SECTIONS`, `MODEL_SECTIONS` and `CLIP_SECTIONS` in order, so a
new section is a function, a partial and one line in a list::

    def speakers(page):                      # None leaves the section out of the page
        return page.report.sections.get("corpus")

    INDEX_SECTIONS.insert(5, Section("speakers", "Speakers", speakers, "sections/speakers.html"))

The partial sees ``section`` (its `Section`), ``data`` (what the function returned)
and everything every page sees (``report``, ``asset``, ``title_of``, ...). A section
that shows a note when its figures are missing returns an empty value, not None.
Partials are looked up in `TEMPLATE_DIRS`, so a section kept outside the package adds
its own folder there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from seraudit.reports.audit_sections import agreement_summary
from seraudit.reports.metric_records import metric_rows
from seraudit.reports.model import Report
from seraudit.reports import model_calibration, model_page, model_use
from seraudit.reports import verdict
from seraudit.reports import listening

#: Where templates (pages, ``_macros.html``) and section partials are looked up, in order.
TEMPLATE_DIRS: list[Path] = [Path(__file__).with_name("templates")]


@dataclass(frozen=True)
class Page:
    """What a section's function reads: the report, the figures drawn from it, and the page's subject.

    ``figures`` are the PNGs the report drew from saved numbers (`reports.build`), as
    asset names: ``confusion`` and ``probing`` by model, ``class_maps`` by (model, method),
    ``waveform`` by clip id and ``waveform_recomputed`` (clip ids whose patches were recomputed).
    ``subject`` is the `ModelReport` of a model page, the `ClipReport` of a clip page, None on the index.
    """

    report: Report
    figures: dict[str, Any]
    subject: Any = None


@dataclass(frozen=True)
class Section:
    """One section of a page: its anchor id, its heading, where its data comes from and the block that shows it."""

    id: str
    title: str
    data: Callable[[Page], Any]  # returns the section's data, or None to leave it out of the page
    template: str  # the partial's name relative to a template folder ("sections/verdict.html")


def shown(sections: list[Section], page: Page) -> list[tuple[Section, Any]]:
    """(section, data) of every section the page shows, in list order (sections whose data is None are left out)."""
    out = []
    for section in sections:
        data = section.data(page)
        if data is not None:
            out.append((section, data))
    return out


def _run_section(key: str, empty: Any) -> Callable[[Page], Any]:
    """A run-level section (`reports.run_sections`) as the run summary saved it; `empty` when the run gave none."""
    return lambda page: page.report.sections.get(key) or empty


def _explanation_metrics(page: Page) -> list[dict[str, Any]]:
    """Every metric record of the audit (`reports.metric_records`) with its model x method rows, in registration order."""
    return [{"id": metric_id, "record": record, "rows": metric_rows(record)} for metric_id, record in page.report.metrics.items()]


def _waveform(page: Page) -> dict[str, Any]:
    clip_id = page.subject.clip_id
    return {"png": page.figures["waveform"].get(clip_id), "recomputed": clip_id in page.figures["waveform_recomputed"]}


INDEX_SECTIONS: list[Section] = [
    Section("verdict", "Verdict", lambda page: verdict.verdict(page.report), "sections/verdict.html"),
    Section("models", "Models", lambda page: page.report.model_reports, "sections/models.html"),
    Section("clips", "Audited clips", lambda page: page.report.clips, "sections/clips.html"),
    Section("audit-selection", "Which clips, explained by which model", lambda page: page.report.selection or None,
            "sections/audit_selection.html"),
    Section("failures", "Files that could not be used", lambda page: page.report.failures, "sections/failures.html"),
    Section("corpus", "Corpus", _run_section("corpus", {}), "sections/corpus.html"),
    Section("folds", "Speaker-independent folds", _run_section("folds", []), "sections/folds.html"),
    Section("metrics", "Metrics over the cross-validation test folds",
            lambda page: {"names": page.report.sections.get("metric_names") or [],
                          "rows": page.report.sections.get("metrics") or []}, "sections/run_metrics.html"),
    Section("confusion", "Confusion matrices", lambda page: page.figures["confusion"], "sections/confusion.html"),
    Section("per-class-recall", "Recall per emotion",
            lambda page: {"labels": page.report.sections.get("recall_labels") or [],
                          "rows": page.report.sections.get("recall") or []}, "sections/recall.html"),
    Section("comparisons", "Does the ensemble beat each model?", lambda page: page.report.comparison_rows,
            "sections/comparisons.html"),
    Section("gds-ablation", "Gaussian data selection: what it changes", _run_section("gds_ablation", {}),
            "sections/gds_ablation.html"),
    Section("probing", "eGeMAPS probing: which acoustic features each backbone encodes",
            lambda page: {"pngs": page.figures["probing"], "rows": page.report.probing_rows,
                         "controls": page.report.probing_controls}, "sections/probing.html"),
    Section("model-use", "What the model uses: verified interventions against identity resynthesis", model_use.model_use,
            "sections/model_use.html"),
    Section("shortcuts", "Shortcut checks: silence, gain, band, speaker and sentence", model_use.shortcuts,
            "sections/shortcuts.html"),
    Section("class-maps", "Class-average attribution maps", lambda page: page.figures["class_maps"],
            "sections/class_maps.html"),
    Section("agreement", "Method agreement across clips", lambda page: agreement_summary(page.report.clips),
            "sections/agreement.html"),
    Section("explanation-metrics", "Explanation metrics over the audited clips", _explanation_metrics,
            "sections/explanation_metrics.html"),
    Section("model-card", "Model card", _run_section("model_card", {}), "sections/model_card.html"),
    Section("provenance", "Provenance", _run_section("provenance", {}), "sections/provenance.html"),
]

MODEL_SECTIONS: list[Section] = [
    Section("cross-validation", "UAR fold by fold", model_page.uar_by_fold, "sections/model_cross_validation.html"),
    Section("fusion-weights", "Late-fusion weights", model_calibration.fusion, "sections/model_fusion.html"),
    Section("calibration", "Calibration (out of fold)", model_calibration.calibration, "sections/model_calibration.html"),
    Section("faithfulness", "Deletion and insertion: mean curves over the audited clips", model_page.faithfulness_curves,
            "sections/model_curves.html"),
    Section("model-clips", "Clips audited with this model", model_page.audited_clips, "sections/model_clips.html"),
    Section("on-the-index", "On the index", model_page.on_the_index, "sections/model_index_links.html"),
]

CLIP_SECTIONS: list[Section] = [
    Section("waveform", "Waveform, log-mel and the patches the models heard", _waveform, "sections/clip_waveform.html"),
    Section("listening-bench", "Listening bench: hear more or less of what each method marked", listening.bench,
            "sections/listening_bench.html"),
    Section("predictions", "Predictions", lambda page: page.subject.predictions, "sections/clip_predictions.html"),
    Section("methods", "Explanations per model", lambda page: page.subject.methods, "sections/clip_methods.html"),
    Section("egemaps-deviation", "eGeMAPS deviations from the speaker's neutral clips",
            lambda page: page.subject.egemaps_deviation or None, "sections/clip_egemaps.html"),
]
