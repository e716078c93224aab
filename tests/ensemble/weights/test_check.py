"""The weights check: which clips it runs on, what it says about VGGish, and how its result reads."""

from __future__ import annotations

import pytest

from seraudit.core.errors import CorpusError
from seraudit.ensemble.weights.port_check import EMBEDDING_COSINE_BAR
from seraudit.ensemble.weights.check import collect_clips, describe_check, vggish_status


def test_clips_default_to_the_first_ravdess_files(shared_dir, monkeypatch):
    monkeypatch.setenv("SERAUDIT_SHARED", str(shared_dir))
    clips = collect_clips(None, 5)
    assert len(clips) == 5 and all(clip.suffix == ".flac" for clip in clips)
    assert clips == sorted((shared_dir / "data" / "ravdess").rglob("*.flac"))[:5]


def test_folders_are_searched_for_audio_files_only_and_files_are_kept_as_given(tmp_path):
    for name in ("b/two.WAV", "b/deep/three.flac", "b/notes.txt", "one.ogg"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    clips = collect_clips([tmp_path / "one.ogg", tmp_path / "b"], 10)
    assert clips == [tmp_path / "one.ogg", tmp_path / "b" / "deep" / "three.flac", tmp_path / "b" / "two.WAV"]
    assert collect_clips([tmp_path / "b"], 1) == [tmp_path / "b" / "deep" / "three.flac"]


def test_bad_clip_path_is_named(tmp_path):
    with pytest.raises(CorpusError, match="nothing-here"):
        collect_clips([tmp_path / "nothing-here"], 20)


def test_a_folder_without_audio_and_a_max_below_one_are_refused(tmp_path):
    with pytest.raises(CorpusError, match=f"no audio files .* under {tmp_path}"):
        collect_clips([tmp_path], 20)
    with pytest.raises(CorpusError, match="`max_clips` must be at least 1, got 0"):
        collect_clips([tmp_path], 0)


def test_missing_vggish_weights_are_reported_with_where_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("SERAUDIT_CACHE_DIR", str(tmp_path / "cache"))
    status = vggish_status(str(tmp_path / "models"))
    assert status["status"].startswith("missing: get ") and "vggish_model.ckpt" in status["status"]
    assert status["weights"] is None and status["sha256"] is None


def result(passed: bool) -> dict:
    return {
        "yamnet": {"weights": "/m/yamnet/yamnet.tflite", "format": "tflite", "sha256": "2d5e1e0577beb1fd3b6b", "reference": "/m/ref",
                   "clips": 2, "patches": 8, "embedding_cosine_mean": 0.99991 if passed else 0.5, "embedding_cosine_min": 0.9998,
                   "top1_agreement": 1.0, "frontend_top1_agreement": 0.975, "frontend_patches": 6, "frontend_pearson": 0.99123,
                   "passed": passed},
        "vggish": {"status": "pretrained weights present", "weights": "/m/vggish/vggish.h5", "sha256": "ab"},
    }


def test_the_text_report_puts_each_measure_beside_its_bar_and_ends_with_the_verdict():
    text = describe_check(result(passed=True))
    lines = text.splitlines()
    assert lines[0] == "YAMNet  /m/yamnet/yamnet.tflite (tflite, sha256 2d5e1e0577be...)"
    assert f"mean 0.99991  min 0.99980  (bar: mean >= {EMBEDDING_COSINE_BAR})" in text
    assert "97.5 % agree on 6 patches" in text and "log-mel Pearson 0.9912" in text
    assert lines[-2] == "  -> passed" and lines[-1] == "VGGish  pretrained weights present (/m/vggish/vggish.h5)"
    assert "  -> FAILED" in describe_check(result(passed=False)).splitlines()
