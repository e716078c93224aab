"""`seraudit selftest`: its defaults (the shared RAVDESS slice, YAMNet, both plants), the lines it prints and its exit
status (non-zero when a plant is missed or the control looks planted). The selftest itself is tested in
tests/xai/selftest; here `run_selftest` is replaced by a recorder so the command is checked in milliseconds."""

from __future__ import annotations

import argparse

import pytest

from seraudit.cli.commands import selftest as command
from seraudit.core.paths import shared_dir


def parse(argv):
    parser = argparse.ArgumentParser(prog="seraudit")
    command.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["selftest", *argv])


class FakeResult:
    def __init__(self, passed: bool):
        self.passed, self.clips, self.speakers, self.emotions, self.seconds = passed, 93, 6, ["calm", "sad"], 12.0
        self.failures = []

    def lines(self):
        return ["tone (yamnet, on calm, -10 dB re clip RMS): " + ("caught" if self.passed else "missed"),
                "control for tone (yamnet, on calm, -10 dB re clip RMS), unplanted: passes"]

    def to_dict(self):
        return {"passed": self.passed, "lines": self.lines()}


@pytest.fixture()
def calls(monkeypatch):
    import seraudit.xai.selftest.selftest as library

    recorded = []

    def fake(data, corpus, out, **options):
        recorded.append({"data": data, "corpus": corpus, "out": out, **options})
        return FakeResult(recorded[0].get("plants") != ["silence"])

    monkeypatch.setattr(library, "run_selftest", fake)
    return recorded


def test_the_defaults_are_the_shared_ravdess_slice_yamnet_and_both_plants(calls, capsys):
    assert command.run(parse([])) == 0
    (call,) = calls
    assert call["data"] == shared_dir() / "data" / "ravdess" and call["corpus"] == "ravdess"
    assert call["plants"] == ["tone", "silence"] and call["models"] == ["yamnet"]
    assert call["speakers"] == ["01", "02", "03", "04", "05", "06"] and call["emotions"] == ["calm", "sad"]
    assert call["max_clips"] is None and call["emotion"] is None
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("selftest on 93 clips (6 speakers; calm, sad)")
    assert out[1].endswith(": caught") and out[2].endswith("unplanted: passes")


def test_a_missed_plant_gives_a_non_zero_exit_status(calls, capsys):
    assert command.run(parse(["--plants", "silence", "--speakers", "all", "--max-clips", "40"])) == 1
    assert calls[0]["speakers"] is None and calls[0]["max_clips"] == 40
    assert capsys.readouterr().out.splitlines()[1].endswith(": missed")
