"""The "What the model uses" and shortcut sections: their data from a hand-built audit index, and the page that shows them.

The index below is small and written by hand in the layout `xai.audit.model_use.add_model_use` saves
(``interventions``, ``encoded_used``, ``shortcuts``), with figures chosen so each rule has one right answer.
"""

from __future__ import annotations

import copy
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
import soundfile as sf

from seraudit.reports.model import ModelInfo
from seraudit.reports.model_use import (
    NOT_RUN,
    interventions_data,
    largest_effect,
    measured_change,
    shortcuts_data,
)

MODELS = {"yamnet": ModelInfo("yamnet", "YAMNet"),
          "ensemble": ModelInfo("ensemble", "Ensemble (late fusion; VGGish untrained)", ["vggish"])}
A_DIR, B_DIR = "interventions/audio/000-a", "interventions/audio/001-b"
PRAAT = {"resynthesis": "Get resynthesis (overlap-add)", "to_manipulation": {"time_step_s": 0.01, "pitch_floor_hz": 60.0}}
VERSIONS = {"praat": "6.1.38", "praat-parselmouth": "0.4.7"}


def _params(feature: str, strength: float, unit: str) -> dict:
    return {"feature": feature, "strength": strength, "unit": unit, "describes": feature, "praat": PRAAT,
            "versions": VERSIONS}


def _p(angry: float) -> dict:
    return {"angry": angry, "sad": round(1 - angry, 6)}


def _pred(angry: float) -> dict:
    return {"label": "angry" if angry >= 0.5 else "sad", "probabilities": _p(angry)}


def _check(check_id: str, status: str, value, threshold, control, figure: str, **extra) -> dict:
    return {"id": check_id, "name": check_id, "status": status, "value": value, "threshold": threshold,
            "control": control, "figure": figure, "evidence": "index.html#shortcuts",
            "evidence_audit": "audit.json#/shortcuts", **extra}


