"""`seraudit predict`: emotion label and class probabilities of audio files, per model of a trained run."""

from __future__ import annotations

import argparse

from seraudit.cli.options import add_engine, add_quiet, make_engine


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
    p = subparsers.add_parser("predict", help="predict the emotion of audio files with every model of a run")
    p.add_argument("run_dir", metavar="RUN", help="run directory written by `seraudit train`")
    p.add_argument("audio", metavar="AUDIO", nargs="+", help="audio files (wav, flac)")
    p.add_argument("--models", default=None, help="comma-separated subset of the run's models (default: all)")
    p.add_argument("--format", choices=("csv", "json"), default="csv")
    p.add_argument("--tta", type=copies, default=0, metavar="N",
                   help="test-time augmentation: also predict N augmented copies of each clip (gain, shift, faint noise) "
                        "and pool them; the eGeMAPS baseline ignores it (default: 0, off)")
    p.add_argument("--seed", type=int, default=0, help="seed of the --tta copies (default: 0)")
    add_quiet(p)
    add_engine(p)
    p.set_defaults(func=run)


def run(args) -> int:
    import json
    import sys

    from seraudit.ensemble.prediction import predict_files, predictions_table
    from seraudit.ensemble.run import Run

    models = [m.strip() for m in args.models.split(",")] if args.models else None
    engine = make_engine(args)
    run = Run.open(args.run_dir)
    if engine is not None:
        records = engine.predict_files(run, args.audio, models, tta=args.tta, seed=args.seed)
    else:
        records = predict_files(run, args.audio, models, progress=not args.quiet, tta=args.tta, seed=args.seed)
    if args.format == "json":
        print(json.dumps(records, indent=2))
    else:
        predictions_table(records).to_csv(sys.stdout, index=False, float_format="%.4f")
    return 0
