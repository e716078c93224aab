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