def model_use_keys() -> dict:
    """``interventions``, ``encoded_used`` and ``shortcuts`` of a two-clip audit of YAMNet and an untrained ensemble."""
    clip_a = {
        "path": "/data/Actor_01/a.wav", "label": "angry", "speaker": "s1", "duration_s": 2.4, "notes": [],
        "identity": {"accepted": True, "reason": ""},
        "level": {"original": {"rms_dbfs": -29.5, "peak_dbfs": -9.5}, "identity": {"rms_dbfs": -29.6, "peak_dbfs": -9.5}},
        "measures": {"original": {"duration_s": 2.4}, "identity": {"duration_s": 2.4}},
        "audio": {"original": f"{A_DIR}/original.flac", "identity": f"{A_DIR}/identity.flac",
                  "f0_level_+4": f"{A_DIR}/f0_level_+4.flac", "intensity_-6": f"{A_DIR}/intensity_-6.flac",
                  "rate_x1.25": f"{A_DIR}/rate_x1.25.flac"},
        "variants": [
            {"feature": "f0_level", "strength": 4.0, "key": "f0_level_+4", "label": "f0_level +4 semitones",
             "accepted": True, "skipped": False, "reason": "", "change": {"f0_level_st": 4.13},
             "intended": {"measure": "f0_level_st", "value": 4.13}, "level": {"rms_dbfs": -29.6, "peak_dbfs": -8.0},
             "measures": {"duration_s": 2.4}, "audio": f"{A_DIR}/f0_level_+4.flac",
             "params": _params("f0_level", 4.0, "semitones")},
            {"feature": "intensity", "strength": -6.0, "key": "intensity_-6", "label": "intensity -6 dB",
             "accepted": True, "skipped": False, "reason": "", "change": {"intensity_db": -6.02},
             "level": {"rms_dbfs": -35.6, "peak_dbfs": -15.5}, "measures": {"duration_s": 2.4},
             "audio": f"{A_DIR}/intensity_-6.flac", "params": _params("intensity", -6.0, "dB")},
            {"feature": "rate", "strength": 1.25, "key": "rate_x1.25", "label": "rate x1.25", "accepted": True,
             "skipped": False, "reason": "", "change": {"duration_ratio": 0.8}, "level": {"rms_dbfs": -29.6},
             "measures": {"duration_s": 1.92}, "audio": f"{A_DIR}/rate_x1.25.flac",  # its file is never written
             "params": _params("rate", 1.25, "x speaking rate")},
            {"feature": "tilt", "strength": 3.0, "key": "tilt_+3", "label": "tilt +3 dB/octave", "accepted": False,
             "skipped": False, "reason": "another measure moved: F0 median change (st) +0.57 (target +0.00 ± 0.50)",
             "change": {"tilt_db_per_octave": 2.98}, "level": {"rms_dbfs": -29.6}, "audio": None,
             "params": _params("tilt", 3.0, "dB/octave")},
        ],
        "predictions": {"yamnet": {"explained_by": {"text": "fold 0 model; speaker not seen in training"},
                                   "original": _pred(0.6), "identity": _pred(0.55),
                                   "variants": {"f0_level_+4": _pred(0.3), "intensity_-6": _pred(0.5),
                                                "rate_x1.25": _pred(0.52)}}},
    }
    no_pitch = ("too little pitch for a reliable F0: Praat found 3 voiced frames (60-750 Hz), under the 10 needed; "
                "the clip is left out of the F0 interventions")
    clip_b = {
        "path": "/data/Actor_02/b.wav", "label": "sad", "speaker": "s2", "duration_s": 1.0, "notes": [no_pitch],
        "identity": {"accepted": True, "reason": ""},
        "level": {"original": {"rms_dbfs": -40.0, "peak_dbfs": -20.0}, "identity": {"rms_dbfs": -40.1, "peak_dbfs": -20.0}},
        "audio": {"original": f"{B_DIR}/original.flac", "identity": f"{B_DIR}/identity.flac"},
        "variants": [
            {"feature": "f0_level", "strength": 4.0, "key": "f0_level_+4", "label": "f0_level +4 semitones",
             "accepted": False, "skipped": True, "reason": no_pitch, "params": _params("f0_level", 4.0, "semitones")},
        ],
        "predictions": {"yamnet": {"explained_by": {"text": "fold 1 model; speaker not seen in training"},
                                   "original": _pred(0.2), "identity": _pred(0.25), "variants": {}}},
    }
    curves = [
        {"model": "yamnet", "emotion": "all", "feature": "intensity", "strength": -6.0, "unit": "dB", "mean_dp": -0.05,
         "ci_low": -0.08, "ci_high": -0.02, "flip_rate": 0.0, "n_clips": 2, "n_speakers": 2},
        {"model": "yamnet", "emotion": "all", "feature": "f0_level", "strength": 4.0, "unit": "semitones",
         "mean_dp": -0.25, "ci_low": -0.3, "ci_high": -0.2, "flip_rate": 1.0, "n_clips": 1, "n_speakers": 1},
        {"model": "yamnet", "emotion": "all", "feature": "f0_level", "strength": -4.0, "unit": "semitones",
         "mean_dp": 0.1, "ci_low": 0.05, "ci_high": 0.15, "flip_rate": 0.0, "n_clips": 1, "n_speakers": 1},
        {"model": "yamnet", "emotion": "angry", "feature": "f0_level", "strength": 2.0, "unit": "semitones",
         "mean_dp": -0.1, "ci_low": -0.1, "ci_high": -0.1, "flip_rate": 0.0, "n_clips": 1, "n_speakers": 1},
    ]
    identity = [
        {"model": "yamnet", "emotion": "angry", "flip_rate": 1.0, "mean_abs_dp": 0.9, "mean_dp": -0.9, "n_clips": 1,
         "n_speakers": 1},
        {"model": "yamnet", "emotion": "all", "flip_rate": 0.25, "mean_abs_dp": 0.012, "mean_dp": -0.004, "n_clips": 2,
         "n_speakers": 2},
    ]
    smallest = [{"model": "yamnet", "emotion": "all", "feature": "f0_level", "direction": "up", "any_flip": 4.0,
                 "half_flip": 4.0},
                {"model": "yamnet", "emotion": "all", "feature": "f0_level", "direction": "down", "any_flip": None,
                 "half_flip": None}]
    interventions = {
        "plan": [{"feature": "identity", "strength": 0.0, "key": "identity"}],
        "settings": {"praat": PRAAT, "versions": VERSIONS, "synthesis_key": "abc123", "tolerances": {"f0_st": 0.5},
                     "level": "F0, range and rate variants are rescaled to the identity resynthesis' RMS"},
        "models": {"yamnet": {"branches": ["yamnet"], "untrained": [], "display_name": "YAMNet",
                              "labels": ["angry", "sad"]}},
        "clips": [clip_a, clip_b],
        "counts": {"identity": {"accepted": 2, "rejected": 0, "skipped": 0},
                   "f0_level_+4": {"accepted": 1, "rejected": 0, "skipped": 1},
                   "intensity_-6": {"accepted": 1, "rejected": 0, "skipped": 0},
                   "rate_x1.25": {"accepted": 1, "rejected": 0, "skipped": 0},
                   "tilt_+3": {"accepted": 0, "rejected": 1, "skipped": 0}},
        "dose_response": {"rule": "a feature is used by a model when ...", "identity": identity, "curves": curves,
                          "smallest_flip": smallest, "used": []},
        "failures": [], "seconds": {"total": 3.2},
    }
    encoded_used = [
        {"model": "yamnet", "group": "frequency/pitch-formant", "features": ["f0_level", "f0_range"], "encoded": True,
         "used": True, "verdict": "encoded and used",
         "encoded_figures": [{"backbone": "yamnet", "r2": 0.41, "control_r2": 0.12, "above_control": 0.29,
                              "ci_low": 0.1, "ci_high": 0.45, "verdict": "above control"}],
         "used_figures": [{"feature": "f0_level", "used": True, "level": 0.9875, "strengths": [
             {"strength": -4.0, "n_clips": 2, "excess": 0.09, "ci_low": -0.01, "ci_high": 0.2, "beyond_null": False},
             {"strength": 4.0, "n_clips": 2, "excess": 0.05, "ci_low": 0.01, "ci_high": 0.09, "beyond_null": True},
             {"strength": 2.0, "n_clips": 2, "excess": 0.03, "ci_low": 0.005, "ci_high": 0.05, "beyond_null": True}]}]},
        {"model": "yamnet", "group": "energy/loudness", "features": ["intensity"], "encoded": None, "used": False,
         "verdict": "not measured: no probing against a random-weight control", "encoded_figures": [],
         "used_figures": [{"feature": "intensity", "used": False, "level": 0.975, "strengths": [
             {"strength": -6.0, "n_clips": 2, "excess": 0.01, "ci_low": -0.02, "ci_high": 0.04, "beyond_null": False}]}]},
        {"model": "ensemble", "group": "temporal", "features": ["rate"], "encoded": False, "used": False,
         "verdict": "neither", "encoded_figures": [], "used_figures": []},
    ]
    edit_rule = "fails when the flip rate's 95 % lower bound exceeds the null edit's upper bound and ..."
    shortcuts = {
        "edits": {"yamnet": {
            "telephone": _check("shortcut.telephone.yamnet", "warn", 0.5, 0.2, 0.0, "1/2 labels flipped ...",
                                flips=1, n_clips=2, control_flips=0, control_n=2, interval=[0.09, 0.91],
                                control_interval=[0.0, 0.66], delta_p=0.077, control_delta_p=0.0, skipped=[]),
            "pad_silence": _check("shortcut.pad_silence.yamnet", "pass", 0.0, 0.2, 0.0, "0/2 labels flipped ...",
                                  flips=0, n_clips=2, control_flips=0, control_n=2, interval=[0.0, 0.66],
                                  control_interval=[0.0, 0.66], delta_p=0.01, control_delta_p=0.0, skipped=[]),
            "gain_up": _check("shortcut.gain_up.yamnet", "skipped", None, 0.2, None,
                              "not applicable: no clip could be edited (+6 dB gain): peak -2.6 dBFS: +6 dB would clip",
                              flips=0, n_clips=0, skipped=[{"clip": "/data/Actor_01/a.wav", "reason": "would clip"}]),
        }},
        "speaker": {"yamnet": {
            "probe": _check("shortcut.speaker_probe.yamnet", "warn", 0.13, 0.05, 0.02, "speaker named ...",
                            chance=0.04, n_clips=60),
            "normalised": _check("shortcut.speaker_norm.yamnet", "pass", -10.1, 10.0, -6.8, "emotion UAR 19.5 ...",
                                 uar_plain=29.6, uar_normalised=19.5, n_clips=60)}},
        "lexical": {"yamnet": {
            "probe": _check("shortcut.lexical_probe.yamnet", "skipped", None, None, None,
                            "not applicable: the corpus has no sentence codes", reason="the corpus has no sentence codes"),
            "uar": _check("shortcut.lexical_uar.yamnet", "skipped", None, None, None,
                          "not applicable: the corpus has no sentence codes", reason="the corpus has no sentence codes")}},
        "rule": edit_rule, "null_edit": "shift_1_sample", "failures": [],
    }
    return {"interventions": interventions, "encoded_used": encoded_used, "shortcuts": shortcuts}


