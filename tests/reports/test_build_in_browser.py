"""A person opens the report in a browser: every picture shows, every sound plays, every link works, no console errors."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path

import pytest

from seraudit.reports.build import build_report

AUDIO_STATE_JS = """
const done = arguments[arguments.length - 1];
const players = Array.from(document.querySelectorAll('audio'));
const wait = players.map(a => new Promise(resolve => {
  const report = () => resolve({src: a.currentSrc.slice(0, 80), canPlay: a.canPlayType('audio/wav'),
                                readyState: a.readyState, error: a.error ? a.error.code : null,
                                duration: a.duration});
  if (a.readyState >= 1 || a.error) { report(); return; }
  a.addEventListener('loadedmetadata', report, {once: true});
  a.addEventListener('error', report, {once: true});
  a.load();
  setTimeout(report, 5000);
}));
Promise.all(wait).then(done);
"""

IMAGES_JS = """
const done = arguments[arguments.length - 1];
const images = Array.from(document.images);
Promise.all(images.map(img => img.complete ? Promise.resolve() :
  new Promise(r => { img.addEventListener('load', r, {once: true}); img.addEventListener('error', r, {once: true}); })))
  .then(() => done(images.map(img => ({src: img.getAttribute('src').slice(0, 80), width: img.naturalWidth}))));
"""

LINKS_JS = """
const done = arguments[arguments.length - 1];
const links = Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href'));
Promise.all(links.map(href => href.startsWith('#')
    ? Promise.resolve({href, status: document.getElementById(href.slice(1)) ? 200 : 404})
    : fetch(href).then(r => ({href, status: r.status})).catch(e => ({href, status: String(e)}))))
  .then(done);
"""


@pytest.fixture(scope="module")
def served_report(report_dir):
    """The report folder served over http://127.0.0.1 (as a person would after unzipping it)."""
    handler = functools.partial(QuietHandler, directory=str(report_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output readable
        pass


def check_page(browser, url: str) -> dict:
    """Load `url` and return what a person would notice is broken on it."""
    browser.get_log("browser")  # drop messages of earlier pages
    browser.get(url)
    browser.set_script_timeout(20)
    images = browser.execute_async_script(IMAGES_JS)
    players = browser.execute_async_script(AUDIO_STATE_JS)
    links = browser.execute_async_script(LINKS_JS)
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    return {
        "broken_images": [i for i in images if i["width"] == 0],
        "n_images": len(images),
        "unplayable": [p for p in players if not p["canPlay"] or p["error"] is not None or p["readyState"] < 1],
        "n_players": len(players),
        "bad_links": [link for link in links if link["status"] != 200],
        "links": [link["href"] for link in links],
        "console_errors": errors,
    }


def save_screenshot(browser, tmp_path_factory, name: str) -> Path:
    """Screenshot into this run's tmp dir, with the latest copy kept at a stable path beside the runs."""
    shot = tmp_path_factory.mktemp("screenshots") / name
    browser.save_screenshot(str(shot))
    latest = tmp_path_factory.getbasetemp().parent / f"seraudit-latest-{name}"
    shutil.copyfile(shot, latest)
    print(f"\nscreenshot: {shot}\nlatest screenshot: {latest}")
    return latest


def test_every_page_of_the_report_works_in_a_browser(browser, served_report, report_dir, tmp_path_factory):
    index = check_page(browser, f"{served_report}/index.html")
    save_screenshot(browser, tmp_path_factory, "report-index.png")
    pages = sorted({link for link in index["links"] if link.endswith(".html") and link != "index.html"})
    assert any(p.startswith("clip-") for p in pages) and any(p.startswith("model-") for p in pages)
    results = {"index.html": index} | {page: check_page(browser, f"{served_report}/{page}") for page in pages}
    clip_page = next(p for p in pages if p.startswith("clip-"))
    check_page(browser, f"{served_report}/{clip_page}")
    save_screenshot(browser, tmp_path_factory, "report-clip.png")

    for page, result in results.items():
        assert result["broken_images"] == [], f"{page}: images that did not load: {result['broken_images']}"
        assert result["unplayable"] == [], f"{page}: audio players without a playable source: {result['unplayable']}"
        assert result["bad_links"] == [], f"{page}: links that do not resolve: {result['bad_links']}"
        assert result["console_errors"] == [], f"{page}: console errors: {result['console_errors']}"
    clip_result = results[clip_page]
    # original + (excerpt, listened, ignored) for 2 models x 2 methods; an overlay per model x method,
    # and per model one figure of every method's time profile and one of the faithfulness curves.
    assert clip_result["n_players"] == 1 + 3 * 4
    assert clip_result["n_images"] == 4 + 2 + 2
    assert any(results[p]["n_images"] >= 1 for p in pages if p.startswith("model-")), "confusion matrix missing"


def test_index_sorts_clips_by_disagreement(browser, served_report):
    browser.get(f"{served_report}/index.html")
    header = browser.find_element("xpath", "//table[@id='clips-table']//th[normalize-space()='Disagreement']")
    header.click()
    values = browser.execute_script(
        "return Array.from(document.querySelectorAll('#clips-table tbody tr'))"
        ".map(r => parseFloat(r.cells[r.cells.length - 1].getAttribute('data-sort')));"
    )
    assert len(set(values)) == len(values) > 1
    assert values == sorted(values, reverse=True)
    header.click()
    values = browser.execute_script(
        "return Array.from(document.querySelectorAll('#clips-table tbody tr'))"
        ".map(r => parseFloat(r.cells[r.cells.length - 1].getAttribute('data-sort')));"
    )
    assert values == sorted(values)


def test_self_contained_report_opens_from_one_file(browser, report, tmp_path_factory):
    out = tmp_path_factory.mktemp("single") / "report"
    index = build_report(report, out, self_contained=True)
    assert sorted(p.name for p in out.iterdir()) == ["index.html"]
    result = check_page(browser, index.as_uri())
    save_screenshot(browser, tmp_path_factory, "report-self-contained.png")
    assert result["n_images"] > 0 and result["broken_images"] == []
    assert result["n_players"] > 0 and result["unplayable"] == []
    assert result["bad_links"] == [] and all(link.startswith("#") for link in result["links"])
    assert result["console_errors"] == []
