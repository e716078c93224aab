"""The audit folder's one writer and reader: a clip record and the index read back as written; another version says so."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

from seraudit.core.errors import RunError
from seraudit.xai.audit.compute import ClipAudit
from seraudit.xai.audit.folder import (
    AUDIT_FORMAT_VERSION,
    clip_dir,
    clip_entry,
    read_audit_index,
    read_clip_record,
    write_audit_index,
    write_clip_audit,
)
from seraudit.xai.audit.clip_identity import ClipSpec, clip_id_for


@pytest.fixture()
def audit_dir(tmp_path):
    """An audit folder holding one clip record (no attributions: just the sound and the predictions) and its index."""
    path = "/data/Actor_01/03-01-05-01-02-01-01.wav"
    audit = ClipAudit(
        spec=ClipSpec(path, "angry", "ravdess_01"), clip_id=clip_id_for(path),
        predictions={"yamnet": {"label": "angry", "probabilities": {"angry": 0.75, "sad": 0.25}}},
        attributions=[], faithfulness={}, agreement={}, duration_s=0.5,
        egemaps_deviation=[{"feature": "loudness_sma3_amean", "z": 2.5}],
    )
    features = SimpleNamespace(audio=SimpleNamespace(waveform=0.1 * np.sin(np.arange(8000) / 5.0)))
    out = tmp_path / "audit"
    record = write_clip_audit(audit, features, clip_dir(out, audit.clip_id), {}, cache="key-1")
    write_audit_index(out, {"title": "t", "clips": [clip_entry(record)]}, [{"clip": record["id"], "seconds": 1.0}])
    return out


def test_a_clip_record_reads_back_as_written(audit_dir):
    index = read_audit_index(audit_dir)
    assert index["format_version"] == AUDIT_FORMAT_VERSION and index["title"] == "t"
    (entry,) = index["clips"]
    assert entry["dir"] == f"clips/{entry['id']}" and entry["id"].startswith("03-01-05-01-02-01-01-")
    record = read_clip_record(audit_dir, entry)
    assert record["true_label"] == "angry" and record["speaker"] == "ravdess_01" and record["cache_key"] == "key-1"
    assert record["predictions"]["yamnet"]["probabilities"] == {"angry": 0.75, "sad": 0.25}
    assert record["egemaps_deviation"][0]["z"] == 2.5
    audio, rate = sf.read(audit_dir / entry["dir"] / record["original"])
    assert rate == 16000 and audio.size == 8000
    assert json.loads((audit_dir / "metrics.json").read_text())["rows"] == [{"clip": entry["id"], "seconds": 1.0}]
    assert not list(audit_dir.rglob("*.part"))


@pytest.mark.parametrize("which", ["index", "clip"])
def test_another_format_version_is_refused_with_the_fix(audit_dir, which):
    index = json.loads((audit_dir / "audit.json").read_text())
    path = audit_dir / "audit.json" if which == "index" else audit_dir / index["clips"][0]["dir"] / "clip.json"
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "format_version": 2}))
    with pytest.raises(RunError, match=r"format version 2, this version reads 1; run `seraudit explain"):
        read_clip_record(audit_dir, read_audit_index(audit_dir)["clips"][0])


def test_a_folder_without_an_index_says_how_to_create_one(tmp_path):
    with pytest.raises(RunError, match=f"audit index {tmp_path / 'audit.json'} does not exist; run `seraudit explain"):
        read_audit_index(tmp_path)


def sequential_clip_folder(audit, features, folder, shown):
    """The clip folder written one file after the other, straight from the renderers: the reference for `ClipWriter`."""
    from seraudit.core.naming import slug
    from seraudit.xai.audit.folder import clip_record, method_entry
    from seraudit.xai.explainers.heard import heard_frames
    from seraudit.xai.render.audio import render_attribution_audio, write_wav
    from seraudit.xai.render.image import image_name, plot_faithfulness_curves, plot_overlay, plot_time_profiles

    record = clip_record(audit, features, "key")
    write_wav(folder / "original.wav", np.asarray(features.audio.waveform, np.float32))
    for a in audit.attributions:
        out = folder / slug(a.model)
        npz = a.save(out / f"{slug(a.method)}.npz")
        sound = render_attribution_audio(a, np.asarray(features.audio.waveform, np.float32), out,
                                         clip_name=audit.clip_id, heard=heard_frames(features))
        overlay = plot_overlay(a, features.log_mel, out / image_name(audit.clip_id, a.model, a.method, "overlay"),
                               model=shown)
        rel = lambda p: p.relative_to(folder).as_posix()  # noqa: E731
        files = {"attribution": rel(npz), "overlay": rel(overlay), "excerpt": rel(sound.excerpt) if sound.excerpt else None,
                 "excerpt_regions_s": [list(r) for r in sound.regions], "listened": rel(sound.listened),
                 "ignored": rel(sound.ignored), "renders": sound.record()}
        record["methods"].setdefault(a.model, {})[a.method] = method_entry(audit, a, files)
    model = audit.attributions[0].model
    profile = plot_time_profiles(audit.attributions, folder / slug(model) / image_name(audit.clip_id, model, "all",
                                                                                      "time_profile"), model=shown)
    record["time_profile"][model] = profile.relative_to(folder).as_posix()
    curves = folder / slug(model) / image_name(audit.clip_id, model, "all", "faithfulness")
    plot_faithfulness_curves({a.method: audit.curves[(model, a.method)] for a in audit.attributions}, curves, model=shown)
    record["faithfulness_curves"][model] = curves.relative_to(folder).as_posix()
    return json.loads(json.dumps(record, default=str))


@pytest.mark.parametrize("workers", [1, 0])
def test_a_clip_written_while_it_is_computed_holds_the_files_and_record_written_one_after_the_other(
        tone_model, tone_clip, tmp_path, workers):
    from seraudit.core.io import read_json
    from seraudit.xai.attribution import Attribution
    from seraudit.xai.audit.compute import audit_clip
    from seraudit.xai.audit.folder import ClipWriter
    from seraudit.xai.audit.runner import AuditSettings

    settings = AuditSettings(methods=("gradcam", "gradcam++", "occlusion"), probe=False, faithfulness_steps=2,
                             faithfulness_random=1)
    spec = ClipSpec("/data/tone.wav")
    handed = []
    with ClipWriter(tmp_path / "fast", tone_clip, {}, clip_id_for(spec.path), cache="key", workers=workers) as writer:
        def explained(own):
            handed.append([a.method for a in own])
            writer.explained(own)
        audit = audit_clip([tone_model], tone_clip, spec, settings, explained=explained)
        record = writer.finish(audit)
    assert handed == [["gradcam", "gradcam++", "occlusion"]]  # before the metrics, one call per model
    (tmp_path / "reference").mkdir()
    reference = sequential_clip_folder(audit, tone_clip, tmp_path / "reference", "ensemble")

    assert json.loads(json.dumps(record, default=str)) == reference
    assert read_json(tmp_path / "fast" / "clip.json", "clip record", "") == reference
    files = sorted(p.relative_to(tmp_path / "fast") for p in (tmp_path / "fast").rglob("*") if p.is_file())
    assert files == sorted([*(p.relative_to(tmp_path / "reference") for p in (tmp_path / "reference").rglob("*")
                              if p.is_file()), type(files[0])("clip.json")])
    for path in files:
        if path.suffix == ".npz":  # a zip stamps its members with the time they were written
            fast, ref = Attribution.load(tmp_path / "fast" / path), Attribution.load(tmp_path / "reference" / path)
            np.testing.assert_array_equal(fast.clip_map, ref.clip_map)
        elif path.name != "clip.json":
            assert (tmp_path / "fast" / path).read_bytes() == (tmp_path / "reference" / path).read_bytes(), path
    assert not list(tmp_path.glob(".*.part"))


def test_a_clip_that_fails_while_its_files_are_written_leaves_no_folder(tone_model, tone_clip, tmp_path):
    from seraudit.xai.audit.folder import ClipWriter
    from seraudit.xai.explainers.gradcam import GradCAM

    attribution = GradCAM().explain(tone_model, tone_clip, 1)
    with pytest.raises(RuntimeError, match="metric broke"):
        with ClipWriter(tmp_path / "clip", tone_clip, {}, "clip") as writer:
            writer.explained([attribution])
            raise RuntimeError("metric broke")
    assert not (tmp_path / "clip").exists() and not list(tmp_path.iterdir())
