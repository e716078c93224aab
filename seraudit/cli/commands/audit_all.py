"""`seraudit audit-all`: the main job — train the models, audit a balanced sample of test clips, write the report."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from seraudit.cli.options import add_methods, add_quiet, add_weights_options
from seraudit.core.errors import RunError
from seraudit.xai import audit_plan


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
    parser.add_argument("--max-clips", type=int, default=None, help="train on at most N clips (quick runs)")
    parser.add_argument("--self-contained", action="store_true", help="also write report-single/index.html with everything inlined")
    parser.add_argument("--redact-paths", action="store_true", help="the report shows file names only (default: paths "
                        "relative to the corpus folder)")
    parser.add_argument("--strict", action="store_true", help="refuse a corpus with clips that cannot be used (default: "
                        "train on the rest; they are listed in failures.csv and the report, and the exit status is 3)")
    add_quiet(parser)
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from seraudit.ensemble.experiment import run_experiment
    from seraudit.ensemble.training import TrainSettings
    from seraudit.ensemble.run import Run
    from seraudit.reports.build import write_report
    from seraudit.xai.audit import parse_methods, run_audit
    from seraudit.xai.speaker_deviations import deviations_lookup

    started = time.perf_counter()
    progress = not args.quiet
    methods, probe = parse_methods(args.methods)
    if not args.data.exists():
        raise RunError(f"corpus folder {args.data} does not exist; pass --data with the {args.corpus} folder")
    settings = TrainSettings(
        corpus=args.corpus, data=os.fspath(args.data.resolve()), models=list(audit_plan.TRAINED_MODELS),
        models_dir=args.models_dir, allow_untrained=args.allow_untrained, download=not args.no_download,
        max_clips=args.max_clips, progress=progress, strict=args.strict,
    )
    run_dir = args.out
    title = f"SERAudit — {args.corpus}"
    trained_run = Run.reusable(run_dir, settings)
    if trained_run is not None:
        print(f"[1/3] reusing the trained run in {run_dir}", file=sys.stderr)
    else:
        print(f"[1/3] training {', '.join(audit_plan.TRAINED_MODELS)} on {args.corpus} (speaker-independent folds) "
              f"into {run_dir}", file=sys.stderr)
        run_experiment(settings, run_dir)
        trained_run = Run.open(run_dir)
    trained = time.perf_counter()

    chosen = audit_plan.pick_clips(trained_run.predictions, args.per_emotion)
    specs = audit_plan.clip_specs(chosen)
    models = trained_run.models(audit_plan.AUDITED_MODELS)
    print(f"[2/3] auditing {len(specs)} test clips ({args.per_emotion} per emotion) with {', '.join(methods)}"
          f"{' + eGeMAPS probing' if probe else ''}", file=sys.stderr)
    deviations, probing = None, None
    if probe:
        deviations = deviations_lookup(trained_run, specs)
        try:
            from seraudit.xai.run_probing import probe_run

            probing = probe_run(trained_run, settings.models_dir, progress)
        except ValueError as error:  # e.g. too few speakers per emotion in a quick run: the audit goes on
            print(f"  eGeMAPS probing skipped: {error}", file=sys.stderr)
    audit_dir = run_dir / audit_plan.AUDIT_DIR
    index = run_audit(models, specs, audit_dir, audit_plan.fast_settings(methods, probe, args.sanity),
                      deviations=deviations, probing=probing, run=trained_run, title=title, progress=progress,
                      failures=trained_run.failures)
    audited = time.perf_counter()
    print("[3/3] writing the report", file=sys.stderr)
    page = write_report(run_dir, audit_dir, run_dir / audit_plan.REPORT_DIR, title=title, redact_paths=args.redact_paths)
    if args.self_contained:
        write_report(run_dir, audit_dir, run_dir / audit_plan.SELF_CONTAINED_REPORT_DIR, self_contained=True, title=title,
                     redact_paths=args.redact_paths)
    for failure in index["failures"]:
        print(f"  {failure.get('stage') or 'audit'} failed for {failure['clip']}: {failure['error']}", file=sys.stderr)
    print(f"timings: training {trained - started:.0f} s, audit {audited - trained:.0f} s "
          f"({index['reused']} clip(s) reused), total {time.perf_counter() - started:.0f} s", file=sys.stderr)
    print(f"report index: {page.resolve()}")
    from seraudit.core.errors import EXIT_OK, EXIT_SOME_FAILED

    return EXIT_SOME_FAILED if index["failures"] else EXIT_OK
