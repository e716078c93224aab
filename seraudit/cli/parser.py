"""The `seraudit` argument parser: the sub-commands in `--help` order, and the version line."""

from __future__ import annotations

import argparse
import importlib

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
    "intervene",
    "selftest",
]


VERSIONED_LIBRARIES = ("tensorflow", "keras", "opensmile")


def version_text() -> str:
    """"seraudit X (TensorFlow a, Keras b, openSMILE c)", read from package metadata without importing them."""
    import importlib.metadata as metadata

    try:
        own = metadata.version("seraudit")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        own = "(not installed)"
    names = {"tensorflow": "TensorFlow", "keras": "Keras", "opensmile": "openSMILE"}
    parts = []
    for package in VERSIONED_LIBRARIES:
        try:
            parts.append(f"{names[package]} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{names[package]} not installed")
    return f"seraudit {own} ({', '.join(parts)})"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seraudit",
        description="Train and audit a VGGish+YAMNet ensemble for speech emotion recognition.",
    )
    parser.add_argument("--version", action="version", version=version_text())
    parser.add_argument("--verbose", action="store_true",
                        help="also show TensorFlow's C++ start-up lines (CUDA probing, CPU-feature notes), hidden by default")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"seraudit.cli.commands.{name}")
        module.add_parser(subparsers)
    return parser
