"""`seraudit predict`: emotion label and class probabilities of audio files, per model of a trained run."""

from __future__ import annotations

from seraudit.cli.options import add_quiet


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("predict", help="predict the emotion of audio files with every model of a run")
    p.add_argument("run_dir", metavar="RUN", help="run directory written by `seraudit train`")
    p.add_argument("audio", metavar="AUDIO", nargs="+", help="audio files (wav, flac)")
    p.add_argument("--models", default=None, help="comma-separated subset of the run's models (default: all)")
    p.add_argument("--format", choices=("csv", "json"), default="csv")
    add_quiet(p)
    p.set_defaults(func=run)


def predict_files(run_dir: str, paths: list[str], models: list[str] | None = None, progress: bool = True) -> list[dict]:
    """One record per (clip, model): label, probabilities, patches used (GDS-kept patches, mean log-probability pooling)."""
    from tqdm.auto import tqdm

    from seraudit.core.naming import display_name
    from seraudit.ensemble.run import Run
    from seraudit.preprocessing.pipeline import clip_features
    from seraudit.core.errors import RunError

    run = Run.open(run_dir)
    available = run.model_names + (["egemaps"] if run.has_egemaps else [])
    if not available:
        raise RunError(f"{run_dir} holds no trained model; train one with `seraudit train ... --out {run_dir}`")
    models = models or available
    missing = [m for m in models if m not in available]
    if missing:
        raise RunError(f"{run_dir} has no model {', '.join(missing)}; it has {', '.join(available)}")
    neural = {m: run.model(m) for m in models if m != "egemaps"}
    records = []
    threshold = run.gds_threshold
    clips = [clip_features(p, gds_threshold=threshold) for p in tqdm(paths, desc="features", unit="clip", disable=not progress)]
    for name, model in neural.items():
        for path, clip in zip(paths, clips):
            pred = model.predict_clip(clip)
            records.append({"path": str(path), "model": name, "display_name": model.display_name, **pred.as_dict()})
    if "egemaps" in models:
        from seraudit.ensemble.baseline_egemaps import egemaps_matrix

        pipe, labels = run.egemaps_model()
        proba = pipe.predict_proba(egemaps_matrix(paths, progress=progress))
        for path, row in zip(paths, proba):
            probs = {labels[int(c)]: 0.0 for c in range(len(labels))}
            probs.update({labels[int(c)]: float(p) for c, p in zip(pipe.classes_, row)})
            records.append({"path": str(path), "model": "egemaps", "display_name": display_name("egemaps"),
                            "label": max(probs, key=probs.get), "probabilities": probs})
    return records


def run(args) -> int:
    import json
    import sys

    import pandas as pd

    models = [m.strip() for m in args.models.split(",")] if args.models else None
    records = predict_files(args.run_dir, args.audio, models, progress=not args.quiet)
    if args.format == "json":
        print(json.dumps(records, indent=2))
    else:
        flat = [{k: v for k, v in r.items() if k != "probabilities"} | {f"p_{k}": v for k, v in r["probabilities"].items()} for r in records]
        pd.DataFrame(flat).to_csv(sys.stdout, index=False, float_format="%.4f")
    return 0
