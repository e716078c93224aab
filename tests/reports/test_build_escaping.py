"""Labels and file names from a user's manifest are data: they come out escaped, never as markup or script."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from seraudit.preprocessing.corpora import read_manifest
from seraudit.reports.build import build_report
from seraudit.ensemble.run import Run
from seraudit.reports.loading import load_report
from seraudit.reports.run_reader import run_summary

HOSTILE_DIR = "<img src=x onerror=alert(1)>"
HOSTILE_FILE = "<script>alert('file')<script>&.flac"
HOSTILE_LABEL = '<script>alert("label")</script>'


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory, ravdess_dir, audit_writer, run_writer):
    """A manifest listing a clip stored under an HTML file name, explained by a model with an HTML class name.

    The run folder holds the same labels and paths, so every run-level section (corpus, metrics, recall,
    model card, failures) prints them too.
    """
    root = tmp_path_factory.mktemp("hostile")
    (root / HOSTILE_DIR).mkdir()
    shutil.copyfile(ravdess_dir / "Actor_01" / "03-01-03-01-01-01-01.flac", root / HOSTILE_DIR / HOSTILE_FILE)
    manifest = root / "manifest.csv"
    manifest.write_text(f'path,label,speaker\n"{HOSTILE_DIR}/{HOSTILE_FILE}",happy,"<b>spk</b>"\n', encoding="utf-8")
    table = read_manifest(manifest)
    labels = ["neutral", HOSTILE_LABEL, "sad", "angry"]
    clips = [(Path(table["path"][0]), HOSTILE_LABEL)]
    audit = audit_writer(root / "audit", clips, labels=labels)
    summary = run_summary(Run.open(run_writer(root / "run", clips, root, labels=labels)))
    out = build_report(load_report(summary, audit), root / "report")
    single = build_report(load_report(summary, audit), root / "single", self_contained=True)
    return out.parent, single


def test_html_in_labels_and_paths_is_escaped(hostile_report):
    folder, single = hostile_report
    pages = [*folder.glob("*.html"), single]
    assert len(pages) >= 3
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for raw in (HOSTILE_LABEL, HOSTILE_DIR, "<script>alert('file')"):
            assert raw not in text, f"{page.name} contains raw markup {raw!r}"
        # Only the report's own scripts may be <script> elements: the table sorting and the listening bench.
        own = ("<script>\n// Sort a table", "<script type=\"application/json\" class=\"bench-data\">",
               "<script>// The listening bench", "<script src=\"assets/bench/")
        assert text.count("<script") == sum(text.count(s) for s in own)
        assert text.count("<script src=") == text.count("<script src=\"assets/bench/")
    clip_page = next(folder.glob("clip-*.html")).read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(&#34;label&#34;)&lt;/script&gt;" in clip_page
    assert "&lt;img src=x onerror=alert(1)&gt;" in clip_page
    assert "&lt;script&gt;alert(&#39;file&#39;)&lt;script&gt;&amp;.flac" in clip_page
    index = (folder / "index.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(&#34;label&#34;)&lt;/script&gt;" in index  # corpus, recall and clip tables


def test_escaped_names_show_as_text_in_a_browser(browser, hostile_report):
    folder, _ = hostile_report
    browser.get(next(folder.glob("clip-*.html")).as_uri())
    text = browser.find_element("tag name", "body").text
    assert HOSTILE_LABEL in text and HOSTILE_FILE in text  # shown literally, not run: no alert was raised
    assert browser.find_elements("css selector", "img[src=x]") == []
