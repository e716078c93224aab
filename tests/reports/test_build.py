"""The report folder as a person receives it: relative links only, nothing from the network, zips cleanly, "untrained" everywhere."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from html.parser import HTMLParser
from pathlib import Path

from seraudit.reports.build import build_report


class Links(HTMLParser):
    """Every src/href of a page, and the text of its headings and table headers."""

    def __init__(self):
        super().__init__()
        self.refs: list[str] = []
        self.headings: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag, attrs):
        self.refs += [v for k, v in attrs if k in ("src", "href") and v is not None]
        if tag in ("h1", "h2", "h3", "th"):
            self._in, self._text = tag, ""

    def handle_data(self, data):
        if self._in:
            self._text += data

    def handle_endtag(self, tag):
        if tag == self._in:
            self.headings.append(" ".join(self._text.split()))
            self._in = None


def parse(path: Path) -> Links:
    links = Links()
    links.feed(path.read_text(encoding="utf-8"))
    return links


def test_report_has_an_index_a_page_per_clip_and_per_model(report_dir, report_clips):
    pages = sorted(p.name for p in report_dir.glob("*.html"))
    assert "index.html" in pages
    assert len([p for p in pages if p.startswith("clip-")]) == len(report_clips)
    assert sorted(p for p in pages if p.startswith("model-")) == ["model-ensemble.html", "model-vggish.html", "model-yamnet.html"]


def test_every_reference_is_relative_and_resolves_inside_the_folder(report_dir):
    for page in report_dir.glob("*.html"):
        for ref in parse(page).refs:
            if ref.startswith(("#", "data:")):
                continue
            assert not re.match(r"^[a-z]+:|^//|^/", ref), f"{page.name}: {ref} is not a relative link"
            assert (report_dir / ref.split("#")[0]).is_file(), f"{page.name}: {ref} does not exist in the report folder"


def test_report_survives_being_zipped(report_dir, tmp_path):
    archive = tmp_path / "report.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for file in report_dir.rglob("*"):
            zf.write(file, file.relative_to(report_dir.parent))
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(tmp_path / "unzipped")
    moved = tmp_path / "unzipped" / report_dir.name
    for page in moved.glob("*.html"):
        for ref in parse(page).refs:
            if not ref.startswith(("#", "data:")):
                assert (moved / ref.split("#")[0]).is_file(), f"{page.name}: {ref} missing after unzipping"


def _without_verdict(text: str) -> str:
    """A page without its verdict section (its matrices use short model names under the untrained banner)."""
    if '<section id="verdict">' not in text:
        return text
    before, after = text.split('<section id="verdict">', 1)
    return before + after.split("</section>", 1)[1]


def test_untrained_branch_is_named_in_every_heading_and_table(report_dir):
    for page in report_dir.glob("*.html"):
        text = page.read_text(encoding="utf-8")
        links = Links()
        links.feed(_without_verdict(text))
        for heading in links.headings:
            if heading.startswith("Ensemble") or heading.startswith("Model Ensemble"):
                assert "untrained" in heading, f"{page.name}: heading {heading!r} hides the untrained branch"
        assert "Ensemble (late fusion)" not in text
    index = (report_dir / "index.html").read_text(encoding="utf-8")
    assert any("Ensemble" in h and "untrained" in h for h in parse(report_dir / "index.html").headings)
    banner = index.split('<div id="untrained-banner"', 1)[1].split("</div>", 1)[0]  # the verdict's short names' key
    assert "Ensemble (late fusion; VGGish untrained)" in " ".join(re.sub(r"<[^>]+>", "", banner).split())


def test_clip_page_shows_each_model_probabilities_side_by_side(report_dir, report):
    clip = report.clips[0]
    page = (report_dir / f"clip-{clip.clip_id}.html").read_text(encoding="utf-8")
    table = page.split('<table class="predictions">')[1].split("</table>")[0]
    assert "Ensemble (late fusion; VGGish untrained)" in table and "YAMNet" in table
    for label, p in clip.predictions["ensemble"].probabilities.items():
        assert f"{p:.2f}" in table  # a probability: two decimals
    assert page.count("<audio controls") == 1 + 3 * 4  # original + excerpt/listened/ignored per model x method
    assert "F0semitoneFrom27.5Hz_sma3nz_amean" in page  # eGeMAPS deviation table


def test_the_index_shows_the_comparison_and_confusion_matrix_of_the_run_summary(summary_report, tmp_path):
    """The model pages leave both to the index: the difference, its interval and McNemar p the summary gives."""
    build_report(summary_report, tmp_path / "r")
    index = (tmp_path / "r" / "index.html").read_text(encoding="utf-8")
    row = index.split('<section id="comparisons">', 1)[1].split("</tr>", 2)[1]
    assert '<td class="num">+3.5</td><td class="num">[-1.0, +8.0]</td><td class="num">0.210</td>' in row
    assert 'alt="confusion matrix, Ensemble (late fusion; VGGish untrained)"' in index


def test_faithfulness_says_its_unit_and_how_often_maps_beat_random(report_dir):
    page = (report_dir / "model-ensemble.html").read_text(encoding="utf-8")
    assert "blocks of 160 ms &times; 16 mel bands" in page  # the audit's faithfulness unit
    deletion = (report_dir / "index.html").read_text(encoding="utf-8").split('<section id="metric-deletion">', 1)[1]
    row = deletion[deletion.index("<td>gradcam</td>"):].split("</tr>")[0]
    assert "100 %" in row  # every clip's deletion AUC (0.2) beat its random baseline (0.4)


def test_nothing_is_fetched_from_the_network(report_dir):
    for file in [*report_dir.glob("*.html"), report_dir / "style.css"]:
        text = file.read_text(encoding="utf-8")
        assert not re.search(r"https?://|@import|url\(\s*['\"]?//", text), f"{file.name} references the network"


def test_self_contained_report_has_no_relative_references(report, tmp_path):
    index = build_report(report, tmp_path / "single", self_contained=True)
    refs = parse(index).refs
    assert refs and all(r.startswith(("#", "data:")) for r in refs), [r for r in refs if not r.startswith(("#", "data:"))]
    assert any(r.startswith("data:audio/wav;base64,") for r in refs)
    assert any(r.startswith("data:image/png;base64,") for r in refs)


def test_building_a_report_never_loads_a_model(audit_dir, tmp_path):
    code = (
        "import sys; from seraudit.reports.loading import load_report; from seraudit.reports.build import build_report; "
        f"build_report(load_report(None, {str(audit_dir)!r}), {str(tmp_path / 'r')!r}); "
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_numbers_read_as_a_person_expects():
    from seraudit.core.display import interval, percent, value

    assert value(8) == "8"  # a count of dimensions, not 8.000
    assert value(0.5) == "0.500" and value(float("nan")) == "—" and value(None) == "—"
    assert percent(0.74) == "74 %" and percent(None) == "—"
    assert interval([-0.004, 0.067]) == "[-0.004, +0.067]" and interval(None) == "—"


def test_an_audit_from_before_patch_records_still_shows_the_waveform_and_patches(audit_dir, tmp_path):
    import json
    import shutil

    from seraudit.reports.loading import load_report

    old = tmp_path / "old-audit"
    shutil.copytree(audit_dir, old)
    record_path = next(old.glob("clips/*/clip.json"))
    record = json.loads(record_path.read_text())
    saved = record.pop("patches")
    record_path.write_text(json.dumps(record))
    build_report(load_report(None, old), tmp_path / "r")
    page = (tmp_path / "r" / f"clip-{record['id']}.html").read_text(encoding="utf-8")
    section = page.split('<section id="waveform">')[1].split("</section>")[0]
    assert "recomputed from the saved audio" in section and 'alt="waveform and log-mel' in section
    assert section.count("<tr><td class=\"num\">") == len(saved["start_s"])  # the same patches as the audit cut