# --------------------------------------------------------------------------- the data
def test_dose_response_and_its_control_come_from_the_pooled_rows():
    data = interventions_data(model_use_keys(), MODELS)
    assert data["ran"] and [m["name"] for m in data["models"]] == ["yamnet"]
    yamnet = data["models"][0]
    # The control is the identity resynthesis over all emotions (not the one-clip "angry" row).
    assert yamnet["identity"]["flip_rate"] == 0.25 and yamnet["identity"]["mean_abs_dp"] == 0.012
    # One panel per feature in the plan's order; pooled rows only, strengths sorted.
    assert [p["feature"] for p in yamnet["panels"]] == ["f0_level", "intensity"]
    assert [pt["strength"] for pt in yamnet["panels"][0]["points"]] == [-4.0, 4.0]
    assert yamnet["panels"][0]["xlabel"] == "shift (semitones)" and yamnet["panels"][1]["neutral"] == 0.0
    assert yamnet["svg"].startswith("<svg") and "xmlns" not in yamnet["svg"]
    assert yamnet["smallest_flip"] == [{"feature": "f0_level", "title": "F0 level (PSOLA, formants kept)",
                                        "up": {"any": "+4 semitones", "half": "+4 semitones"},
                                        "down": {"any": None, "half": None}}]
    # Kept, rejected and not made, as the audit counted them (identity is the control, not a variant).
    assert (data["accepted"], data["rejected"], data["skipped"]) == (3, 1, 1)


