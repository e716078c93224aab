"""A clip's voice against its own speaker's neutral clips, from the corpus the run was trained on."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from seraudit.ensemble.run import Run, write_run
from seraudit.xai.audit.clip_identity import ClipSpec
from seraudit.xai.probing.speaker_deviations import deviations_lookup, egemaps_deviations


@pytest.fixture(scope="module")
def two_actor_run(tmp_path_factory, ravdess_dir):
    """A run trained (on paper) on a RAVDESS folder of two actors: four neutral and two angry clips each."""
    root = tmp_path_factory.mktemp("ravdess")
    for actor in ("Actor_01", "Actor_02"):
        (root / actor).mkdir()
        for clip in [*sorted((ravdess_dir / actor).glob("03-01-01-*.flac")), *sorted((ravdess_dir / actor).glob("03-01-05-01-01-*.flac"))]:
            (root / actor / clip.name).symlink_to(clip)
    info = {"corpus": "ravdess", "data": str(root), "labels": ["neutral", "angry"]}
    run_dir = write_run(root.parent / "run", info, {}, pd.DataFrame({"path": []}), {}, {}, ["neutral", "angry"], None)
    return Run.open(run_dir), root


def test_an_angry_clip_is_scored_against_its_speakers_neutral_clips(two_actor_run):
    run, root = two_actor_run
    angry = root / "Actor_01" / "03-01-05-01-01-01-01.flac"
    table = egemaps_deviations(run, [ClipSpec(str(angry), "angry", "ravdess_01"), ClipSpec(str(root / "x.wav"))], top_k=5)
    assert list(table) == [str(angry)]  # a clip with no known speaker gets no rows
    rows = table[str(angry)]
    assert [r["rank"] for r in rows] == [1, 2, 3, 4, 5]
    assert all(r["speaker"] == "ravdess_01" and r["reference"] == "neutral" and r["n_reference"] == 4 for r in rows)
    assert all(r["status"] == "ok" and r["reference_scale"] > 0 for r in rows)
    z = [abs(r["z"]) for r in rows]
    assert z == sorted(z, reverse=True) and z[0] > 2  # anger is far from this speaker's neutral voice
    json.dumps(rows, allow_nan=False)  # plain JSON: no numpy values, no NaN
    assert all(math.isfinite(r["value"]) for r in rows)


def test_clips_without_a_speaker_need_no_features(two_actor_run):
    run, root = two_actor_run
    assert egemaps_deviations(run, [ClipSpec(str(root / "x.wav"))]) == {}


def test_the_audit_finds_a_clips_rows_by_its_file_however_the_path_is_written(two_actor_run, monkeypatch):
    run, root = two_actor_run
    monkeypatch.chdir(root)
    relative = ClipSpec("Actor_01/03-01-05-01-01-01-01.flac", "angry", "ravdess_01")
    lookup = deviations_lookup(run, [relative])
    rows = lookup(ClipSpec(str(root / relative.path)))
    assert [r["rank"] for r in rows] == list(range(1, 9)) and {r["speaker"] for r in rows} == {"ravdess_01"}
    assert lookup(relative) == rows
    assert lookup(ClipSpec(str(root / "Actor_02" / "03-01-05-01-01-01-02.flac"))) == []  # not among the clips asked for


def test_a_neutral_clip_is_scored_against_the_speakers_three_other_neutral_clips(two_actor_run):
    run, root = two_actor_run
    neutral = sorted((root / "Actor_02").glob("03-01-01-*.flac"))[0]
    rows = egemaps_deviations(run, [ClipSpec(str(neutral), "neutral", "ravdess_02")])[str(neutral)]
    assert rows and all(r["n_reference"] == 3 and r["reference"] == "neutral" for r in rows)
    assert all(abs(r["z"]) < 100 for r in rows)  # the robust scale and its floor: no z of -1541.7
