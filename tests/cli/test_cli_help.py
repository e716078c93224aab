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
