"""The `seraudit` command line, the top layer: a thin dispatcher over `seraudit.cli.commands.*`."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# Sub-command modules, in the order `--help` lists them.
COMMAND_MODULES: list[str] = [
    "fetch_corpus",
    "check_weights",
    "embed",
    "train",
    "evaluate",
    "compare",
    "predict",
    "explain",
    "report",
    "audit_all",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seraudit",
        description="Train and audit a VGGish+YAMNet ensemble for speech emotion recognition.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"seraudit.cli.commands.{name}")
        module.add_parser(subparsers)
    return parser


class _DesignedTracing(logging.Filter):
    """Drops TensorFlow's "triggered tf.function retracing" warning.

    Every model (and every model copy of the sanity check) compiles its own
    functions once; TensorFlow's heuristic counts those first traces as retracing
    and tells the user to fix a loop that does not exist.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


def main(argv: list[str] | None = None) -> int:
    tf_logger = logging.getLogger("tensorflow")
    if not any(isinstance(f, _DesignedTracing) for f in tf_logger.filters):
        tf_logger.addFilter(_DesignedTracing())
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # user-facing errors carry their own fix; no traceback noise
        from seraudit.core.errors import SerauditError

        if isinstance(error, SerauditError):
            print(f"seraudit {args.command}: error: {error}", file=sys.stderr)
            return 2
        raise