def test_encoded_used_rows_give_the_verdict_and_the_largest_effect_beyond_the_null():
    data = interventions_data(model_use_keys(), MODELS)
    rows = data["models"][0]["encoded_used"]
    assert [(r["group"], r["verdict"]) for r in rows] == [
        ("frequency/pitch-formant", "encoded and used"),
        ("energy/loudness", "not measured: no probing against a random-weight control")]
    pitch, energy = rows
    assert pitch["meaning"].startswith("the backbone's embedding carries it") and pitch["verdict_class"] == "measured"
    assert energy["verdict_class"] == "not-measured" and energy["meaning"] == ""
    # -4 st has the largest excess but its interval holds 0: the largest effect *beyond the null* is +4 st.
    effect = pitch["used_effect"]
    assert (effect["strength"], effect["excess"], effect["strength_text"]) == (4.0, 0.05, "+4 semitones")
    assert (effect["ci_low"], effect["ci_high"], effect["level"]) == (0.01, 0.09, 0.9875)
    # With nothing beyond the null, the largest effect is still shown (and marked as within it).
    assert energy["used_effect"]["strength"] == -6.0 and not energy["used_effect"]["beyond_null"]
    assert largest_effect([]) is None
    assert pitch["encoded_figures"][0]["above_control"] == 0.29


def test_an_untrained_model_is_named_untrained():
    keys = model_use_keys()
    keys["interventions"]["models"]["ensemble"] = {"branches": ["yamnet", "vggish"], "untrained": ["vggish"],
                                                   "display_name": "Ensemble", "labels": ["angry", "sad"]}
    info = next(m for m in interventions_data(keys, {})["models"] if m["name"] == "ensemble")["info"]
    assert info.untrained and "untrained" in info.title
    assert [r["verdict"] for r in next(m for m in interventions_data(keys, MODELS)["models"]
                                       if m["name"] == "ensemble")["encoded_used"]] == ["neither"]


def test_measured_changes_are_signed_in_their_units():
    clip = model_use_keys()["interventions"]["clips"][0]
    texts = [measured_change(v)["text"] for v in clip["variants"]]
    assert texts == ["+4.1 st", "-6.0 dB", "× 0.80 duration", "+3.0 dB/octave"]
    assert measured_change({"feature": "f0_range", "change": {"f0_range_ratio": 0.02}})["text"] == "× 0.02 F0 range"
    assert measured_change({"feature": "f0_level", "change": {}})["text"] == "not measured"


