"""The local engine answers the Ray engine's calls with the same parameters, so a caller picks an engine once."""

from __future__ import annotations

import inspect

from seraudit.cli.parser import build_parser
from seraudit.cli.options import make_engine
from seraudit.xai.engines.local import LocalEngine
from seraudit.xai.engines.ray_engine import RayEngine


def test_the_engines_share_one_call_shape():
    for call in ("audit_clips", "predict_files", "embed_files"):
        local = list(inspect.signature(getattr(LocalEngine, call)).parameters)
        ray = list(inspect.signature(getattr(RayEngine, call)).parameters)
        assert local == ray, call


def test_the_command_line_picks_the_local_engine_by_default():
    args = build_parser().parse_args(["predict", "run", "a.wav", "--require-speech"])
    engine = make_engine(args)
    assert isinstance(engine, LocalEngine)
    assert engine.clip_options == {"require_speech": True}


def test_an_audit_with_no_pending_clip_computes_nothing():
    assert list(LocalEngine(progress=False).audit_clips(None, [], None, "out", [], None)) == []
