"""The command line lists every sub-command and its help works without loading TensorFlow."""

import argparse
import re
import subprocess
import sys
from pathlib import Path

from seraudit.cli import build_parser

# The sub-commands the README documents, in its order (the command table under "The command line").
DOCUMENTED_COMMANDS = ["fetch-corpus", "check-weights", "embed", "train", "evaluate", "compare", "predict", "explain",
                       "report", "audit-all", "intervene", "selftest"]
README = Path(__file__).resolve().parents[2] / "README.md"


def test_help_lists_every_subcommand():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert list(subparsers.choices) == DOCUMENTED_COMMANDS
    listed = re.findall(r"^ {4}(\S+)", parser.format_help().split("COMMAND")[-1], flags=re.MULTILINE)
    assert listed == DOCUMENTED_COMMANDS


def test_the_readme_documents_the_same_subcommands():
    table = README.read_text().split("## The command line", 1)[1].split("\n\n|", 1)[1].split("\n\n", 1)[0]
    documented = list(dict.fromkeys(re.findall(r"`seraudit ([a-z-]+)", table)))
    assert documented == DOCUMENTED_COMMANDS


def test_help_does_not_import_tensorflow():
    code = "import sys; from seraudit.cli import build_parser; build_parser(); print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_tensorflows_false_retracing_advice_is_not_shown_but_other_warnings_are(caplog):
    import logging

    import pytest

    from seraudit.cli import main

    with pytest.raises(SystemExit):
        main(["explain", "--help"])
    logger = logging.getLogger("tensorflow")
    try:
        with caplog.at_level(logging.WARNING, logger="tensorflow"):
            logger.warning("5 out of the last 5 calls to <function f> triggered tf.function retracing. Tracing is ...")
            logger.warning("something the user must see")
        assert [r.getMessage() for r in caplog.records] == ["something the user must see"]
    finally:
        logger.filters.clear()
