"""The index's first screen: counts and the overall status in one line, UAR against chance, the untrained banner above
the fold at 1280x800, checks worst first, families of checks as method x model matrices under short model names."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from seraudit.core.naming import slug
from seraudit.reports.build import build_report
from seraudit.reports.model import ModelInfo, ModelReport, Report
from seraudit.reports.model_page import t_interval
from seraudit.reports.verdict import STATUS_ORDER, verdict

LABELS = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]
ENSEMBLE_TITLE = "Ensemble (late fusion; VGGish untrained)"


def check(check_id: str, name: str, status: str, value=0.5, threshold=0.4, **where) -> dict:
    return {"id": check_id, "name": name, "status": status, "value": value, "threshold": threshold, "control": 0.3,
            "figure": f"{name}: {value}", "evidence": "index.html#verdict", "evidence_audit": "audit.json", **where}


def metric_check(metric: str, model: str, method: str, status: str, value: float, title: str) -> dict:
    return check(f"{metric}.{model}.{method}", f"{method} beats its random baseline on {metric} ({title})", status,
                 value, 0.12, model=model, method=method, metric=metric)


#: Saved as an audit written before the short names would have them: full model names in every check name.
CHECKS = [
    metric_check("insertion", "ensemble", "gradcam", "pass", 0.30, ENSEMBLE_TITLE),
    metric_check("insertion", "yamnet", "occlusion", "pass", 0.40, "YAMNet"),
    check("comparison.ensemble.yamnet", f"{ENSEMBLE_TITLE} beats YAMNet", "pass"),
    check("calibration.vggish", "VGGish (untrained) is calibrated", "warn", model="vggish"),
    check("comparison.ensemble.vggish", f"{ENSEMBLE_TITLE} beats VGGish (untrained)", "fail"),
    check("shortcut.pad_silence.yamnet", "YAMNet ignores 1 s of silence", "skipped", model="yamnet", kind="edit"),
    check("shortcut.telephone.yamnet", "YAMNet ignores telephone band", "fail", model="yamnet", kind="edit"),
    check("untrained_backbones", "untrained backbones", "warn"),
    metric_check("deletion", "ensemble", "gradcam", "pass", 0.10, ENSEMBLE_TITLE),
    metric_check("deletion", "ensemble", "occlusion", "warn", 0.11, ENSEMBLE_TITLE),
    metric_check("deletion", "yamnet", "gradcam", "fail", 0.20, "YAMNet"),
    check("unusable_files", "files that could not be used", "pass"),
]


def model_report(info: ModelInfo, mean: float, std: float, folds: tuple[float, ...] = ()) -> ModelReport:
    return ModelReport(info=info, uar_mean=mean, uar_std=std, confusion_labels=LABELS, confusion=[], comparisons=[],
                       probing=[], method_means={}, uar_folds=list(folds))


def small_report() -> Report:
    models = {
        "ensemble": ModelInfo("ensemble", ENSEMBLE_TITLE, ["vggish"], LABELS),
        "yamnet": ModelInfo("yamnet", "YAMNet", [], LABELS),
        "vggish": ModelInfo("vggish", "VGGish (untrained)", ["vggish"], LABELS),
    }
    return Report(
        title="t", run_dir="", audit_dir=Path("."), models=models, methods=["gradcam", "occlusion"], clips=[],
        model_reports={"ensemble": model_report(models["ensemble"], 56.5, 6.1),
                       "yamnet": model_report(models["yamnet"], 55.0, 3.7, (50, 52, 54, 56, 58, 60)),
                       "vggish": model_report(models["vggish"], 44.7, 4.0)},
        failures=[], baselines={"egemaps": {"display_name": "eGeMAPS + LR", "uar_mean": 51.6, "uar_std": 5.6}},
        metrics={"deletion": {"name": "Deletion AUC", "higher_is_better": False, "control_name": "random orders"},
                 "insertion": {"name": "Insertion AUC", "higher_is_better": True}},
        checks=[dict(c) for c in CHECKS], sections={"folds": [{"index": i} for i in range(6)]},
    )


def test_counts_the_overall_status_and_the_worst_first_order():
    v = verdict(small_report())
    assert v.counts == {"fail": 3, "warn": 3, "skipped": 1, "pass": 5} and v.n_checks == len(CHECKS)
    assert list(v.counts) == ["fail", "warn", "skipped", "pass"] and v.overall == "fail"
    # rows: what is no family, worst first, saved order within a status
    assert [c["id"] for c in v.rows] == ["comparison.ensemble.vggish", "calibration.vggish", "untrained_backbones",
                                         "comparison.ensemble.yamnet", "unusable_files"]
    # every check once: as a row or as a matrix cell
    cells = [c["id"] for m in v.matrices for c in m.cells.values()]
    assert sorted(cells + [c["id"] for c in v.rows]) == sorted(c["id"] for c in CHECKS)
    assert [m.title for m in v.matrices] == ["Shortcut edits: share of labels an edit flips", "Deletion AUC",
                                             "Insertion AUC"]  # worst cell first, saved order within a status
    assert [m.status for m in v.matrices] == ["fail", "fail", "pass"]
    assert [f["id"] for f in v.failing] == ["verdict-shortcut-edit", "verdict-deletion",
                                            f"check-{slug('comparison.ensemble.vggish')}"]


def test_a_failing_matrix_comes_before_a_table_of_checks_that_only_warn():
    report = small_report()
    report.checks = [c for c in report.checks if not (c["status"] == "fail" and "model" not in c)]
    blocks = [(kind, [m.id for m in block] if kind == "matrices" else [c["status"] for c in block])
              for kind, block in verdict(report).blocks]
    assert blocks == [("matrices", ["verdict-shortcut-edit", "verdict-deletion"]),
                      ("rows", ["warn", "warn", "pass", "pass"]), ("matrices", ["verdict-insertion"])]
    assert [kind for kind, _ in verdict(small_report()).blocks] == ["rows", "matrices"]  # a failing row: rows first


def test_a_metric_family_is_one_method_by_model_matrix_under_short_names():
    deletion = next(m for m in verdict(small_report()).matrices if m.title == "Deletion AUC")
    assert deletion.rows == [("gradcam", "gradcam"), ("occlusion", "occlusion")]
    assert deletion.columns == [("ensemble", "Ensemble"), ("yamnet", "YAMNet")]  # report order, short names
    assert deletion.cells[("gradcam", "yamnet")]["value"] == 0.20 and ("occlusion", "yamnet") not in deletion.cells
    assert deletion.direction == "<" and deletion.control_name == "random orders"
    assert deletion.link == "index.html#metric-deletion"
    shortcuts = next(m for m in verdict(small_report()).matrices if m.id == "verdict-shortcut-edit")
    assert shortcuts.rows == [("pad_silence", "ignores 1 s of silence"), ("telephone", "ignores telephone band")]


def test_short_names_in_rows_and_the_legend_once():
    v = verdict(small_report())
    names = [c["name"] for c in v.rows]
    assert "Ensemble beats VGGish" in names and "Ensemble beats YAMNet" in names and "VGGish is calibrated" in names
    assert not any("(" in name for name in names)
    assert dict(v.legend) == {"Ensemble": ENSEMBLE_TITLE, "VGGish": "VGGish (untrained)"}
    assert [(u["short"], u["branches"], u["alone"]) for u in v.untrained] == [
        ("Ensemble", ["VGGish"], False), ("VGGish", ["VGGish"], True)]


def test_headline_uar_of_each_model_and_chance():
    v = verdict(small_report())
    assert v.chance == pytest.approx(1 / 8) and v.n_classes == 8 and v.n_folds == 6
    assert [(h.short, h.uar_mean, h.uar_std, h.untrained, h.baseline) for h in v.headlines] == [
        ("Ensemble", 56.5, 6.1, True, False), ("YAMNet", 55.0, 3.7, False, False), ("VGGish", 44.7, 4.0, True, False),
        ("eGeMAPS baseline", 51.6, 5.6, False, True)]
    # folds 50, 52, ..., 60: mean 55, SD sqrt(14), t(0.975, 5 df) = 2.5706, so 55 -/+ 2.5706 * sqrt(14 / 6)
    assert v.headlines[1].interval == pytest.approx((51.073, 58.927), abs=1e-3)
    assert [h.interval for h in v.headlines if h.short != "YAMNet"] == [None, None, None]  # no fold UARs saved


def test_without_an_untrained_model_there_is_no_banner(tmp_path, report):
    trained = {name: dataclasses.replace(info, untrained_branches=[]) for name, info in report.models.items()}
    page = build_report(dataclasses.replace(report, models=trained), tmp_path / "r").read_text(encoding="utf-8")
    assert 'id="verdict-summary"' in page and 'id="untrained-banner"' not in page


# --- in the browser -------------------------------------------------------------------------------------------------

SHOWN = [("fail", "files that could not be used"), ("pass", "Ensemble beats YAMNet"),
         ("warn", "Ensemble is calibrated"), ("skipped", "a skipped check"), ("fail", "Ensemble beats VGGish")]


@pytest.fixture(scope="module")
def verdict_page(report, tmp_path_factory) -> tuple[Path, list[dict]]:
    """The report fixture's index with its checks in a shuffled order and every status among the rows and the cells,
    plus 40 more passing cells, so the page is as long as a real verdict; the index page and its checks."""
    checks = [check(f"row.{i}", name, status) for i, (status, name) in enumerate(SHOWN)]
    checks += [c for c in report.checks if c.get("metric")]
    checks += [metric_check("filler", "yamnet", f"m{i}", "pass", 0.1, "YAMNet") for i in range(40)]
    out = tmp_path_factory.mktemp("verdict") / "report"
    return build_report(dataclasses.replace(report, checks=checks), out), checks


def open_at_1280x800(browser, url: str) -> None:
    """Load `url` in a viewport of exactly 1280 x 800 CSS pixels (the window's frame added)."""
    browser.set_window_size(1280, 800)
    inner = browser.execute_script("return [window.innerWidth, window.innerHeight]")
    browser.set_window_size(2 * 1280 - inner[0], 2 * 800 - inner[1])
    browser.get(url)
    assert browser.execute_script("return [window.innerWidth, window.innerHeight]") == [1280, 800]


READ_VERDICT_JS = """
var box = function (id) { var r = document.getElementById(id).getBoundingClientRect(); return [id, r.top, r.bottom, r.width]; };
return {
  boxes: ['verdict-summary', 'verdict-uar', 'untrained-banner'].map(box),
  counts: Array.from(document.querySelectorAll('#verdict-counts .count')).map(
    function (e) { return [e.dataset.status, parseInt(e.dataset.count, 10), e.textContent]; }),
  overall: document.querySelector('#audit-status .status').textContent,
  rows: Array.from(document.querySelectorAll('#checks-table tbody tr')).map(
    function (r) { return [r.className, r.cells[1].textContent]; }),
  matrices: Array.from(document.querySelectorAll('table.verdict-matrix')).map(function (t) { return t.dataset.status; }),
  ids: Array.from(document.querySelectorAll('#verdict [id^=check-]')).map(function (e) { return e.id; }),
  chance: document.getElementById('verdict-chance').textContent,
  banner: document.getElementById('untrained-banner').textContent,
  intervals: Array.from(document.querySelectorAll('#verdict-uar .uar-headline')).map(function (e) {
    var i = e.querySelector('.uar-interval'); return [e.dataset.model, i ? i.textContent : null]; }),
  widths: [document.documentElement.scrollWidth, document.documentElement.clientWidth,
           document.getElementById('clips-table').getBoundingClientRect().width]
};
"""


def test_summary_and_banner_above_the_fold_counts_and_order_in_the_browser(browser, verdict_page, report):
    page, checks = verdict_page
    size = browser.get_window_size()
    try:
        open_at_1280x800(browser, page.as_uri())
        shown = browser.execute_script(READ_VERDICT_JS)
    finally:
        browser.set_window_size(size["width"], size["height"])
    for name, top, bottom, width in shown["boxes"]:  # the summary line, UAR against chance and the banner
        assert 0 <= top < bottom <= 800 and width > 0, (name, top, bottom)
    expected = {s: sum(1 for c in checks if c["status"] == s) for s in STATUS_ORDER}
    assert [(s, n) for s, n, _ in shown["counts"]] == [(s, n) for s, n in expected.items() if n]
    assert all(text == f"{n} {s}" for s, n, text in shown["counts"])
    assert sum(n for _, n, _ in shown["counts"]) == len(checks) and shown["overall"].lower() == "fail"
    statuses = [cls.removeprefix("check-") for cls, _ in shown["rows"]]
    assert statuses == sorted(statuses, key=STATUS_ORDER.index) and set(statuses) >= {"fail", "warn", "pass"}
    assert [name for _, name in shown["rows"]][:2] == ["files that could not be used", "Ensemble beats VGGish"]
    assert shown["matrices"] == sorted(shown["matrices"], key=STATUS_ORDER.index) and len(shown["matrices"]) >= 2
    assert sorted(shown["ids"]) == sorted(f"check-{slug(c['id'])}" for c in checks)  # every check once, by its id
    assert shown["chance"] == "25.0 %"  # the fixture's four emotions
    assert "VGGish" in shown["banner"] and "seeded random weights" in shown["banner"]
    for model, text in shown["intervals"]:  # each model's 95 % interval over its folds, beside its mean and SD
        folds = (report.model_reports[model].uar_folds if model in report.model_reports
                 else report.baselines[model]["uar_folds"])
        assert text == "[{:.1f}, {:.1f}]".format(*t_interval(folds)), model
    assert len(shown["intervals"]) == len(report.model_reports) + len(report.baselines)
    page_width, viewport_width, clips_table_width = shown["widths"]
    assert clips_table_width > viewport_width  # the audited clips' table is wider than the screen...
    assert page_width == viewport_width  # ...and scrolls by itself: the page never scrolls sideways
