"""`seraudit audit-all`: the main job — train the models, audit a balanced sample of test clips, write the report."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from seraudit.cli.options import add_engine, add_methods, add_quiet, add_weights_options, make_engine
from seraudit.core.errors import RunError
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


TIMINGS_FILE = "timings.json"


def run(args: argparse.Namespace) -> int:
    from seraudit.core.io import read_json, write_json
    from seraudit.core.timing import Timings
    from seraudit.ensemble.training.experiment import run_experiment
    from seraudit.ensemble.training.trainer import TrainSettings
    from seraudit.ensemble.run import Run
    from seraudit.reports.build import write_report
    from seraudit.xai.audit.runner import parse_methods, run_audit
    from seraudit.xai.explainers.registry import with_pooling_attention
    from seraudit.xai.probing.speaker_deviations import deviations_lookup

    timings = Timings()
    progress = not args.quiet
    methods, probe = parse_methods(args.methods)
    engine = make_engine(args)
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
        timings.add("training", 0.0, note="reused")
    else:
        print(f"[1/3] training {', '.join(audit_plan.TRAINED_MODELS)} on {args.corpus} (speaker-independent folds) "
              f"into {run_dir}", file=sys.stderr)
        with timings.time("training") as phase:
            results = run_experiment(settings, run_dir)
            trained_run = Run.open(run_dir)
        phase.parts = training_parts(results.get("seconds", {}))

    chosen = audit_plan.pick_clips(trained_run.predictions, args.per_emotion)
    specs = audit_plan.clip_specs(chosen)
    models = trained_run.models(audit_plan.AUDITED_MODELS)
    methods = with_pooling_attention(methods, models)
    print(f"[2/3] auditing {len(specs)} test clips ({args.per_emotion} per emotion) with {', '.join(methods)}"
          f"{' + eGeMAPS probing' if probe else ''}", file=sys.stderr)
    deviations, probing = None, None
    if probe:
        with timings.time("eGeMAPS deviations and probing"):
            deviations = deviations_lookup(trained_run, specs)
            try:
                from seraudit.xai.probing.run_probing import probe_run

                probing = probe_run(trained_run, settings.models_dir, progress)
            except ValueError as error:  # e.g. too few speakers per emotion in a quick run: the audit goes on
                print(f"  eGeMAPS probing skipped: {error}", file=sys.stderr)
    audit_dir = run_dir / audit_plan.AUDIT_DIR
    with timings.time("audit") as phase:
        index = run_audit(models, specs, audit_dir, audit_plan.fast_settings(methods, probe, args.sanity),
                          deviations=deviations, probing=probing, run=trained_run, title=title, progress=progress,
                          failures=trained_run.failures, engine=engine)
    rows = read_json(audit_dir / "metrics.json", "audit metrics").get("rows", [])
    phase.parts, phase.note = audit_parts(phase.seconds, rows, index)
    print("[3/3] writing the report", file=sys.stderr)
    with timings.time("report"):
        page = write_report(run_dir, audit_dir, run_dir / audit_plan.REPORT_DIR, title=title, redact_paths=args.redact_paths)
        if args.self_contained:
            write_report(run_dir, audit_dir, run_dir / audit_plan.SELF_CONTAINED_REPORT_DIR, self_contained=True, title=title,
                         redact_paths=args.redact_paths)
    statuses = [c["status"] for c in index.get("checks", [])]
    print("verdict: " + ", ".join(f"{statuses.count(s)} {s}" for s in ("pass", "warn", "fail"))
          + " (audit.json \"checks\"; the report's index lists them)", file=sys.stderr)
    for failure in index["failures"]:
        print(f"  {failure.get('stage') or 'audit'} failed for {failure['clip']}: {failure['error']}", file=sys.stderr)
    write_json(run_dir / TIMINGS_FILE, timings.to_dict())
    print(f"where the time went (also in {run_dir / TIMINGS_FILE}):\n{timings.table()}", file=sys.stderr)
    print(f"report index: {page.resolve()}")
    from seraudit.core.errors import EXIT_OK, EXIT_SOME_FAILED

    return EXIT_SOME_FAILED if index["failures"] else EXIT_OK


def training_parts(seconds: dict) -> list[tuple[str, float]]:
    """Feature extraction, cross-validation and the final models, from the run's own clock."""
    if not seconds:
        return []
    prepare, cv, total = seconds.get("prepare", 0.0), seconds.get("cross_validation", 0.0), seconds.get("total", 0.0)
    return [("layer features + eGeMAPS (cached after the first run)", prepare), ("cross-validation", cv),
            ("final models + run folder", max(total - prepare - cv, 0.0))]


def audit_parts(wall: float, rows: list[dict], index: dict) -> tuple[list[tuple[str, float]], str]:
    """Explanation time per model and method (as measured for each map), sanity check, and the rest of the audit."""
    explained: dict[tuple[str, str], float] = {}
    for row in rows:
        key = (row["model"], row["method"])
        explained[key] = explained.get(key, 0.0) + float(row.get("seconds") or 0.0)
    parts = [(f"explain {method}, {model}", seconds) for (model, method), seconds in sorted(explained.items())]
    sanity = float((index.get("sanity") or {}).get("seconds") or 0.0)
    if sanity:
        parts.append(("sanity check (model randomisation)", sanity))
    reused = int(index.get("reused") or 0)
    if reused:
        return parts, f"{reused} clip(s) reused: their explanation times are the ones recorded when they were computed"
    parts.append(("faithfulness curves, renders, writing", max(wall - sum(explained.values()) - sanity, 0.0)))
    return parts, ""
