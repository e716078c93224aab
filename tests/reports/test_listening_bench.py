"""The listening bench of a clip page, in headless Chromium: the slider changes what plays, the cursor follows the
playback, A/B keeps the position, quiet clips get a note and a stated gain, and nothing is fetched from the network."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from seraudit.reports.build import build_report, clip_page
from tests.reports.conftest import chromium
from seraudit.reports.listening import FADE_S, PROFILE_STEPS, bench_record, time_profile

READY_JS = """
const done = arguments[arguments.length - 1];
const started = Date.now();
(function wait() {
  const benches = Array.from(document.querySelectorAll('section.bench'));
  const ready = benches.length > 0 && benches.every(s => ['ready', 'failed'].includes(s.getAttribute('data-audio')));
  if (ready || Date.now() - started > 15000) done(benches.map(s => [s.getAttribute('data-clip'), s.getAttribute('data-audio')]));
  else setTimeout(wait, 50);
})();
"""
#: Schemes a report may load from: its own files and what it carries inline.
LOCAL = ("file:", "data:", "blob:")


@pytest.fixture(scope="module")
def bench_browser():
    """Headless Chromium that records every request (Chrome's performance log) and the console."""
    with chromium(("browser", "performance")) as driver:
        driver.set_script_timeout(30)
        driver.get("about:blank")
        driver.get_log("performance")  # the browser's own start-up pages are not the report's
        yield driver


def open_page(browser, url: str) -> list:
    """Load `url`, wait until every bench decoded its clip; returns [(clip, audio state)] (logs of earlier pages dropped)."""
    browser.get_log("browser")
    browser.get_log("performance")
    browser.get(url)
    return browser.execute_async_script(READY_JS)


def state(browser, clip: str | None = None) -> dict:
    return browser.execute_script("return window.serauditBench.state(arguments[0]);", clip)


def requests(browser) -> list[str]:
    """Every URL the page asked for since the last call (Chrome's Network.requestWillBeSent events)."""
    urls = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def bench(browser, clip_id: str | None = None):
    selector = f'section.bench[data-clip="{clip_id}"]' if clip_id else "section.bench"
    return browser.find_element("css selector", selector)


def slider(section, row: int = 0):
    return section.find_element("css selector", f'tr[data-row="{row}"] input[type=range]')


def python_levels(report, clip, kept: list[int], hop_s: float) -> tuple[float, float]:
    """The kept and removed parts' RMS (dBFS), the bench's rule computed here: 1 on the kept frames' samples, a moving
    average of FADE_S at the edges, RMS weighted by the gain while the part sounds."""
    x, sr = sf.read(report.audit_dir / clip.original, dtype="float32")
    x = x.astype(np.float64)
    hop = round(hop_s * sr)
    mask = np.zeros(x.size)
    for f in kept:
        mask[f * hop:min((f + 1) * hop, x.size)] = 1.0
    w = max(1, round(FADE_S * sr))
    half = w // 2
    sums = np.concatenate([[0.0], np.cumsum(mask)])
    i = np.arange(x.size)
    env = (sums[np.minimum(x.size, i - half + w)] - sums[np.maximum(0, i - half)]) / w
    kept_db = 10 * np.log10(np.sum(env**2 * x**2) / np.sum(env**2))
    removed_db = 10 * np.log10(np.sum((1 - env)**2 * x**2) / np.sum((1 - env)**2))
    return float(kept_db), float(removed_db)


def test_bench_record_ranks_heard_frames_only(report, report_dir):
    from seraudit.xai.attribution import Attribution

    titles = {n: i.title for n, i in report.models.items()}
    partly_heard = 0
    for clip in report.clips:
        record = bench_record(clip, report.audit_dir, titles)
        heard = [f for a, b in record["heard"] for f in range(a, b)]
        partly_heard += len(heard) < record["n_frames"]
        assert {(r["model"], r["method"]) for r in record["rows"]} == {
            (m, k) for m, per in clip.methods.items() for k in per}
        for row in record["rows"]:
            attribution = Attribution.load(report.audit_dir / clip.methods[row["model"]][row["method"]].attribution)
            profile = time_profile(attribution.clip_map)[heard]
            assert len(row["profile"]) == len(heard)
            assert max(row["profile"]) == PROFILE_STEPS  # the peak of the heard frames scales the profile
            assert np.allclose(np.asarray(row["profile"]) / PROFILE_STEPS, profile / profile.max(), atol=1 / PROFILE_STEPS)
        # the report carries the record among its assets
        saved = json.loads((report_dir / "assets" / "bench" / f"{Path(clip_page(clip)).stem[5:]}.json").read_text())
        assert saved == record
    # the fixture maps are not zero where the models heard nothing, so ranking on heard frames only is tested
    assert partly_heard > 0


def test_slider_changes_what_plays(bench_browser, report, report_dir):
    clip = report.clips[0]
    assert open_page(bench_browser, (report_dir / clip_page(clip)).as_uri()) == [[clip.clip_id, "ready"]]
    section = bench(bench_browser)
    first = state(bench_browser)
    assert first["k"] == 30 and first["mode"] == "original" and first["audio_ready"]
    record = bench_record(clip, report.audit_dir, {})
    heard = [f for a, b in record["heard"] for f in range(a, b)]
    row = record["rows"][0]
    ranked = [heard[j] for j in sorted(range(len(heard)), key=lambda j: (-row["profile"][j], j))]
    assert first["heard_frames"] == len(heard)
    assert first["kept_frames"] == sorted(ranked[:round(0.3 * len(heard))])
    # the original's level is the saved wav's RMS
    x, _ = sf.read(report.audit_dir / clip.original, dtype="float64")
    assert first["original_dbfs"] == pytest.approx(10 * np.log10(np.mean(x**2)), abs=0.02)

    from selenium.webdriver.common.keys import Keys

    knob = slider(section)
    for _ in range(10):
        knob.send_keys(Keys.ARROW_LEFT)
    fewer = state(bench_browser)
    assert fewer["k"] == 20 and fewer["frames"] == round(0.2 * len(heard)) < first["frames"]
    assert fewer["seconds"] < first["seconds"] and fewer["kept_dbfs"] != first["kept_dbfs"]
    assert fewer["kept_frames"] == sorted(ranked[:fewer["frames"]])
    # the page's own attributes say the same
    assert section.get_attribute("data-k") == "20" and section.get_attribute("data-frames") == str(fewer["frames"])
    assert float(section.get_attribute("data-seconds")) == fewer["seconds"]

    knob.send_keys(Keys.HOME)  # only the strongest frame
    strongest = state(bench_browser)
    assert strongest["k"] == 0 and strongest["kept_frames"] == [ranked[0]]
    knob.send_keys(Keys.END)  # everything heard
    everything = state(bench_browser)
    assert everything["kept_frames"] == heard and everything["seconds"] == pytest.approx(len(heard) * record["frame_hop_s"])
    # the levels shown are those of the parts the envelope keeps and removes
    kept_db, removed_db = python_levels(report, clip, everything["kept_frames"], record["frame_hop_s"])
    assert everything["kept_dbfs"] == pytest.approx(kept_db, abs=0.05)
    assert everything["removed_dbfs"] == pytest.approx(removed_db, abs=0.05)
    assert section.find_element("css selector", 'tr[data-row="0"] .bench-kept-db').text == f"{everything['kept_dbfs']:.1f} dBFS"

    # another row's slider makes that row the one that plays
    slider(section, 1).send_keys(Keys.ARROW_RIGHT)
    other = state(bench_browser)
    assert other["row"] == 1 and other["k"] == 31 and (other["model"], other["method"]) == (
        record["rows"][1]["model"], record["rows"][1]["method"])
    assert [e for e in bench_browser.get_log("browser") if e["level"] == "SEVERE"] == []


def test_cursor_follows_playback_and_ab_keeps_the_position(bench_browser, report, report_dir):
    clip = report.clips[1]
    assert open_page(bench_browser, (report_dir / clip_page(clip)).as_uri()) == [[clip.clip_id, "ready"]]
    section = bench(bench_browser)
    cursor = section.find_element("css selector", ".bench-cursor")
    section.find_element("css selector", ".bench-play").click()
    time.sleep(0.4)
    early, early_left = state(bench_browser), cursor.value_of_css_property("left")
    time.sleep(0.5)
    later, later_left = state(bench_browser), cursor.value_of_css_property("left")
    assert early["playing"] and later["playing"]
    assert 0 < early["cursor_s"] < later["cursor_s"] <= clip.duration_s + 0.01
    assert 0.3 < later["cursor_s"] - early["cursor_s"] < 1.5  # about the 0.5 s waited
    assert float(later_left.removesuffix("px")) > float(early_left.removesuffix("px")) > 0
    # headless Chromium has no sound card, yet its AudioContext clock runs: that clock drives the cursor
    assert later["clock"] == "audio" and later["context_time"] > 0

    section.find_element("css selector", '.bench-mode input[value="kept"]').click()
    kept = state(bench_browser)
    assert kept["mode"] == "kept" and kept["playing"] and kept["cursor_s"] >= later["cursor_s"]
    assert kept["level_dbfs"] == kept["kept_dbfs"] != kept["original_dbfs"]
    section.find_element("css selector", '.bench-mode input[value="removed"]').click()
    removed = state(bench_browser)
    assert removed["mode"] == "removed" and removed["level_dbfs"] == removed["removed_dbfs"]
    assert removed["cursor_s"] >= kept["cursor_s"]
    assert section.get_attribute("data-mode") == "removed"

    section.find_element("css selector", ".bench-play").click()  # pause
    paused = state(bench_browser)
    time.sleep(0.3)
    assert not state(bench_browser)["playing"] and state(bench_browser)["cursor_s"] == paused["cursor_s"]
    assert all(url.startswith(LOCAL) for url in requests(bench_browser))


def test_quiet_clip_gets_a_note_and_a_stated_normalised_playback(bench_browser, audit_writer, report_clips, tmp_path):
    from tests.reports.conftest import RUN_SUMMARY
    from seraudit.reports.loading import load_report

    loud_path, label = report_clips[2]
    audio, sr = sf.read(loud_path, dtype="float32")
    sf.write(tmp_path / "quiet.wav", audio * 0.001, sr, subtype="FLOAT")  # 60 dB down: the gain cap stops it
    click = audio * 0.001
    click[click.size // 2] = 0.5
    sf.write(tmp_path / "click.wav", click, sr, subtype="FLOAT")  # as quiet, with one loud sample: the peak stops it
    audit = audit_writer(tmp_path / "audit", [(tmp_path / "quiet.wav", label), (tmp_path / "click.wav", label),
                                              (loud_path, label)])
    report = load_report(RUN_SUMMARY, audit)
    build_report(report, tmp_path / "report")
    clips = {clip.name: clip for clip in report.clips}

    open_page(bench_browser, (tmp_path / "report" / clip_page(clips[loud_path.name])).as_uri())
    assert state(bench_browser)["original_dbfs"] > -40
    assert not bench(bench_browser).find_element("css selector", ".bench-quiet").is_displayed()
    assert not bench(bench_browser).find_element("css selector", ".bench-normalise").is_displayed()

    gains = {}
    for name in ("quiet.wav", "click.wav"):
        open_page(bench_browser, (tmp_path / "report" / clip_page(clips[name])).as_uri())
        section = bench(bench_browser)
        before = state(bench_browser)
        assert before["original_dbfs"] < -40
        note = section.find_element("css selector", ".bench-quiet")
        assert note.is_displayed() and "below -40 dBFS" in note.text
        box = section.find_element("css selector", ".bench-normalise input")
        assert not box.is_selected() and before["gain_db"] == 0
        box.click()
        after = state(bench_browser)
        x, _ = sf.read(report.audit_dir / clips[name].original, dtype="float64")
        peak_headroom = -20 * np.log10(np.max(np.abs(x)) / 0.98)
        expected = min(-20 - before["original_dbfs"], 30.0, peak_headroom)
        assert after["normalised"] and after["gain_db"] == pytest.approx(expected, abs=0.02) and after["gain_db"] > 0
        assert f"+{after['gain_db']:.1f} dB" in note.text  # the gain is stated
        assert f"+{after['gain_db']:.1f} dB" in section.find_element("css selector", ".bench-now").text
        gains[name] = after["gain_db"]
    assert gains["quiet.wav"] == 30.0 and gains["click.wav"] < 10  # each limit is met once


def test_nothing_is_fetched_from_the_network(bench_browser, report, report_dir, tmp_path):
    clip = report.clips[0]
    open_page(bench_browser, (report_dir / clip_page(clip)).as_uri())
    bench(bench_browser).find_element("css selector", ".bench-play").click()
    time.sleep(0.3)
    folder = requests(bench_browser)
    assert any(url.endswith(".js") and url.startswith("file:") for url in folder)  # the log does see the bench's files
    assert [url for url in folder if not url.startswith(LOCAL)] == []
    resources = bench_browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert [url for url in resources if not url.startswith(LOCAL)] == []

    index = build_report(report, tmp_path / "single", self_contained=True)
    assert sorted(p.name for p in index.parent.iterdir()) == ["index.html"]
    ready = open_page(bench_browser, index.as_uri())
    assert sorted(ready) == sorted([c.clip_id, "ready"] for c in report.clips)  # every clip's bench decoded its data: URI
    section = bench(bench_browser, clip.clip_id)
    bench_browser.execute_script("arguments[0].scrollIntoView()", section)
    from selenium.webdriver.common.keys import Keys

    before = state(bench_browser, clip.clip_id)
    slider(section).send_keys(Keys.HOME)
    assert state(bench_browser, clip.clip_id)["frames"] == 1 < before["frames"]
    single = requests(bench_browser)
    assert single and [url for url in single if not url.startswith(LOCAL)] == []
    assert [e for e in bench_browser.get_log("browser") if e["level"] == "SEVERE"] == []
