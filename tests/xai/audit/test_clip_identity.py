"""Which clip a record belongs to: stable folder ids, a cache key that notices any change, labels from the run."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pandas as pd

from seraudit.core.io import write_json
from seraudit.ensemble.run import Run, write_run
from seraudit.xai.audit.clip_identity import ClipSpec, cache_key, cached_record, clip_id_for, specs_from_run


def test_clip_ids_keep_ravdess_names_and_tell_equal_stems_apart(tmp_path):
    a, b = tmp_path / "Actor_12" / "03-01-05-01-02-01-12.wav", tmp_path / "copy" / "03-01-05-01-02-01-12.wav"
    assert clip_id_for(a).startswith("03-01-05-01-02-01-12-") and len(clip_id_for(a)) == len("03-01-05-01-02-01-12") + 9
    assert clip_id_for(a) != clip_id_for(b) and clip_id_for(a) == clip_id_for(a)
    assert clip_id_for(tmp_path / "my clip <1>.wav").startswith("my_clip_1-")  # folder-safe


def test_the_cache_key_changes_with_the_file_the_models_and_the_settings(tmp_path):
    clip = tmp_path / "a.wav"
    clip.write_bytes(b"1234")
    model = SimpleNamespace(name="yamnet", labels=["a", "b"], untrained_branches=[], provenance={})
    spec = ClipSpec(str(clip), "a", "s1")
    key = cache_key(spec, [model], {"methods": ["gradcam"]})
    assert key == cache_key(spec, [model], {"methods": ["gradcam"]})
    assert key != cache_key(spec, [model], {"methods": ["lime"]})
    assert key != cache_key(spec, [SimpleNamespace(**{**vars(model), "untrained_branches": ["yamnet"]})], {"methods": ["gradcam"]})
    assert key != cache_key(ClipSpec(str(clip), "b", "s1"), [model], {"methods": ["gradcam"]})
    clip.write_bytes(b"12345")
    assert key != cache_key(spec, [model], {"methods": ["gradcam"]})


def test_only_a_record_with_the_same_key_is_reused(tmp_path):
    assert cached_record(tmp_path / "none", "k") is None
    write_json(tmp_path / "clip.json", {"id": "x", "cache_key": "k"})
    assert cached_record(tmp_path, "k") == {"id": "x", "cache_key": "k"}
    assert cached_record(tmp_path, "other") is None
    (tmp_path / "clip.json").write_text("{half a reco")
    assert cached_record(tmp_path, "k") is None  # an unreadable record is computed again


def test_specs_take_label_and_speaker_from_the_run_predictions(tmp_path):
    known, unknown = tmp_path / "03-01-05-01-02-01-12.wav", tmp_path / "new.wav"
    table = pd.DataFrame({"path": [str(known)] * 2, "model": ["ensemble", "yamnet"], "label": "angry",
                          "prediction": "sad", "speaker": "ravdess_12", "fold": 0})
    run = Run.open(write_run(tmp_path / "run", {}, {}, table, {}, {}, ["angry", "sad"], None))
    relative = os.path.relpath(known)
    specs = specs_from_run(run, [relative, unknown])
    assert specs == [ClipSpec(relative, "angry", "ravdess_12"), ClipSpec(str(unknown), None, None)]


def test_specs_from_a_run_without_readable_predictions_have_no_labels(tmp_path):
    run = Run.open(write_run(tmp_path / "run", {}, {}, pd.DataFrame(), {}, {}, [], None))  # an empty predictions.csv
    assert specs_from_run(run, ["a.wav"]) == [ClipSpec("a.wav", None, None)]