def test_players_hold_the_original_the_identity_and_each_kept_variant(tmp_path):
    for rel in ("original", "identity", "f0_level_+4", "intensity_-6"):
        (tmp_path / A_DIR).mkdir(parents=True, exist_ok=True)
        (tmp_path / A_DIR / f"{rel}.flac").write_bytes(b"x")
    data = interventions_data(model_use_keys(), MODELS, tmp_path)
    a, b = data["clips"]
    assert [p["key"] for p in a["players"]] == ["original", "identity", "f0_level_+4", "intensity_-6", "rate_x1.25"]
    # The rate variant's file is missing: no player source (never a broken one).
    assert [p["audio"] is not None for p in a["players"]] == [True, True, True, True, False]
    f0 = a["players"][2]
    assert f0["change"]["text"] == "+4.1 st" and f0["level"] == {"rms_dbfs": -29.6, "peak_dbfs": -8.0}
    assert f0["duration_s"] == 2.4 and a["players"][4]["duration_s"] == 1.92
    # Each model's label and p(target) with its change against the identity's (the identity's against the original).
    (score,) = f0["predictions"]
    assert (score["label"], score["target"], score["p_target"]) == ("sad", "angry", 0.3)
    assert score["dp"] == pytest.approx(0.3 - 0.55)
    assert a["players"][1]["predictions"][0]["dp"] == pytest.approx(0.55 - 0.6)
    # Rejected and not-made variants are listed with their reason; the clip's note is kept.
    assert [(v["title"], v["skipped"]) for v in a["left_out"]] == [("tilt +3 dB/octave", False)]
    assert a["left_out"][0]["reason"].startswith("another measure moved") and a["left_out"][0]["change"]["text"] == "+3.0 dB/octave"
    assert [(v["title"], v["skipped"]) for v in b["left_out"]] == [("f0_level +4 semitones", True)]
    assert b["notes"][0].startswith("too little pitch") and b["n_accepted"] == 0
    assert [p["key"] for p in b["players"]] == ["original", "identity"]
    assert data["reproduce"]["pointer"] == "audit.json#/interventions/clips/0/variants/0/params"
    assert data["reproduce"]["praat"] == {"resynthesis": "Get resynthesis (overlap-add)",
                                          "to_manipulation.time_step_s": 0.01, "to_manipulation.pitch_floor_hz": 60.0}


def test_shortcut_rows_follow_the_battery_and_name_why_a_check_was_skipped():
    data = shortcuts_data(model_use_keys(), MODELS)
    assert [r["edit"] for r in data["edits"]] == ["pad_silence", "gain_up", "telephone"]
    telephone = data["edits"][2]
    assert (telephone["value"], telephone["control"], telephone["threshold"], telephone["status"]) == (0.5, 0.0, 0.2, "warn")
    assert telephone["interval"] == [0.09, 0.91] and telephone["model"].title == "YAMNet"
    gain = data["edits"][1]
    assert gain["status"] == "skipped" and gain["reason"] == "no clip could be edited (+6 dB gain): peak -2.6 dBFS: +6 dB would clip"
    assert [(r["kind"], r["status"]) for r in data["probes"]] == [
        ("speaker.probe", "warn"), ("speaker.normalised", "pass"), ("lexical.probe", "skipped"), ("lexical.uar", "skipped")]
    assert data["probes"][2]["reason"] == "the corpus has no sentence codes" and data["probes"][0]["reason"] == ""
    assert data["null_title"] == "a 1-sample shift"


def test_an_audit_without_the_keys_shows_nothing_or_one_line():
    assert interventions_data({}, MODELS) is None and shortcuts_data({}, MODELS) is None
    only_battery = {"shortcuts": model_use_keys()["shortcuts"]}
    assert interventions_data(only_battery, MODELS) == {"ran": False, "note": NOT_RUN}
    assert shortcuts_data(only_battery, MODELS)["edits"]


# --------------------------------------------------------------------------- the page
class Page(HTMLParser):
    """Ids, audio players (their attributes and sources) and links of a page."""

    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()
        self.audio: list[dict] = []
        self.sources: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "audio":
            self.audio.append(attrs)
        if tag == "source":
            self.sources.append(attrs["src"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])


def _tone(path: Path, seconds: float = 0.3) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(16000 * seconds)) / 16000
    sf.write(path, 0.1 * np.sin(2 * np.pi * 220 * t), 16000, format="FLAC")


