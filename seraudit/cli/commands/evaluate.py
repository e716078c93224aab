"""`seraudit evaluate`: the cross-validation metrics of a trained run (UAR headline, per model; calibration error;
late-fusion weights per fold and final; every pair of models compared)."""

from __future__ import annotations


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("evaluate", help="metrics of a trained run (UAR, accuracy, macro-F1, ECE, fusion weights, comparisons)")
    p.add_argument("run_dir", metavar="RUN", help="run directory written by `seraudit train`")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--bootstrap", type=int, default=None, help="recompute comparisons with this many bootstrap resamples")
    p.set_defaults(func=run)


def run(args) -> int:
    import json

    from seraudit.ensemble.evaluation.scoring import comparison_table, load_results
    from seraudit.ensemble.run import Run

    results = load_results(Run.open(args.run_dir), args.bootstrap)
    if args.json:
        print(json.dumps(results, indent=2, sort_keys=True))
    else:
        print(comparison_table(results, f"{results.get('corpus_display', '')}: speaker-independent cross-validation"))
    return 0
