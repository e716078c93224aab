"""Report sections are lists the pages loop over; the run is read through `Run`; metrics come from audit.json's records.

A toy section (one function, one partial, one line in a list) reaches the index; the
confusion matrix on a model page is the one ``results.json`` stores, not a recount of
the predictions; a run folder or audit folder written before these changes still renders;
a metric record the audit holds reaches the index, the model page and the clip page.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from seraudit.ensemble.run import Run
from seraudit.reports import sections
from seraudit.reports.build import build_report, write_report
from seraudit.reports.loading import load_report
from seraudit.reports.run_reader import run_summary


def _page(folder: Path, name: str) -> str:
    return (folder / name).read_text(encoding="utf-8")


def _between(text: str, start: str, end: str) -> str:
    assert start in text, f"{start!r} not on the page"
    return text.split(start, 1)[1].split(end, 1)[0]


# ------------------------------------------------------------------ the section list
def test_a_toy_section_registered_in_the_list_shows_on_the_index_in_its_place(report, tmp_path, monkeypatch):
    partials = tmp_path / "templates"
    (partials / "sections").mkdir(parents=True)
    (partials / "sections" / "toy.html").write_text(
        '<section id="{{ section.id }}"><h2>{{ section.title }}</h2><p>{{ data.n_clips }} clips, first {{ data.first }}</p></section>\n',
        encoding="utf-8")

    def toy(page):
        return {"n_clips": len(page.report.clips), "first": page.report.clips[0].name}

    after_corpus = [s.id for s in sections.INDEX_SECTIONS].index("corpus") + 1
    monkeypatch.setattr(sections, "INDEX_SECTIONS", [*sections.INDEX_SECTIONS[:after_corpus],
                                                     sections.Section("toy", "A toy section", toy, "sections/toy.html"),
                                                     *sections.INDEX_SECTIONS[after_corpus:]])
    monkeypatch.setattr(sections, "TEMPLATE_DIRS", [*sections.TEMPLATE_DIRS, partials])
    index = _page(build_report(report, tmp_path / "r").parent, "index.html")
    toy_section = _between(index, '<section id="toy">', "</section>")
    assert "<h2>A toy section</h2>" in toy_section
    assert f"<p>{len(report.clips)} clips, first {report.clips[0].name}</p>" in toy_section
    assert index.index('<section id="corpus">') < index.index('<section id="toy">') < index.index('<section id="folds">')


def test_a_section_whose_function_returns_none_is_left_out(report, tmp_path, monkeypatch):
    monkeypatch.setattr(sections, "INDEX_SECTIONS",
                        [sections.Section(s.id, s.title, (lambda page: None) if s.id == "folds" else s.data, s.template)
                         for s in sections.INDEX_SECTIONS])
    index = _page(build_report(report, tmp_path / "r").parent, "index.html")
    assert '<section id="folds">' not in index and '<section id="corpus">' in index and '<section id="metrics">' in index


def test_every_page_shows_its_sections_in_list_order(report_dir):
    index = _page(report_dir, "index.html")
    ids = [s.id for s in sections.INDEX_SECTIONS if f'<section id="{s.id}">' in index]
    assert ids == [i for i in ("verdict", "audit-selection", "failures", "corpus", "folds", "metrics", "confusion", "per-class-recall",
                               "comparisons", "gds-ablation", "probing", "class-maps", "agreement",
                               "explanation-metrics", "model-card", "provenance")]
    positions = [index.index(f'<section id="{i}">') for i in ids]
    assert positions == sorted(positions)


# ------------------------------------------------------------------ the run, read through Run
@pytest.fixture()
def own_run(run_dir, tmp_path) -> Path:
    """A copy of the run fixture this test may change."""
    return Path(shutil.copytree(run_dir, tmp_path / "run"))


def _edit_results(run: Path, edit) -> None:
    path = run / "results.json"
    results = json.loads(path.read_text(encoding="utf-8"))
    edit(results)
    path.write_text(json.dumps(results), encoding="utf-8")


def test_the_report_shows_the_confusion_matrix_results_json_stores(own_run, audit_dir, tmp_path):
    stored = [[11, 12, 13, 14], [21, 22, 23, 24], [31, 32, 33, 34], [41, 42, 43, 44]]  # no recount gives these
    _edit_results(own_run, lambda results: results["models"]["ensemble"].update(confusion_matrix=stored))
    report = load_report(run_summary(Run.open(own_run)), audit_dir, run_dir=str(own_run))
    assert report.model_reports["ensemble"].confusion == stored
    build_report(report, tmp_path / "r")
    confusion = _between(_page(tmp_path / "r", "index.html"), '<section id="confusion">', "</section>")
    assert 'alt="confusion matrix, Ensemble (late fusion; VGGish untrained)"' in confusion
    assert Run.open(own_run).confusion("ensemble") == (["neutral", "happy", "sad", "angry"], stored)


def test_a_run_folder_from_before_still_renders(own_run, audit_dir, tmp_path):
    """A run whose results.json stored no confusion matrices and whose models saved no config."""
    def strip(results):
        for rec in results["models"].values():
            rec.pop("confusion_matrix", None)

    _edit_results(own_run, strip)
    shutil.rmtree(own_run / "models", ignore_errors=True)
    index = write_report(own_run, audit_dir, tmp_path / "r")
    assert "The run saved no confusion matrices." in _between(_page(index.parent, "index.html"), '<section id="confusion">', "</section>")
    model_page = _page(index.parent, "model-ensemble.html")
    assert 'id="fold-uar-ensemble"' in model_page  # the fold table still shows
    assert "layers read" not in model_page  # no saved config: nothing said about layers
    summary = run_summary(Run.open(own_run))
    assert "confusion" not in summary["models"]["ensemble"]


# ------------------------------------------------------------------ explanation metrics from audit.json
def _copy_audit(audit_dir: Path, out: Path) -> Path:
    return Path(shutil.copytree(audit_dir, out))


def _edit_json(path: Path, edit) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(json.dumps(data), encoding="utf-8")


TOY_METRIC = {"name": "Toy steadiness", "description": "How steady a toy map is (a metric only this test knows).",
              "higher_is_better": True, "control_name": "shuffled map", "threshold": None,
              "summary": {"ensemble": {"gradcam": {"value": 0.777, "control": 0.111, "n_clips": 3, "beats_control": 0.5,
                                                   "gain_ci": [0.25, 0.75]}}}}


def test_a_metric_record_the_audit_holds_reaches_the_index_and_the_clip_page_with_no_report_edit(audit_dir, tmp_path):
    audit = _copy_audit(audit_dir, tmp_path / "audit")
    _edit_json(audit / "audit.json", lambda index: index.setdefault("metrics", {}).update(toy_steadiness=TOY_METRIC))
    clip_json = next(audit.glob("clips/*/clip.json"))
    _edit_json(clip_json, lambda record: record["methods"]["ensemble"]["gradcam"].setdefault("scores", {}).update(
        toy_steadiness={"value": 0.654, "control": 0.321}))
    out = build_report(load_report(None, audit), tmp_path / "r").parent

    block = _between(_page(out, "index.html"), '<section id="metric-toy_steadiness">', "</section>")
    assert "<h3>Toy steadiness</h3>" in block and "a metric only this test knows" in block
    assert "<th>shuffled map</th>" in block and "0.777" in block and "0.111" in block and "50 %" in block
    assert "[+0.250, +0.750]" in block
    row = _between(block, "<td>gradcam</td>", "</tr>")
    assert row.startswith('<td class="num">0.777</td>')  # the ensemble's row (the model pages leave tables to the index)

    record = json.loads(clip_json.read_text(encoding="utf-8"))
    clip_page = _page(out, next(out.glob(f"clip-{record['id']}*.html")).name)
    assert "<tr><th>Toy steadiness</th><td class=\"num\">0.654</td><th>shuffled map</th><td class=\"num\">0.321</td></tr>" in clip_page


def test_an_audit_folder_from_before_the_metric_records_still_shows_its_metrics(audit_dir, tmp_path):
    """audit.json without "metrics" and clip.json without "scores": the legacy keys give the same tables."""
    audit = _copy_audit(audit_dir, tmp_path / "audit")
    _edit_json(audit / "audit.json", lambda index: index.pop("metrics", None))
    for clip_json in audit.glob("clips/*/clip.json"):
        _edit_json(clip_json, lambda record: [m.pop("scores", None) for per in record["methods"].values() for m in per.values()])
    out = build_report(load_report(None, audit), tmp_path / "r").parent

    deletion = _between(_page(out, "index.html"), '<section id="metric-deletion">', "</section>")
    assert "<td>gradcam</td><td class=\"num\">0.200</td><td class=\"num\">0.400</td><td class=\"num\">100 %</td>" in deletion
    insertion = _between(_page(out, "index.html"), '<section id="metric-insertion">', "</section>")
    assert "<td>occlusion</td><td class=\"num\">0.600</td><td class=\"num\">0.400</td>" in insertion
    clip_page = _page(out, next(out.glob("clip-*.html")).name)
    assert "<tr><th>Deletion AUC</th><td class=\"num\">0.200</td>" in clip_page
    assert "<tr><th>Insertion AUC</th><td class=\"num\">0.600</td>" in clip_page


def test_a_check_saved_by_an_older_audit_still_links_to_its_evidence(audit_dir, tmp_path):
    audit = _copy_audit(audit_dir, tmp_path / "audit")
    _edit_json(audit / "audit.json", lambda index: index.update(
        checks=[{"name": "model-randomisation check", "status": "warn", "value": "not run", "evidence": "index.html#sanity"}]))
    index = _page(build_report(load_report(None, audit), tmp_path / "r").parent, "index.html")
    assert '<a href="index.html#metric-model_randomisation">evidence</a>' in index
    assert '<section id="metric-model_randomisation">' in index
