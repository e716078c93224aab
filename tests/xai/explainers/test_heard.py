"""Only what the model heard: a planted answer in one band of one second, and a decoy the model never hears.

A 4-s clip of the tone task (`tests/xai/conftest.py`): GDS keeps the first three patches
only, so frames 192-399 are never heard. The tone that decides the class lies in the
heard part (frames 120-160, one band group, inside the second 1-2 s, where the audio is
voiced); a decoy tone lies in the unheard part. Every method must put most of its positive
attribution on the planted tone, none on unheard frames, and less on non-speech frames
than a uniform map over the heard frames; the audit records both metrics and checks them.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from tests.xai.conftest import add_click, add_tone

N_FRAMES = 400
PLANTED = (120, 160)  # frames of the tone that decides the class
PLANTED_BANDS = (40, 43)
DECOY = (300, 340)  # a tone on frames no kept patch covers
KEPT_STARTS = (0, 48, 96)  # patches kept: frames 0-191 heard
HEARD_END = 192
METHODS = ("gradcam", "gradcam++", "lime", "lime-time", "occlusion")
PARAMS = {"lime": {"num_samples": 200}, "lime-time": {"num_samples": 200}}


@pytest.fixture(scope="module")
def planted_clip():
    from seraudit.core.constants import SAMPLE_RATE, STFT_HOP_SAMPLES, STFT_WINDOW_SAMPLES
    from seraudit.preprocessing.audio import audio_from_array
    from seraudit.preprocessing.gds import select_segments
    from seraudit.preprocessing.pipeline import ClipFeatures
    from seraudit.preprocessing.segments import make_patches

    rng = np.random.default_rng(7)
    log_mel = rng.normal(-4.0, 0.5, (N_FRAMES, 64)).astype(np.float32)
    for frame, band in ((30, 10), (250, 20), (370, 5)):
        add_click(log_mel, frame, band)
    add_tone(log_mel, PLANTED[0], PLANTED_BANDS[0])
    add_tone(log_mel, DECOY[0], 20)
    patches = make_patches(log_mel)
    selection = select_segments(patches.data)
    keep = np.isin(patches.start_frame, KEPT_STARTS)
    selection = replace(selection, keep=keep)
    # Audio: voiced (a 150 Hz pulse train) over 1.0-2.0 s, faint noise elsewhere.
    n_samples = (N_FRAMES - 1) * STFT_HOP_SAMPLES + STFT_WINDOW_SAMPLES
    t = np.arange(n_samples) / SAMPLE_RATE
    audio = rng.normal(0.0, 0.002, n_samples)
    voiced = (t >= 1.0) & (t < 2.0)
    audio[voiced] += 0.3 * sum(np.sin(2 * np.pi * 150 * k * t[voiced]) / k for k in range(1, 6))
    return ClipFeatures(path=None, audio=audio_from_array(audio, SAMPLE_RATE), log_mel=log_mel,
                        patches=patches, selection=selection)


@pytest.fixture(scope="module")
def planted_maps(tone_model, planted_clip):
    from seraudit.xai.explainers.registry import explain_clip, make_explainer

    explainers = [make_explainer(m, **PARAMS.get(m, {})) for m in METHODS]
    return {a.method: a for a in explain_clip([tone_model], planted_clip, explainers, target="tone")}


def test_the_heard_frames_are_the_kept_patches_frames(planted_clip):
    from seraudit.xai.explainers.heard import heard_frames

    heard = heard_frames(planted_clip)
    assert heard[:HEARD_END].all() and not heard[HEARD_END:].any()


def test_the_model_hears_the_planted_tone_and_not_the_decoy(tone_model, planted_clip):
    assert tone_model.labels[int(np.argmax(tone_model.predict_clip(planted_clip).probabilities))] == "tone"


@pytest.mark.parametrize("method", METHODS)
def test_every_method_puts_its_mass_on_the_planted_tone_and_none_on_unheard_frames(planted_maps, planted_clip,
                                                                                   method):
    from seraudit.xai.explainers.heard import heard_frames, positive_share
    from seraudit.xai.metrics.base import MetricContext
    from seraudit.xai.metrics.heard import NonSpeechMass, UnheardMass

    attribution = planted_maps[method]
    heard = heard_frames(planted_clip)
    assert np.all(attribution.clip_map[~heard] == 0.0)
    assert np.all(attribution.patch_maps[~planted_clip.selection.keep] == 0.0)
    context = MetricContext(None, planted_clip, attribution)
    assert UnheardMass()(context).value == 0.0
    # Most of the positive mass on the planted tone's second (frames 100-180: the tone +- 0.2 s) ...
    near_tone = np.zeros(N_FRAMES, bool)
    near_tone[PLANTED[0] - 20 : PLANTED[1] + 20] = True
    assert positive_share(attribution.clip_map, near_tone) > 0.5
    # ... and less on non-speech frames than a uniform map over the heard frames puts there.
    non_speech = NonSpeechMass()(context)
    assert non_speech.value < non_speech.control
    # The control is the uniform map's share: the heard frames the speech detector calls non-speech (a pulse
    # train is not speech to Silero, so the detector, not the pulse's span, says which frames those are).
    from seraudit.xai.metrics.heard import speech_frames

    assert non_speech.control == pytest.approx(float(np.mean(~speech_frames(planted_clip)[heard])), abs=1e-9)


def test_the_rule_records_what_it_removed(planted_maps):
    record = planted_maps["gradcam"].params["heard"]
    assert (record["heard_frames"], record["n_frames"]) == (HEARD_END, N_FRAMES)
    assert (record["kept_patches"], record["n_patches"]) == (3, 8)
    assert 0.0 <= record["removed_positive_share"] <= 1.0 and "GDS-kept" in record["rule"]


@pytest.fixture(scope="module")
def planted_audit(tone_model, planted_clip, speech_wav, tmp_path_factory):
    from seraudit.xai.audit.clip_identity import ClipSpec
    from seraudit.xai.audit.runner import AuditSettings, run_audit

    settings = AuditSettings(methods=("gradcam", "occlusion"), probe=False, faithfulness_steps=2,
                             faithfulness_random=1, sanity_clips=0)
    out = tmp_path_factory.mktemp("planted") / "audit"
    index = run_audit([tone_model], [ClipSpec(str(speech_wav))], out, settings,
                      load_features=lambda _path: planted_clip, progress=False)
    return out, index


def test_the_audit_records_and_checks_both_shares(planted_audit, planted_clip):
    from seraudit.xai.explainers.heard import heard_frames

    out, index = planted_audit
    saved = json.loads((out / "audit.json").read_text())
    for metric in ("unheard_mass", "non_speech_mass"):
        assert set(saved["metrics"][metric]["summary"]["ensemble"]) == {"gradcam", "occlusion"}
    assert saved["metrics"]["unheard_mass"]["summary"]["ensemble"]["gradcam"]["value"] == 0.0
    checks = {c["name"]: c for c in saved["checks"]}
    unheard = [c for name, c in checks.items() if "no attribution on unheard frames" in name]
    assert len(unheard) == 2 and all(c["status"] == "pass" for c in unheard)
    assert any("attribution follows the voice" in name for name in checks)
    clip = json.loads((out / index["clips"][0]["dir"] / "clip.json").read_text())
    heard = heard_frames(planted_clip)
    for method, entry in clip["methods"]["ensemble"].items():
        assert entry["scores"]["unheard_mass"]["value"] == 0.0
        renders = entry["renders"]
        assert renders["max_gain_db"] == 0.0 and renders["excerpt_regions_s"] == entry["excerpt_regions_s"]
        for a, b in renders["excerpt_regions_s"]:  # excerpts are cut from heard frames only
            assert heard[int(round(a * 100)) : int(round(b * 100))].all(), (method, a, b)


def test_the_clip_page_says_how_renders_are_made_with_times_durations_and_gains(planted_audit, tmp_path):
    import pandas as pd

    from seraudit.ensemble.run import write_run
    from seraudit.reports.build import write_report

    out, index = planted_audit
    run_dir = write_run(tmp_path / "run", {"gds": {"enabled": False}}, {}, pd.DataFrame({"path": []}), {}, {},
                        ["no_tone", "tone"], None)
    report = write_report(run_dir, out, tmp_path / "report")
    pages = [p for p in report.parent.rglob("*.html") if index["clips"][0]["id"] in p.name]
    assert pages, sorted(p.name for p in report.parent.rglob("*.html"))
    html = pages[0].read_text(encoding="utf-8")
    assert html.count("How the renders are made:") == 1 and "No render is louder than the part of the original" in html
    clip = json.loads((out / index["clips"][0]["dir"] / "clip.json").read_text())
    excerpt = clip["methods"]["ensemble"]["gradcam"]["renders"]["excerpt"]
    a, b = clip["methods"]["ensemble"]["gradcam"]["excerpt_regions_s"][0]
    assert f"{a:.2f}–{b:.2f} s" in html  # the excerpt's region times
    assert f"{excerpt['duration_s']:.2f} s · gain 0.0 dB" in html  # its duration in text, beside its gain
