"""`seraudit compare`: every pair of a run's models on the same clips (UAR CI and McNemar p-value), with the late-fusion
weights and each model's calibration error."""

from __future__ import annotations


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("compare", help="every pair of models: table with bootstrap CIs and McNemar p-values; fusion weights; ECE")
    p.add_argument("run_dir", metavar="RUN", help="run directory written by `seraudit train`")
    p.set_defaults(func=run)


def run(args) -> int:
    from seraudit.core.errors import RunError
    from seraudit.ensemble.evaluation.scoring import comparison_table, load_results
    from seraudit.ensemble.run import RUN_MODELS, Run

    results = load_results(Run.open(args.run_dir))
    if not results["comparisons"]:
        raise RunError(f"{args.run_dir} has fewer than two models to compare; train with `--models {','.join(RUN_MODELS)}`")
    gds = results.get("gds", {})
    gds_text = f"GDS {gds['threshold']:g}" if gds.get("enabled") else "no GDS"
    print(comparison_table(results, f"{results.get('corpus_display', '')}, {gds_text}: speaker-independent cross-validation"))
    return 0