@pytest.fixture(scope="module")
def model_use_audit(tmp_path_factory, audit_dir) -> Path:
    """The report fixtures' audit folder with the model-use keys, its audio and the shortcut checks in its verdict."""
    from seraudit.core.io import write_json
    from seraudit.xai.audit.checks import audit_checks
    from seraudit.xai.audit.folder import read_audit_index

    out = tmp_path_factory.mktemp("model-use") / "audit"
    shutil.copytree(audit_dir, out)
    index = read_audit_index(out)
    keys = model_use_keys()
    checks = [c for m in keys["shortcuts"]["edits"].values() for c in m.values()]
    checks += [c for group in ("speaker", "lexical") for m in keys["shortcuts"][group].values() for c in m.values()]
    index.update(keys)
    index["checks"] = [*(index.get("checks") or audit_checks(index, None, [])), *copy.deepcopy(checks)]
    write_json(out / "audit.json", index)
    for rel in ("original", "identity", "f0_level_+4", "intensity_-6"):
        _tone(out / A_DIR / f"{rel}.flac")
    for rel in ("original", "identity"):
        _tone(out / B_DIR / f"{rel}.flac")
    return out


def _build(audit: Path, out: Path, **kwargs) -> Path:
    from seraudit.reports.build import build_report
    from seraudit.reports.loading import load_report

    from tests.reports.conftest import RUN_SUMMARY

    return build_report(load_report(RUN_SUMMARY, audit), out, **kwargs)


def test_the_report_shows_the_section_its_anchor_and_players_whose_files_exist(model_use_audit, tmp_path):
    index = _build(model_use_audit, tmp_path / "report")
    html = index.read_text(encoding="utf-8")
    page = Page()
    page.feed(html)
    assert {"model-use", "shortcuts", "shortcut-edits", "shortcut-probes", "encoded-used-yamnet",
            "model-use-reproduce", "verdict"} <= page.ids
    # The shortcut checks' evidence and each row's status link resolve on this page.
    for link in [link for link in page.links if "check-shortcut" in link or link.endswith("#shortcuts")]:
        assert link.split("#", 1)[1] in page.ids, link
    assert "index.html#shortcuts" in page.links
    # Six players with files (the missing variant's is left out), each loading on demand, each file next to the page.
    section = Page()
    section.feed(html[html.index('id="model-use"'):html.index('id="shortcuts"')])
    assert len(section.audio) == 6 and all(a.get("preload") == "none" for a in section.audio)
    assert len(section.sources) == 6 and all((index.parent / unquote(s)).is_file() for s in section.sources)
    assert all(s.endswith(".flac") for s in section.sources) and "no audio saved" in html
    # What a reader sees: measured changes, the level, the control, the verdict, the skipped check's reason.
    for text in ("+4.1 st", "-6.0 dB", "-29.6 dBFS RMS", "changed <b>25 %</b>", "encoded and used", "+4 semitones: 0.050",
                 "[+0.010, +0.090]", "too little pitch for a reliable F0", "another measure moved", "status-skipped",
                 "the corpus has no sentence codes", "praat-parselmouth 0.4.7", "<svg"):
        assert text in html, text


def test_the_self_contained_report_inlines_the_players(model_use_audit, tmp_path):
    html = _build(model_use_audit, tmp_path / "one", self_contained=True).read_text(encoding="utf-8")
    assert len(re.findall(r'<source src="data:audio/(?:x-)?flac;base64,', html)) == 6
    assert 'id="shortcuts"' in html


def test_a_report_of_an_audit_without_the_keys_has_no_such_section(report_dir, model_use_audit, tmp_path):
    page = Page()
    page.feed((report_dir / "index.html").read_text(encoding="utf-8"))
    assert "model-use" not in page.ids and "shortcuts" not in page.ids and "verdict" in page.ids
    # --no-interventions: the battery shows, the interventions are one line.
    from seraudit.core.io import write_json
    from seraudit.xai.audit.folder import read_audit_index

    audit = tmp_path / "audit"
    shutil.copytree(model_use_audit, audit)
    index = read_audit_index(audit)
    del index["interventions"], index["encoded_used"]
    write_json(audit / "audit.json", index)
    html = _build(audit, tmp_path / "report").read_text(encoding="utf-8")
    assert 'id="model-use-not-run"' in html and 'id="shortcuts"' in html and "<audio" not in html.split('id="model-use"')[1].split('id="shortcuts"')[0]


def test_a_clip_whose_files_play_attenuated_says_by_how_much(tmp_path):
    keys = model_use_keys()
    keys["interventions"]["clips"][0]["playback_gain_db"] = -6.2
    keys["interventions"]["clips"][1]["playback_gain_db"] = 0.0
    a, b = interventions_data(keys, MODELS, tmp_path)["clips"]
    assert any(n.startswith("These files play 6.2 dB below the levels shown") for n in a["notes"])
    assert not any("below the levels shown" in n for n in b["notes"])
