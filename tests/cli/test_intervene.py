"""`seraudit intervene`: end to end on a run with a real (untrained) YAMNet model, a RAVDESS clip, hiss and a broken file."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import soundfile as sf

from seraudit.cli.commands import intervene

LABELS = ["neutral", "happy", "sad"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    intervene.add_parser(parser.add_subparsers())
    return parser


@pytest.fixture(scope="module")
def yamnet_run(tmp_path_factory, untrained_yamnet_run):
    return untrained_yamnet_run(tmp_path_factory.mktemp("runs") / "yamnet", LABELS)


def test_intervene_writes_the_verified_variants_and_goes_on_past_bad_clips(yamnet_run, ravdess_clips, tmp_path, capsys):
    hiss = tmp_path / "hiss.wav"
    sf.write(hiss, np.random.default_rng(0).normal(0, 0.05, 16000), 16000)
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF nonsense")
    voice = str(ravdess_clips[0])
    out = tmp_path / "out"
    args = _parser().parse_args(["intervene", str(yamnet_run), voice, str(hiss), str(broken), "--out", str(out),
                                 "--features", "f0_level,intensity", "--cache-dir", str(tmp_path / "cache"), "--quiet"])
    capsys.readouterr()
    assert args.func(args) == 3  # some clips failed (the broken file), the others done
    printed = capsys.readouterr()
    assert "failed:" in printed.err and "broken.wav" in printed.err
    assert "too little pitch" in printed.out  # hiss: its note, no F0 variants
    result = json.loads((out / "interventions.json").read_text())
    assert [p["key"] for p in result["plan"]] == ["identity", "f0_level_-4", "f0_level_-2", "f0_level_+2",
                                                  "f0_level_+4", "intensity_-6", "intensity_+6"]
    clip = next(c for c in result["clips"] if c["path"] == voice)
    assert clip["predictions"]["yamnet"]["explained_by"]["text"] == "final model; not a corpus clip"
    kept = [v for v in clip["variants"] if v["accepted"]]
    assert kept, [v["reason"] for v in clip["variants"]]
    for v in kept:
        assert (out / v["audio"]).is_file() and v["key"] in clip["predictions"]["yamnet"]["variants"]
        assert abs(v["intended"]["value"] - v["intended"]["target"]) <= v["intended"]["tolerance"]
    for v in clip["variants"]:
        assert v["accepted"] or v["reason"]  # a rejected variant says why
    identity = next(r for r in result["dose_response"]["identity"] if r["emotion"] == "all")
    assert identity["n_clips"] == 2 and 0 <= identity["flip_rate"] <= 1


def test_an_unknown_feature_is_refused_with_the_known_ones(yamnet_run, tmp_path):
    from seraudit.core.errors import SerauditError

    args = _parser().parse_args(["intervene", str(yamnet_run), "a.wav", "--out", str(tmp_path), "--features", "pitch"])
    with pytest.raises(SerauditError, match="unknown intervention feature.*'pitch'.*f0_level, f0_range"):
        args.func(args)
