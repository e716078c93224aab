"""`seraudit evaluate`: the cross-validation metrics of a trained run (UAR headline, per model; ensemble comparisons)."""

from __future__ import annotations


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("evaluate", help="metrics of a trained run (UAR, accuracy, macro-F1, comparisons)")
    p.add_argument("run_dir", metavar="RUN", help="run directory written by `seraudit train`")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--bootstrap", type=int, default=None, help="recompute comparisons with this many bootstrap resamples")
    p.set_defaults(func=run)


def load_results(run_dir: str, n_boot: int | None = None) -> dict:
    """Scores recomputed from the run's saved predictions and fold plan."""
    from seraudit.ensemble.evaluation import evaluate_predictions
    from seraudit.ensemble.run import Run

    run = Run.open(run_dir)
    info = run.provenance
    stored = run.results
    results = evaluate_predictions(
        run.predictions, info["labels"], info["models"],
        n_boot=n_boot or info["settings"].get("n_boot", 2000), seed=info["settings"].get("seed", 0),
    )
    for key in ("corpus", "corpus_display", "gds", "gds_kept_fraction", "fine_tune", "n_clips", "n_speakers", "seconds",
                "cross_corpus", "test_corpus", "test_corpus_display", "shared_labels", "n_train_clips", "metrics_over"):
        if key in stored:
            results[key] = stored[key]
    results["folds"] = run.folds
    return results


def run(args) -> int:
    import json

    from seraudit.ensemble.evaluation import comparison_table

    results = load_results(args.run_dir, args.bootstrap)
    if args.json:
        print(json.dumps(results, indent=2, sort_keys=True))
    else:
        print(comparison_table(results, f"{results.get('corpus_display', '')}: speaker-independent cross-validation"))
    return 0
