"""`seraudit report`: write the HTML report of a run and its audit (reads saved artefacts only)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "report",
        help="write the HTML report (index, one page per clip and per model)",
        description=(
            "Build the report from a trained run and an audit folder (`seraudit explain`). Nothing is "
            "recomputed. The folder opens offline and survives being zipped; --self-contained writes one "
            "HTML file with every image and sound inlined."
        ),
    )
    parser.add_argument("run", type=Path, help="trained run directory")
    parser.add_argument("--audit", type=Path, required=True, help="audit folder written by `seraudit explain`")
    parser.add_argument("--out", type=Path, required=True, help="report folder to write (replaced)")
    parser.add_argument("--self-contained", action="store_true", help="one HTML file with everything inlined")
    parser.add_argument("--title", default=None, help="report title")
    parser.add_argument("--redact-paths", action="store_true",
                        help="show file names only (default: paths relative to the corpus folder; never absolute ones)")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from seraudit.api.reporting import report
    from seraudit.core.errors import EXIT_OK, EXIT_SOME_FAILED
    from seraudit.core.io import read_failures
    from seraudit.xai.audit.folder import read_audit_index

    index = report(args.run, args.audit, args.out, self_contained=args.self_contained, title=args.title,
                         redact_paths=args.redact_paths)
    print(f"report: {index.resolve()}")
    failures = read_audit_index(args.audit).get("failures", []) or read_failures(args.run)
    if failures:
        print(f"{len(failures)} file(s) could not be audited; the report lists them", file=sys.stderr)
    return EXIT_SOME_FAILED if failures else EXIT_OK
