"""`seraudit audit-all`: the main job (`seraudit.api.main_job`) — train, audit a balanced sample, write the report.

Parse the flags, call the library, print the verdict, the failures and where the time went.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from seraudit.cli.flags import cli_words
from seraudit.cli.options import add_engine, add_methods, add_quiet, add_weights_options, make_engine
from seraudit.xai.audit import plan as audit_plan


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "audit-all",
        help="train, audit a balanced sample of test clips and write the report (the main job)",
        description=(
            "Train the ensemble, YAMNet, VGGish and the eGeMAPS baseline with speaker-independent folds, "
            "pick a balanced handful of test clips per emotion from the cross-validation predictions "
            "(the ensemble's mistakes included), explain them with every method and write the HTML report. "
            "A second run reuses the trained run, the embedding cache and the audited clips."
        ),
    )
    parser.add_argument("--corpus", required=True, help="corpus layout (ravdess, emodb, ..., manifest)")
    parser.add_argument("--data", required=True, type=Path, help="corpus folder (or manifest CSV)")
    parser.add_argument("--out", required=True, type=Path, help="run folder: the trained run, audit/ and report/")
    add_weights_options(parser)
    parser.add_argument("--per-emotion", type=int, default=audit_plan.DEFAULT_PER_EMOTION,
                        help=f"clips audited per emotion (default: {audit_plan.DEFAULT_PER_EMOTION})")
    add_methods(parser)
    parser.add_argument("--sanity", type=int, default=audit_plan.DEFAULT_SANITY_CLIPS,
                        help=f"clips for the model-randomisation check (default: {audit_plan.DEFAULT_SANITY_CLIPS})")
    parser.add_argument("--no-interventions", action="store_true",
                        help="skip the acoustic interventions (F0, range, intensity, rate, tilt resynthesised and "
                        "verified); the shortcut battery still runs")
    parser.add_argument("--max-clips", type=int, default=None, help="train on at most N clips (quick runs)")
    parser.add_argument("--self-contained", action="store_true", help="also write report-single/index.html with everything inlined")
    parser.add_argument("--redact-paths", action="store_true", help="the report shows file names only (default: paths "
                        "relative to the corpus folder)")
    parser.add_argument("--strict", action="store_true", help="refuse a corpus with clips that cannot be used (default: "
                        "train on the rest; they are listed in failures.csv and the report, and the exit status is 3)")
    add_quiet(parser)
    add_engine(parser)
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from seraudit.api.main_job import TIMINGS_FILE, main_job
    from seraudit.core.errors import EXIT_OK, EXIT_SOME_FAILED

    job = main_job(args.corpus, args.data, args.out, methods=args.methods, per_emotion=args.per_emotion,
                   sanity=args.sanity, models_dir=args.models_dir, allow_untrained=args.allow_untrained,
                   download=not args.no_download, max_clips=args.max_clips, strict=args.strict,
                   self_contained=args.self_contained, redact_paths=args.redact_paths, progress=not args.quiet,
                   engine=make_engine(args), interventions=not args.no_interventions)
    print(f"explained by: {explained_by_line(job.audit.index)}", file=sys.stderr)
    counts = job.audit.verdict()
    print("verdict: " + ", ".join(f"{n} {status}" for status, n in counts.items())
          + " (audit.json \"checks\"; the report's index lists them)", file=sys.stderr)
    for failure in job.audit.failures:
        print(f"  {failure.get('stage') or 'audit'} failed for {failure['clip']}: {cli_words(failure['error'])}",
              file=sys.stderr)
    print(f"where the time went (also in {args.out / TIMINGS_FILE}):\n{job.timings.table()}", file=sys.stderr)
    print(f"report index: {job.page.resolve()}")
    return EXIT_SOME_FAILED if job.audit.failures else EXIT_OK


def explained_by_line(index: dict) -> str:
    """How many clips each kind of model explained (held-out fold model, in-sample final model, final model for
    other files), and how many enter the aggregates."""
    source = index.get("explained_by") or {}
    counts = ", ".join(f"{n} {kind}" for kind, n in (source.get("counts") or {}).items()) or "no clip"
    return f"{counts}; {source.get('aggregated', 0)} clip(s) in the summary and checks (in-sample clips are left out)"
