"""`seraudit report`: write the HTML report of a run and its audit (reads saved artefacts only)."""

from __future__ import annotations

import argparse
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
    parser.set_defaults(func=run)
    return parser


def write_report(run_dir: Path, audit_dir: Path, out: Path, *, self_contained: bool = False, title: str | None = None) -> Path:
    """Build the report of `run_dir` + `audit_dir` into `out`; returns the index page."""
    from seraudit.ensemble.run import Run
    from seraudit.reports.build import build_report
    from seraudit.reports.model import load_report, run_summary

    report = load_report(run_summary(Run.open(run_dir)), audit_dir, run_dir=str(run_dir), title=title)
    return build_report(report, out, self_contained=self_contained)


def run(args: argparse.Namespace) -> int:
    index = write_report(args.run, args.audit, args.out, self_contained=args.self_contained, title=args.title)
    print(f"report: {index.resolve()}")
    return 0
