"""`seraudit predict`: emotion label and class probabilities of audio files, per model of a trained run."""

from __future__ import annotations

import argparse

from seraudit.cli.flags import cli_words
from seraudit.cli.options import add_engine, add_max_duration, add_quiet, add_require_speech, make_engine


def copies(text: str) -> int:
    """`--tta`'s value: a whole number of augmented copies, 0 or more."""
    try:
        n = int(text)
    except ValueError:
        n = -1
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected a number of copies, 0 or more (0: off), got {text!r}")
    return n


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "predict", help="predict the emotion of audio files with every model of a run",
        description="One row per file and model. A file that cannot be used gets one row with the reason in the "
        "`error` column and the batch goes on; exit status 0 when every file was predicted, 3 when some failed, "
        "2 when none could be.")
    p.add_argument("run_dir", metavar="RUN", help="run directory written by `seraudit train`")
    p.add_argument("audio", metavar="AUDIO", nargs="+", help="audio files (wav, flac)")
    p.add_argument("--models", default=None, help="comma-separated subset of the run's models (default: all)")
    p.add_argument("--format", choices=("csv", "json"), default="csv")
    p.add_argument("--tta", type=copies, default=0, metavar="N",
                   help="test-time augmentation: also predict N augmented copies of each clip (gain, shift, faint noise) "
                        "and pool them; the eGeMAPS baseline ignores it (default: 0, off)")
    p.add_argument("--seed", type=int, default=0, help="seed of the --tta copies (default: 0)")
    add_require_speech(p)
    add_max_duration(p)
    add_quiet(p)
    add_engine(p)
    p.set_defaults(func=run)


def run(args) -> int:
    import json
    import sys

    from seraudit.core.errors import batch_status
    from seraudit.ensemble.inference.prediction import failed_records, predictions_table
    from seraudit.ensemble.run import Run

    models = [m.strip() for m in args.models.split(",")] if args.models else None
    engine = make_engine(args)
    run = Run.open(args.run_dir)
    options = dict(tta=args.tta, seed=args.seed, require_speech=args.require_speech, max_duration_s=args.max_duration)
    records = engine.predict_files(run, args.audio, models, **options)
    if args.format == "json":
        print(json.dumps(records, indent=2))
    else:
        predictions_table(records).to_csv(sys.stdout, index=False, float_format="%.4f")
    failed = failed_records(records)
    for record in failed:
        print(f"seraudit predict: failed: {record['path']}: {cli_words(record['error'])}", file=sys.stderr)
    warned = {r["path"]: r["warning"] for r in records if r.get("warning") and not r.get("error")}
    for path, warning in warned.items():
        print(f"seraudit predict: warning: {path}: {warning}", file=sys.stderr)
    bad_files = {r["path"] for r in failed}
    return batch_status(len(set(map(str, args.audio)) - bad_files), len(bad_files))
