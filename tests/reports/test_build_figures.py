"""Every page prints a figure one way (p-values, UAR, probabilities, names, the untrained badge) and says how it was made.

The provenance names the software (version, commit), the dates, the clip list's SHA-256 and
count, the audit's settings and where the main job's time went; the clip pages and the clip
table show each clip's speech fraction.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

import markupsafe
import pandas as pd
import pytest

from seraudit.core import provenance
from seraudit.core.timing import Timings
from seraudit.reports.build import write_report
from seraudit.reports.display import BASELINE_TITLE, badged, model_title
from seraudit.reports.model import ModelInfo
from seraudit.xai.audit.checks import comparison_checks


def _text(page: str) -> str:
    """What a person reads: the page without its tags, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def _section(page: str, section_id: str) -> str:
    start = page.index(f'<section id="{section_id}">')
    return page[start:page.index("</section>", start)]


# ------------------------------------------------------------------ names and the badge
def test_the_untrained_tag_is_shown_once_inside_a_name_that_says_it():
    shown = badged("VGGish (untrained)", True)
    assert shown == markupsafe.Markup('VGGish (<span class="tag-untrained">untrained</span>)')
    assert _text(shown).count("untrained") == 1
    assert _text(badged("Ensemble (late fusion; VGGish untrained)", True)) == "Ensemble (late fusion; VGGish untrained )"
    assert badged("Net B", True) == markupsafe.Markup('Net B <span class="tag-untrained">untrained</span>')  # added once
    assert badged("<b>YAMNet</b>", False) == markupsafe.Markup("&lt;b&gt;YAMNet&lt;/b&gt;")  # a name is data


def test_raw_keys_get_their_display_names_and_a_model_the_report_holds_keeps_its_title():
    models = {"vggish": ModelInfo("vggish", "VGGish (untrained)", ["vggish"])}
    assert model_title("egemaps") == BASELINE_TITLE == "eGeMAPS baseline"
    assert model_title("yamnet") == "YAMNet" and model_title("vggish") == "VGGish"
    assert model_title("vggish", models) == "VGGish (untrained)"
    assert model_title("something", fallback="Something") == "Something" and model_title("x") == "x"


def test_the_comparison_check_in_audit_json_prints_p_the_pages_way_and_keeps_its_numbers():
    results = {"comparisons": [{"a": "ensemble", "b": "vggish", "uar_difference": 11.848958333, "ci_low": 8.98,
                                "ci_high": 15.04, "p_value": 9.47e-21},
                               {"a": "ensemble", "b": "yamnet", "uar_difference": 0.716, "ci_low": -1.04,
                                "ci_high": 2.60, "p_value": 0.7594}]}
    vggish, yamnet = comparison_checks({}, results)
    assert vggish["figure"].startswith("+11.8 UAR points [+9.0, +15.0], McNemar p < 0.001;")
    assert yamnet["figure"].startswith("+0.7 UAR points [-1.0, +2.6], McNemar p = 0.759;")
    assert vggish["value"] == 11.848958333 and vggish["interval"] == [8.98, 15.04]  # stored unrounded


# ------------------------------------------------------------------ the built pages
def test_no_page_prints_a_p_value_as_zero_or_in_exponent_form_nor_a_doubled_badge(report_dir):
    pages = sorted(report_dir.glob("*.html"))
    assert len(pages) > 3
    for page in pages:
        text = _text(page.read_text(encoding="utf-8"))
        assert "0.0000" not in text, page.name
        assert not re.search(r"\bp\s*[=<]\s*-?\d+(\.\d+)?e-?\d+", text), page.name  # "p = 1.51e-11"
        assert not re.search(r"\buntrained\W+untrained\b", text), f"{page.name}: a doubled untrained tag"
    index = (report_dir / "index.html").read_text(encoding="utf-8")
    cells = re.findall(r'<td class="num">([^<]*)</td><td>[^<]*\(interval', _section(index, "comparisons"))
    assert cells and all(re.fullmatch(r"< 0\.001|0\.\d{3}|1\.000", html.unescape(c)) for c in cells), cells


def test_uar_has_one_decimal_and_the_baseline_its_display_name_on_the_index(report_dir, report):
    index = (report_dir / "index.html").read_text(encoding="utf-8")
    models = _text(index[index.index('<table id="models-table">'):].split("</table>")[0])
    mr = report.model_reports["ensemble"]
    assert f"{mr.uar_mean:.1f} ± {mr.uar_std:.1f}" in models
    assert "eGeMAPS baseline" in models and "egemaps" not in models
    assert not re.search(r"\d+\.\d{2,} ±", models)  # never 3 decimals for a UAR


def test_each_clip_shows_its_speech_fraction(report_dir, report):
    index = (report_dir / "index.html").read_text(encoding="utf-8")
    assert "<th class=\"sortable\">Speech</th>" in index
    for clip in report.clips:
        assert clip.speech_fraction is not None
        shown = f"{100 * clip.speech_fraction:.0f} %"
        page = (report_dir / f"clip-{clip.clip_id}.html").read_text(encoding="utf-8")
        assert f"Speech: {shown} of the clip" in _text(page)
        row = index[index.index(f'href="clip-{clip.clip_id}.html"'):].split("</tr>")[0]
        assert f'<td class="num speech-fraction" data-sort="{clip.speech_fraction:.4f}">{shown}</td>' in row


