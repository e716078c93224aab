"""The command line lists every sub-command and its help works without loading TensorFlow."""

import subprocess
import sys

from seraudit.cli import COMMAND_MODULES, build_parser


def test_help_lists_every_subcommand():
    help_text = build_parser().format_help()
    for name in COMMAND_MODULES:
        assert name.replace("_", "-") in help_text


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
