"""The command line's words for the library's: an argument named in an error becomes the flag that sets it.

Library errors speak to Python callers: an argument in backticks (`` `allow_untrained` ``,
`` `models=["yamnet"]` ``) and a call in backticks (`` `seraudit.train(..., out="runs/r")` ``).
The command line prints the same message with the flags and commands a shell user types
(``--allow-untrained``, ``--models yamnet``, ``seraudit train ... --out runs/r``), so each
fix is written once, in the library, and reads right in both places.
"""

from __future__ import annotations

import argparse
import ast
import functools
import re
from typing import Mapping

#: Library arguments whose flag has another name (`TrainSettings` fields the train command sets).
ALIASES = {"aux_tasks": "--multitask", "augment_copies": "--augment", "n_boot": "--bootstrap",
           "fine_tune_backbone_lr_ratio": "--backbone-lr-ratio", "mixup_alpha": "--mixup",
           "max_duration_s": "--max-duration", "per_emotion": "--per-emotion", "address": "--ray-address"}

ARGUMENT = re.compile(r"`([a-z][a-z0-9_]*)(?:=([^`]*))?`")
CALL = re.compile(r"`seraudit\.([a-z][a-z0-9_]*)\(([^`]*)\)`")


def parser_flags(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Argument name -> its long flag, over the parser and every sub-command (``allow_untrained`` -> ``--allow-untrained``)."""
    flags: dict[str, str] = dict(ALIASES)
    for action in parser._actions:
        longs = [o for o in action.option_strings if o.startswith("--")]
        if longs and action.dest not in flags:
            flags[action.dest] = longs[0]
        for sub in (action.choices or {}).values() if isinstance(action, argparse._SubParsersAction) else ():
            for name, flag in parser_flags(sub).items():
                flags.setdefault(name, flag)
    return flags


def shell_value(text: str) -> str:
    """A Python literal as a flag value: lists comma-joined, strings unquoted, ``...`` kept."""
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError):
        return text.strip()
    if isinstance(value, (list, tuple)):
        return ",".join("..." if v is Ellipsis else str(v) for v in value)
    return "..." if value is Ellipsis else str(value)


def _flag(name: str, flags: Mapping[str, str]) -> str:
    return flags.get(name, "--" + name.replace("_", "-"))


def _call(match: re.Match, flags: Mapping[str, str]) -> str:
    words = ["seraudit", match.group(1).replace("_", "-")]
    for part in (p.strip() for p in re.split(r",\s*(?![^\[\(]*[\]\)])", match.group(2)) if p.strip()):
        name, sep, value = part.partition("=")
        words += [_flag(name.strip(), flags), shell_value(value)] if sep else [part]
    return "`" + " ".join(words) + "`"


def with_flags(message: str, flags: Mapping[str, str]) -> str:
    """`message` with its backticked calls and arguments written as command lines and flags.

    A backticked name that is no argument of any command (a file, a Python name) is left as it is.
    """
    message = CALL.sub(lambda m: _call(m, flags), message)

    def argument(match: re.Match) -> str:
        name, value = match.group(1), match.group(2)
        if name not in flags:
            return match.group(0)
        return flags[name] if value is None else f"{flags[name]} {shell_value(value)}"

    return ARGUMENT.sub(argument, message)


@functools.cache
def command_line_flags() -> dict[str, str]:
    """`parser_flags` of the whole `seraudit` command line (built once)."""
    from seraudit.cli.parser import build_parser

    return parser_flags(build_parser())


def cli_words(message: str) -> str:
    """`message` (a library error, e.g. a clip's recorded failure) as the command line says it: with its flags."""
    return with_flags(message, command_line_flags())