# ------------------------------------------------------------------ provenance
@pytest.fixture(scope="module")
def timed_report(run_dir, audit_dir, tmp_path_factory) -> tuple[Path, Path]:
    """A report of a copy of the run fixture with the main job's timings.json (three phases, two parts)."""
    run = Path(shutil.copytree(run_dir, tmp_path_factory.mktemp("timed") / "run"))
    timings = Timings()
    timings.add("training", 375.7, [("layer features + eGeMAPS", 246.1), ("cross-validation", 57.8)])
    timings.add("audit", 479.3)
    timings.add("report", 12.3, note="reused")
    saved = timings.to_dict() | {"total_seconds": 867.3}  # as a job of that length writes it
    (run / "timings.json").write_text(json.dumps(saved), encoding="utf-8")
    index = write_report(run, audit_dir, tmp_path_factory.mktemp("timed-report") / "r")
    return run, index


def test_the_provenance_names_the_software_and_the_dates(timed_report):
    _, index = timed_report
    section = _section(index.read_text(encoding="utf-8"), "provenance")
    software = provenance.software()
    rows = _text(section[section.index('id="provenance-software"'):].split("</table>")[0])
    report_row = rows[rows.index("This report"):]
    assert report_row.startswith(f"This report {software['seraudit']} {software['commit']}")
    assert re.search(r"Run \(training\) not recorded \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(file time\)", rows)
    assert re.search(rf"Audit {re.escape(software['seraudit'])} {software['commit']}( with local changes)? \d{{4}}-\d\d-\d\dT", rows)


def test_the_provenance_gives_the_clip_lists_hash_and_count(timed_report):
    run, index = timed_report
    section = _section(index.read_text(encoding="utf-8"), "provenance")
    predictions = pd.read_csv(run / "predictions.csv", dtype=str).drop_duplicates("path")
    root = json.loads((run / "run.json").read_text(encoding="utf-8"))["data"]
    lines = sorted(f"{Path(p).relative_to(root).as_posix()}\t{label}" for p, label in zip(predictions["path"], predictions["label"]))
    expected = __import__("hashlib").sha256("\n".join(lines).encode()).hexdigest()
    assert f'<code class="hash" id="clip-list-sha256">{expected}</code>' in section
    assert f"<strong>{len(lines)}</strong> clips trained and tested on" in section
    assert "1 file(s) were left out" in _text(section)  # the run fixture's failures.csv


def test_the_provenance_lists_the_audit_settings_and_the_timings(timed_report, audit_dir):
    _, index = timed_report
    section = _section(index.read_text(encoding="utf-8"), "provenance")
    settings = json.loads((audit_dir / "audit.json").read_text(encoding="utf-8"))["settings"]
    table = _text(section[section.index('id="provenance-settings"'):].split("</table>")[0])
    assert "Methods gradcam, occlusion" in table
    assert f"Faithfulness steps {settings['faithfulness_steps']}" in table
    assert f"Random orders per map (faithfulness control) {settings['faithfulness_random']}" in table
    assert "Block removed at once (frames × mel bands) 16 × 16" in table
    assert "LIME samples per map — (LIME not run)" in table and "Sanity cascade not run" in table
    timings = _text(section[section.index('id="provenance-timings"'):].split("</table>")[0])
    assert "training 375.7 43 %" in timings and "cross-validation 57.8 7 %" in timings
    assert "report (reused) 12.3" in timings and "Total" in timings


def test_the_audit_settings_read_lime_and_the_sanity_cascade_the_audit_saved(audit_dir):
    from seraudit.reports.audit_sections import audit_provenance

    index = json.loads((audit_dir / "audit.json").read_text(encoding="utf-8"))
    index["settings"]["explainer_params"] = {"lime": {"num_samples": 150}}
    index["sanity"] = {"clips": ["a", "b"], "stages": [{"stage": 0, "stage_name": "head"},
                                                      {"stage": 2, "stage_name": "head + top 2 blocks"}]}
    index["created"] = "2026-12-04T19:42:16Z"
    for key in ("sanity_clips", "sanity_blocks"):  # an audit from before they were recorded: read from the cascade
        index["settings"].pop(key, None)
    shown = audit_provenance(index, audit_dir)
    assert shown["settings"]["lime_samples"] == 150
    assert (shown["settings"]["sanity_clips"], shown["settings"]["sanity_blocks"]) == (2, 2)
    index["settings"].update(sanity_clips=8, sanity_blocks=1)  # recorded: taken as written
    recorded = audit_provenance(index, audit_dir)["settings"]
    assert (recorded["sanity_clips"], recorded["sanity_blocks"]) == (8, 1)
    assert shown["settings"]["sanity_deepest"] == "head + top 2 blocks"
    assert (shown["date"], shown["date_source"]) == ("2026-12-04T19:42:16Z", "recorded")
