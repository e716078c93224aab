"""The `seraudit` command line, the top layer: a thin dispatcher over `seraudit.cli.commands.*`."""

from __future__ import annotations

import contextlib
import logging
import sys

from seraudit.cli.parser import COMMAND_MODULES, build_parser, version_text  # noqa: F401 (the command line's names)


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
    from seraudit.cli.native_logs import quiet_native_logs

    verbose = "--verbose" in (sys.argv[1:] if argv is None else argv)
    args = parser = None
    try:  # parsing imports the commands (and so TensorFlow): its start-up lines are filtered from the start
        with contextlib.nullcontext() if verbose else quiet_native_logs():
            parser = build_parser()
            args = parser.parse_args(argv)
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # user-facing errors carry their own fix; no traceback noise
        from seraudit.core.errors import SerauditError

        if isinstance(error, SerauditError):  # the library names its arguments; the user typed flags
            from seraudit.cli.flags import parser_flags, with_flags

            message = with_flags(str(error), parser_flags(parser)) if parser is not None else str(error)
            print(f"seraudit {getattr(args, 'command', '')}: error: {message}", file=sys.stderr)
            return 2
        raise

