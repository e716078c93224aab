"""One command-line vocabulary: a shared flag is spelled, parsed and documented the same way in every sub-command."""

from __future__ import annotations

import pytest

from seraudit.cli import COMMAND_MODULES, build_parser
from seraudit.xai.audit.runner import DEFAULT_METHODS, PROBE

WEIGHTS = ("--models-dir", "--allow-untrained", "--no-download")
# Which shared flags each sub-command takes; a command that looks up backbone weights takes the weights flags.
SHARED_FLAGS = {
    "fetch-corpus": {"--quiet"},
    "check-weights": {"--models-dir", "--no-download"},
    "embed": {*WEIGHTS, "--quiet"},
    "train": {*WEIGHTS, "--quiet"},
    "evaluate": set(),
    "compare": set(),
    "predict": {"--quiet"},
    "explain": {"--quiet"},
    "report": set(),
    "audit-all": {*WEIGHTS, "--quiet"},
    "intervene": {"--quiet"},
    "selftest": {"--models-dir"},
}
# The least each sub-command needs to parse.
REQUIRED = {
    "fetch-corpus": ["ravdess"],
    "check-weights": [],
    "embed": ["a.wav", "--out", "e.npz"],
    "train": ["--corpus", "ravdess", "--data", "d", "--out", "r"],
    "evaluate": ["r"],
    "compare": ["r"],
    "predict": ["r", "a.wav"],
    "explain": ["r", "a.wav", "--out", "o"],
    "report": ["r", "--audit", "a", "--out", "o"],
    "audit-all": ["--corpus", "ravdess", "--data", "d", "--out", "r"],
    "intervene": ["r", "a.wav", "--out", "o"],
    "selftest": [],
}
GIVEN = {"--models-dir": ["--models-dir", "X"], "--allow-untrained": ["--allow-untrained", "vggish"],
         "--no-download": ["--no-download"], "--quiet": ["--quiet"]}
PARSED = {"--models-dir": ("models_dir", "X"), "--allow-untrained": ("allow_untrained", ("vggish",)),
          "--no-download": ("no_download", True), "--quiet": ("quiet", True)}
DEFAULTS = {"--models-dir": ("models_dir", None), "--allow-untrained": ("allow_untrained", ()),
            "--no-download": ("no_download", False), "--quiet": ("quiet", False)}


def parse(*argv: str):
    return build_parser().parse_args(list(argv))


def command_help(command: str, capsys) -> str:
    with pytest.raises(SystemExit) as stop:
        parse(command, "--help")
    assert stop.value.code == 0
    return capsys.readouterr().out


def test_every_sub_command_is_covered():
    assert {name.replace("_", "-") for name in COMMAND_MODULES} == set(SHARED_FLAGS)


@pytest.mark.parametrize("command", sorted(c for c, flags in SHARED_FLAGS.items() if flags))
def test_shared_flags_give_the_same_values_in_every_command(command):
    flags = SHARED_FLAGS[command]
    given = parse(command, *REQUIRED[command], *[a for f in sorted(flags) for a in GIVEN[f]])
    assert {f: getattr(given, PARSED[f][0]) for f in flags} == {f: PARSED[f][1] for f in flags}
    default = parse(command, *REQUIRED[command])
    assert {f: getattr(default, DEFAULTS[f][0]) for f in flags} == {f: DEFAULTS[f][1] for f in flags}


@pytest.mark.parametrize("command", sorted(SHARED_FLAGS))
def test_help_of_each_command_lists_its_shared_flags_and_no_other(command, capsys):
    text = command_help(command, capsys)
    assert {f for f in PARSED if f in text} == SHARED_FLAGS[command]


@pytest.mark.parametrize("command", sorted(c for c, flags in SHARED_FLAGS.items() if "--allow-untrained" in flags))
def test_an_unknown_backbone_is_refused_naming_the_valid_ones(command, capsys):
    with pytest.raises(SystemExit) as stop:
        parse(command, *REQUIRED[command], "--allow-untrained", "vggish,nonsense")
    assert stop.value.code == 2
    error = capsys.readouterr().err
    assert "--allow-untrained" in error and "'nonsense'" in error
    assert "yamnet" in error and "vggish" in error


@pytest.mark.parametrize(("text", "backbones"), [
    ("", ()),  # `make audit` without ALLOW_UNTRAINED passes an empty list: none
    ("vggish", ("vggish",)),
    ("yamnet, VGGish,vggish", ("yamnet", "vggish")),
])
def test_allow_untrained_takes_a_comma_list_of_backbones(text, backbones):
    assert parse("audit-all", *REQUIRED["audit-all"], "--allow-untrained", text).allow_untrained == backbones


def test_explain_and_the_main_job_default_to_the_library_methods_plus_probing():
    expected = ",".join((*DEFAULT_METHODS, PROBE))
    assert parse("explain", *REQUIRED["explain"]).methods == expected
    assert parse("audit-all", *REQUIRED["audit-all"]).methods == expected


def test_the_old_no_progress_spelling_is_gone(capsys):
    with pytest.raises(SystemExit):
        parse("explain", *REQUIRED["explain"], "--no-progress")
    assert "unrecognized arguments: --no-progress" in capsys.readouterr().err
