"""A person opens the report in a browser: every picture shows, every sound plays, every link works, no console errors."""

from __future__ import annotations

import functools
import http.server
import os
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
images.forEach(img => { img.loading = 'eager'; });  // figures load lazily: ask for every one now
Promise.all(images.map(img => img.complete ? Promise.resolve() :
  new Promise(r => { img.addEventListener('load', r, {once: true}); img.addEventListener('error', r, {once: true}); })))
  .then(() => done(images.map(img => ({src: img.getAttribute('src').slice(0, 80), width: img.naturalWidth}))));
"""

LINKS_JS = """
const done = arguments[arguments.length - 1];
const links = Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href'));
const hasId = (doc, id) => !id || doc.getElementById(decodeURIComponent(id)) !== null;
Promise.all(links.map(href => {
  const [page, fragment] = href.split('#');
  if (!page) return Promise.resolve({href, status: hasId(document, fragment) ? 200 : 404});
  return fetch(page).then(r => r.text().then(text => {
    if (r.status !== 200) return {href, status: r.status};
    const doc = new DOMParser().parseFromString(text, 'text/html');
    return {href, status: hasId(doc, fragment) ? 200 : 404};
  })).catch(e => ({href, status: String(e)}));
})).then(done);
"""

# The sections a reader (and a link from elsewhere) finds by id; each must be on its page and visible.
INDEX_IDS = ("verdict", "failures", "corpus", "folds", "metrics", "confusion", "per-class-recall", "comparisons",
             "gds-ablation", "probing", "class-maps", "agreement", "explanation-metrics", "metric-deletion",
             "metric-model_randomisation", "model-card", "provenance")
CLIP_IDS = ("waveform", "predictions", "methods-ensemble", "methods-yamnet")
#: Set this to a folder to keep the screenshots of a test run (for a person to look at).
SCREENSHOT_ENV = "SERAUDIT_SCREENSHOTS"


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


def check_page(browser, url: str, ids: tuple[str, ...] = ()) -> dict:
    """Load `url` and return what a person would notice is broken on it (``ids``: sections that must show)."""
    browser.get_log("browser")  # drop messages of earlier pages
    browser.get(url)
    browser.set_script_timeout(30)
    missing = [i for i in ids if not browser.find_elements("id", i)]
    hidden = [i for i in ids if i not in missing and not browser.find_element("id", i).is_displayed()]
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
        "missing_ids": missing,
        "hidden_ids": hidden,
    }


def save_screenshot(browser, tmp_path_factory, name: str) -> Path:
    """A full-page screenshot into this run's tmp dir, also into $SERAUDIT_SCREENSHOTS when set."""
    size = browser.get_window_size()
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(size["width"], min(max(int(height), 600), 16000))
    try:
        shot = tmp_path_factory.mktemp("screenshots") / name
        browser.save_screenshot(str(shot))
    finally:
        browser.set_window_size(size["width"], size["height"])
    latest = tmp_path_factory.getbasetemp().parent / f"seraudit-latest-{name}"
    shutil.copyfile(shot, latest)
    if os.environ.get(SCREENSHOT_ENV):
        keep = Path(os.environ[SCREENSHOT_ENV])
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, keep / name)
    print(f"\nscreenshot: {shot}\nlatest screenshot: {latest}")
    return latest


def test_every_page_of_the_report_works_in_a_browser(browser, served_report, report_dir, tmp_path_factory):
    index = check_page(browser, f"{served_report}/index.html", INDEX_IDS)
    save_screenshot(browser, tmp_path_factory, "report-index.png")
    pages = sorted({link.split("#")[0] for link in index["links"] if link.split("#")[0].endswith(".html")} - {"index.html"})
    assert any(link.startswith("assets/") for link in index["links"])  # a figure's full-size link (checked to resolve)
    assert any(p.startswith("clip-") for p in pages) and any(p.startswith("model-") for p in pages)
    results = {"index.html": index} | {
        page: check_page(browser, f"{served_report}/{page}", CLIP_IDS if page.startswith("clip-") else ())
        for page in pages
    }
    clip_page = next(p for p in pages if p.startswith("clip-"))
    check_page(browser, f"{served_report}/{clip_page}")
    save_screenshot(browser, tmp_path_factory, "report-clip.png")
    check_page(browser, f"{served_report}/model-ensemble.html")
    save_screenshot(browser, tmp_path_factory, "report-model.png")

    for page, result in results.items():
        assert result["missing_ids"] == [], f"{page}: sections missing: {result['missing_ids']}"
        assert result["hidden_ids"] == [], f"{page}: sections not visible: {result['hidden_ids']}"
        assert result["broken_images"] == [], f"{page}: images that did not load: {result['broken_images']}"
        assert result["unplayable"] == [], f"{page}: audio players without a playable source: {result['unplayable']}"
        assert result["bad_links"] == [], f"{page}: links that do not resolve: {result['bad_links']}"
        assert result["console_errors"] == [], f"{page}: console errors: {result['console_errors']}"
    clip_result = results[clip_page]
    # original + (excerpt, listened, ignored) for 2 models x 2 methods; an overlay per model x method,
    # per model one figure of every method's time profile and one of the faithfulness curves, and the waveform.
    assert clip_result["n_players"] == 1 + 3 * 4
    assert clip_result["n_images"] == 4 + 2 + 2 + 1
    # index: the original and the Grad-CAM excerpt of every audited clip; 4 confusion matrices, the class
    # maps of 2 models x 2 methods (the fixture's audit has no probing)
    assert index["n_players"] == 2 * 3
    assert index["n_images"] == 4 + 2 * 2


def test_the_verdict_comes_first_and_warns_about_the_untrained_vggish(browser, served_report):
    browser.get(f"{served_report}/index.html")
    first_section = browser.find_element("css selector", "section#index > section")
    assert first_section.get_attribute("id") == "verdict"
    rows = browser.find_elements("css selector", "#checks-table tbody tr")
    checks = {r.find_elements("tag name", "td")[1].text: (r.find_elements("tag name", "td")[0].text.lower(),
                                                          r.find_elements("tag name", "td")[5].text) for r in rows}  # status, check, ..., figure
    status, figure = checks["untrained backbones"]
    assert status == "warn" and "VGGish untrained" in figure and "Ensemble" in figure
    status, figure = checks["files that could not be used"]
    assert status == "warn" and figure == "2 files"  # the run's failures.csv row and the audit's broken clip
    beats = [name for name in checks if name.startswith("Ensemble") and " beats " in name]
    assert len(beats) == 3  # YAMNet, VGGish and the eGeMAPS baseline
    assert all(checks[name][0] in ("pass", "warn", "fail") and "UAR points" in checks[name][1] for name in beats)
    failures = browser.find_element("id", "failures").text
    assert "Actor_05/silent.flac" in failures and "no speech detected" in failures and "broken.wav" in failures


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
