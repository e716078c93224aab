"""A model page shows what only it can: the UAR of each test fold as the run saved it, the late-fusion weights per fold
and final, the mean deletion/insertion curves over the audited clips, and the clips audited with the model, linked;
the confusion matrices and the index's tables stay on the index."""

from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from seraudit.core.naming import slug
from seraudit.ensemble.run import Run
from seraudit.reports import model_page
from seraudit.reports.build import build_report, write_report
from seraudit.reports.loading import load_report


class Tables(HTMLParser):
    """Each table of a page by id: its body rows (and footer rows), each cell's text and links; and every element id."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, dict[str, list]] = {}
        self.ids: set[str] = set()
        self._table: str | None = None
        self._part = "body"
        self._row: list | None = None
        self._cell: dict | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "table" and attrs.get("id"):
            self._table = attrs["id"]
            self.tables[self._table] = {"body": [], "foot": []}
        elif self._table and tag in ("thead", "tbody", "tfoot"):
            self._part = {"thead": "head", "tbody": "body", "tfoot": "foot"}[tag]
        elif self._table and tag == "tr":
            self._row = []
        elif self._row is not None and tag in ("td", "th"):
            self._cell = {"text": "", "links": []}
        elif self._cell is not None and tag == "a":
            self._cell["links"].append(attrs.get("href"))

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._cell["text"] = " ".join(self._cell["text"].split())
            self._row.append(self._cell)
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._part in ("body", "foot"):
                self.tables[self._table][self._part].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None


def _tables(path: Path) -> Tables:
    parser = Tables()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def _texts(row: list[dict]) -> list[str]:
    return [cell["text"] for cell in row]


# ------------------------------------------------------------------ UAR fold by fold
def test_the_fold_table_is_each_folds_saved_uar_with_its_test_speakers_and_clips(run_dir, audit_dir, tmp_path):
    index = write_report(run_dir, audit_dir, tmp_path / "r")
    results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    plan = {f["index"]: f for f in json.loads((run_dir / "folds.json").read_text(encoding="utf-8"))["folds"]}
    predictions = pd.read_csv(run_dir / "predictions.csv")
    for name in ("ensemble", "yamnet", "vggish"):
        table = _tables(index.parent / f"model-{slug(name)}.html").tables[f"fold-uar-{slug(name)}"]
        saved = results["models"][name]["uar"]["folds"]
        own = predictions[predictions["model"] == name]
        expected = [[str(fold), ", ".join(plan[fold]["test_speakers"]), f"{uar:.1f}", "4 of 4",
                     str(int((own["fold"] == fold).sum()))] for fold, uar in zip((0, 1), saved)]
        assert [_texts(r) for r in table["body"]] == expected, name
        low, high = stats.t.interval(0.95, len(saved) - 1, loc=np.mean(saved), scale=stats.sem(saved))
        assert _texts(table["foot"][0]) == ["mean over 2 folds", f"{np.mean(saved):.1f}",
                                            f"95 % interval [{low:.1f}, {high:.1f}]"], name
    # the conftest run: fold 0 tests speakers 1 and 2 (3 audited clips + 8 synthetic), fold 1 speakers 3 and 4 (16)
    assert [r[4] for r in expected] == ["11", "16"]


def test_a_fold_lacking_an_emotion_says_which(run_dir, audit_dir, tmp_path):
    run = Path(shutil.copytree(run_dir, tmp_path / "run"))
    predictions = pd.read_csv(run / "predictions.csv")
    predictions = predictions[~((predictions["fold"] == 1) & (predictions["label"] == "sad"))]
    predictions.to_csv(run / "predictions.csv", index=False)
    figures = model_page.fold_figures(Run.open(run))
    rows = figures["ensemble"]["rows"]
    assert [(r["fold"], r["n_emotions"], r["missing"]) for r in rows] == [(0, 4, []), (1, 3, ["sad"])]


def test_without_its_run_folder_a_model_page_gives_the_mean_uar_and_no_fold_table(summary_report, tmp_path):
    page = (build_report(summary_report, tmp_path / "r").parent / "model-ensemble.html").read_text(encoding="utf-8")
    assert "UAR 41.5 ± 3.2 (mean ± std over folds)" in page and 'id="fold-uar-' not in page


# ------------------------------------------------------------------ late-fusion weights
def test_the_ensemble_page_shows_the_fusion_weights_of_each_fold_and_of_the_final_model(run_dir, audit_dir, tmp_path):
    run = Path(shutil.copytree(run_dir, tmp_path / "run"))
    info = json.loads((run / "run.json").read_text(encoding="utf-8"))
    info["cv_histories"] = [{"fold": 0, "late_fusion_weights": [0.625, 0.375]},
                            {"fold": 1, "late_fusion_weights": [0.875, 0.125]}]
    (run / "run.json").write_text(json.dumps(info), encoding="utf-8")
    (run / "models" / "ensemble").mkdir(parents=True, exist_ok=True)
    (run / "models" / "ensemble" / "config.json").write_text(
        json.dumps({"late_fusion_weights": {"yamnet": 0.5625, "vggish": 0.4375}}), encoding="utf-8")
    (run / "models" / "ensemble" / "model.weights.h5").write_bytes(b"")  # the final model is saved (never loaded here)
    page = (write_report(run, audit_dir, tmp_path / "r").parent / "model-ensemble.html").read_text(encoding="utf-8")
    fusion = page.split('id="fusion-weights"', 1)[1].split("</table>", 1)[0]
    rows = {row.split("</th>", 1)[0].rsplit(">", 1)[1]: row for row in fusion.split("<tr>")[2:]}
    tag = ' <span class="tag-untrained">untrained</span>'
    assert '<td class="num">0.62</td><td class="num">0.38' + tag in rows["fold 0"]
    assert '<td class="num">0.88</td><td class="num">0.12' + tag in rows["fold 1"]
    assert '<td class="num">0.56</td><td class="num">0.44' + tag in rows["final model"]
    header = fusion.split("<thead>", 1)[1].split("</tr>", 1)[0]
    assert header.index("YAMNet") < header.index("VGGish (untrained)")  # the branch order the weights are stored in
    assert "VGGish (untrained): a backbone with random weights" in page


# ------------------------------------------------------------------ mean deletion/insertion curves
def _set_curves(audit: Path, model: str, method: str, curves_of) -> dict[str, dict]:
    """Give each clip's `model` x `method` the curves `curves_of(i)` (i: the clip's place in audit.json)."""
    entries = json.loads((audit / "audit.json").read_text(encoding="utf-8"))["clips"]
    written = {}
    for i, entry in enumerate(entries):
        path = audit / entry["dir"] / "clip.json"
        record = json.loads(path.read_text(encoding="utf-8"))
        record["methods"][model][method]["curves"] = written[record["id"]] = curves_of(i)
        path.write_text(json.dumps(record), encoding="utf-8")
    return written


def test_the_mean_curve_is_the_mean_of_the_clips_curves_with_a_t_interval_band(audit_dir, tmp_path):
    audit = Path(shutil.copytree(audit_dir, tmp_path / "audit"))
    written = _set_curves(audit, "ensemble", "gradcam", lambda i: {
        "fractions": [0.0, 0.5, 1.0], "deletion": [0.9, 0.3 + 0.1 * i, 0.1 * i], "insertion": [0.1, 0.4 * i, 0.8],
        "random_deletion": [0.9, 0.6, 0.2], "random_insertion": [0.1, 0.2 + 0.05 * i, 0.8]})
    report = load_report(None, audit)
    curves = model_page.model_curves(report, "ensemble")
    assert list(curves) == ["gradcam", "occlusion"]  # the audit's method order
    gradcam = curves["gradcam"]
    assert gradcam["n_clips"] == 3 and gradcam["fractions"] == [0.0, 0.5, 1.0]
    deletion = gradcam["curves"]["deletion"]
    # three clips: 0.3, 0.4, 0.5 at half removed; 0, 0.1, 0.2 at all removed
    np.testing.assert_allclose(deletion["mean"], [0.9, 0.4, 0.1])
    half = stats.t.ppf(0.975, 2) * 0.1 / np.sqrt(3)  # sample std of (0.3, 0.4, 0.5) is 0.1
    np.testing.assert_allclose(deletion["low"], [0.9, 0.4 - half, 0.1 - half])
    np.testing.assert_allclose(deletion["high"], [0.9, 0.4 + half, 0.1 + half])
    for key in ("insertion", "random_deletion", "random_insertion"):
        np.testing.assert_allclose(gradcam["curves"][key]["mean"],
                                   np.mean([c[key] for c in written.values()], axis=0), err_msg=key)
    # the conftest audit's own curves are the same on every clip: their mean is that curve, with no spread
    occlusion = curves["occlusion"]["curves"]
    assert occlusion["deletion"]["mean"] == pytest.approx([0.6, 0.2, 0.1])
    assert occlusion["random_insertion"]["mean"] == pytest.approx([0.1, 0.3, 0.6])
    assert occlusion["insertion"]["low"] == pytest.approx(occlusion["insertion"]["high"])


def test_clips_saved_on_other_fraction_grids_are_averaged_on_the_finest_grid():
    mean = model_page.mean_curves([{"fractions": [0.0, 1.0], "deletion": [1.0, 0.0]},
                                   {"fractions": [0.0, 0.5, 1.0], "deletion": [1.0, 1.0, 0.0]}])
    assert mean["fractions"] == [0.0, 0.5, 1.0]
    np.testing.assert_allclose(mean["curves"]["deletion"]["mean"], [1.0, 0.75, 0.0])  # (0.5 + 1.0) / 2 halfway
    assert set(mean["curves"]) == {"deletion"} and model_page.mean_curves([]) is None


def test_the_model_page_draws_one_panel_per_method_with_the_random_order_controls(report_dir):
    page = (report_dir / "model-ensemble.html").read_text(encoding="utf-8")
    section = page.split('<h2 id="faithfulness-ensemble">', 1)[1].split("<h2 ", 1)[0]
    svg = section.split("<svg", 1)[1].split("</svg>", 1)[0]
    for text in ("gradcam (n = 3 clips)", "occlusion (n = 3 clips)", "deletion, random order (control)",
                 "insertion, random order (control)", "p(target class)"):
        assert text in svg, text
    assert "blocks of 160 ms &times; 16 mel bands" in section  # the audit's faithfulness unit


# ------------------------------------------------------------------ the clips audited with the model
@pytest.mark.parametrize("model", ["ensemble", "yamnet"])
def test_every_clip_audited_with_the_model_is_listed_and_links_to_its_page(report_dir, report, model):
    table = _tables(report_dir / f"model-{model}.html").tables[f"model-clips-{model}"]
    assert len(table["body"]) == len(report.clips)
    for row, clip in zip(table["body"], report.clips):
        name, speaker, source, true, predicted, _ = row
        assert name["text"] == clip.name and len(name["links"]) == 1
        target = report_dir / name["links"][0]
        assert target.is_file() and f"<h1>Clip {clip.name}</h1>" in target.read_text(encoding="utf-8")
        assert (speaker["text"], source["text"], true["text"]) == ("speaker_1", "held-out (fold 0)", clip.true_label)
        p = clip.predictions[model]
        assert predicted["text"] == f"{p.label} ({p.confidence:.2f})"


def test_in_one_file_the_clip_links_reach_the_clip_sections(report, tmp_path):
    index = build_report(report, tmp_path / "single", self_contained=True)
    page = _tables(index)
    links = [row[0]["links"][0] for row in page.tables["model-clips-ensemble"]["body"]]
    assert len(links) == len(report.clips) and all(link.startswith("#") and link[1:] in page.ids for link in links)


# ------------------------------------------------------------------ no repeats of the index
def test_model_pages_leave_the_confusion_matrices_and_the_index_tables_to_the_index(report_dir):
    index = _tables(report_dir / "index.html")
    for page in sorted(report_dir.glob("model-*.html")):
        text = page.read_text(encoding="utf-8")
        assert '<table class="confusion">' not in text and "confusion matrix" not in text.split("On the index", 1)[0], page.name
        assert "McNemar p</th>" not in text and "macro-F1 (mean over folds)" not in text, page.name
        assert "<h3>Deletion AUC</h3>" not in text, page.name  # the metric tables are the index's
        links = text.split('id="on-the-index"', 1)[1]
        anchors = [a.split('"', 1)[0] for a in links.split('href="index.html#')[1:]]
        assert "confusion" in anchors and all(a in index.ids for a in anchors), (page.name, anchors)


# ------------------------------------------------------------------ in a browser
BOXES_JS = """
const figure = document.querySelector('figure.curves');
const box = e => { const r = e.getBoundingClientRect(); return {left: r.left, right: r.right, top: r.top, bottom: r.bottom}; };
return {figure: box(figure.querySelector('svg')),
        axes: Array.from(figure.querySelectorAll('svg g[id^="axes_"]')).map(box),
        legends: Array.from(figure.querySelectorAll('svg g[id^="legend_"]')).map(box)};
"""


def test_the_curves_legend_sits_outside_every_panel_in_a_browser(browser, report_dir):
    browser.set_window_size(1280, 900)
    browser.get((report_dir / "model-ensemble.html").as_uri())
    boxes = browser.execute_script(BOXES_JS)
    assert boxes["figure"]["right"] - boxes["figure"]["left"] > 400  # drawn at a readable width
    assert len(boxes["axes"]) == 2 and len(boxes["legends"]) == 1  # gradcam and occlusion, one legend
    legend = boxes["legends"][0]
    for ax in boxes["axes"]:
        overlap = not (legend["right"] <= ax["left"] or ax["right"] <= legend["left"]
                       or legend["bottom"] <= ax["top"] or ax["bottom"] <= legend["top"])
        assert not overlap, (legend, ax)
