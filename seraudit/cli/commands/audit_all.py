"""`seraudit audit-all`: the main job — train the models, audit a balanced sample of test clips, write the report."""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import pandas as pd

from seraudit.core.errors import RunError

DEFAULT_METHODS = "gradcam,gradcam++,lime,occlusion,probe"
MODELS = ("ensemble", "yamnet", "vggish", "egemaps")
AUDIT_DIR = "audit"
REPORT_DIR = "report"
# Cheaper than the `explain` defaults so a corpus audit fits in minutes on two cores;
# recorded in the audit's settings.
FAST_EXPLAINER_PARAMS = {"lime": {"num_samples": 150}, "lime-time": {"num_samples": 150}}
FAST_STEPS, FAST_RANDOM = 10, 1


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
    parser.add_argument("--allow-untrained", default="", help="backbones that may use seeded random weights (e.g. vggish)")
    parser.add_argument("--models-dir", default=None, help="weights folder laid out like ../shared/models")
    # One per emotion (alternating a mistake and a correct clip) keeps the default job within
    # 20 minutes on two cores: a full-size VGGish inside two of the three models dominates.
    parser.add_argument("--per-emotion", type=int, default=1, help="clips audited per emotion (default: 1)")
    parser.add_argument("--methods", default=DEFAULT_METHODS, help=f"explanation methods (default: {DEFAULT_METHODS})")
    parser.add_argument("--sanity", type=int, default=1, help="clips for the model-randomisation check (default: 1)")
    parser.add_argument("--max-clips", type=int, default=None, help="train on at most N clips (quick runs)")
    parser.add_argument("--self-contained", action="store_true", help="also write report/single.html with everything inlined")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)
    return parser


def pick_clips(predictions: pd.DataFrame, per_emotion: int, reference: str = "ensemble") -> pd.DataFrame:
    """A balanced sample of test clips: `per_emotion` per true label, half of them the reference model's mistakes.

    Mistakes are taken most-confident first (the clips a person should hear), correct
    clips least-confident first; with one clip per emotion, emotions alternate between a
    mistake and a correct clip. Falls back to the other kind when one runs out.
    """
    own = predictions[predictions["model"] == reference]
    if own.empty:
        own = predictions[predictions["model"] == predictions["model"].iloc[0]]
    prob_cols = [c for c in own.columns if c.startswith("p_")]
    own = own.assign(confidence=own[prob_cols].max(axis=1), wrong=own["label"] != own["prediction"])
    picked = []
    for i, (label, group) in enumerate(sorted(own.groupby("label"), key=lambda kv: str(kv[0]))):
        wrong = group[group["wrong"]].sort_values(["confidence", "path"], ascending=[False, True])
        right = group[~group["wrong"]].sort_values(["confidence", "path"], ascending=[True, True])
        n_wrong = math.ceil(per_emotion / 2) if per_emotion > 1 else (1 if i % 2 == 0 else 0)
        n_wrong = min(n_wrong, len(wrong))
        n_right = min(per_emotion - n_wrong, len(right))
        n_wrong = min(per_emotion - n_right, len(wrong))
        picked += [wrong.head(n_wrong), right.head(n_right)]
    return pd.concat(picked).sort_values(["label", "path"]).reset_index(drop=True)


def _reusable_run(run_dir: Path, settings) -> bool:
    """True when `run_dir` holds a complete run trained with the same settings."""
    import json

    info_path = run_dir / "run.json"
    if not info_path.is_file() or not (run_dir / "predictions.csv").is_file():
        return False
    try:
        saved = json.loads(info_path.read_text()).get("settings", {})
    except ValueError:
        return False
    wanted = settings.to_dict()
    keys = ("corpus", "data", "models", "fusion", "fine_tune", "gds", "head", "seed", "max_clips", "allow_untrained")
    return all(saved.get(k) == wanted.get(k) for k in keys)


def probing_tables(run_dir: Path, models_dir: str | None, progress: bool) -> dict | None:
    """eGeMAPS probing of each backbone's clip embeddings over the run's corpus (cached embeddings, no model run)."""
    import json

    import numpy as np

    from seraudit.ensemble.embedding_cache import EmbeddingCache
    from seraudit.ensemble.experiment import resolve_sources
    from seraudit.ensemble.corpus_data import prepare_data, select_clips
    from seraudit.preprocessing.corpora import read_corpus
    from seraudit.xai.probing import probe_branches

    info = json.loads((run_dir / "run.json").read_text())
    settings = info["settings"]
    table = select_clips(read_corpus(settings["corpus"], settings["data"]), settings.get("max_clips"), settings["seed"])
    sources = resolve_sources(["ensemble"], models_dir, tuple(settings.get("allow_untrained", [])))
    from seraudit.preprocessing.gds import GdsSettings

    cache = EmbeddingCache(info.get("cache", {}).get("dir"), progress=progress)
    data = prepare_data(table, sorted(sources), sources, GdsSettings(**settings.get("gds", {})), cache,
                        settings["seed"], True)
    index, keep = data.patches.clip_index, data.keep.astype(np.float64)
    counts = np.bincount(index, weights=keep, minlength=len(table))
    fallback = counts == 0  # a clip without a kept patch is averaged over all of its patches
    weights = np.where(fallback[index], 1.0, keep)
    counts = np.bincount(index, weights=weights, minlength=len(table))
    branch_tables = {}
    for branch, emb in data.embeddings.items():
        sums = np.zeros((len(table), emb.shape[1]))
        np.add.at(sums, index, emb * weights[:, None])
        from seraudit.xai.probing import embedding_table

        branch_tables[branch] = embedding_table(sums / counts[:, None], table["path"], table["label"], data.speakers)
    egemaps = pd.DataFrame(data.egemaps, index=table["path"].astype(str))
    from seraudit.preprocessing.egemaps import FUNCTIONAL_NAMES

    egemaps.columns = list(FUNCTIONAL_NAMES)[: egemaps.shape[1]]
    result = probe_branches(branch_tables, egemaps, n_splits=min(5, len(set(data.speakers))))
    categories = result.categories.merge(
        result.selection[["branch", "emotion", "n_top", "auc_top", "auc_all"]], on=["branch", "emotion"], how="left"
    )
    rows = [
        {"backbone": r["branch"], "emotion": r["emotion"], "category": r["category"], "top dims": r["n_top"],
         "AUC top": r["auc_top"], "AUC all": r["auc_all"], "R² top": r["r2_top"], "R² all": r["r2_all"]}
        for r in categories.to_dict("records")
    ]
    return {"rows": [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()} for row in rows]}


def run(args: argparse.Namespace) -> int:
    from seraudit.ensemble.experiment import run_experiment
    from seraudit.ensemble.trained import load_trained_model
    from seraudit.ensemble.training import TrainSettings
    from seraudit.cli.commands.report import write_report
    from seraudit.xai.audit import AuditSettings, ClipSpec, egemaps_deviations, parse_methods, run_audit

    started = time.perf_counter()
    progress = not args.quiet
    methods, probe = parse_methods(args.methods)
    allow = tuple(b.strip() for b in args.allow_untrained.split(",") if b.strip())
    if not args.data.exists():
        raise RunError(f"corpus folder {args.data} does not exist; pass --data with the {args.corpus} folder")
    settings = TrainSettings(
        corpus=args.corpus, data=os.fspath(args.data.resolve()), models=list(MODELS),
        models_dir=args.models_dir or os.environ.get("SERAUDIT_MODELS_DIR") or None,
        allow_untrained=allow, max_clips=args.max_clips, progress=progress,
    )
    run_dir = args.out
    if _reusable_run(run_dir, settings):
        print(f"[1/3] reusing the trained run in {run_dir}", file=sys.stderr)
    else:
        print(f"[1/3] training {', '.join(MODELS)} on {args.corpus} (speaker-independent folds) into {run_dir}", file=sys.stderr)
        run_experiment(settings, run_dir)
    trained = time.perf_counter()

    from seraudit.ensemble.run_dir import read_predictions

    chosen = pick_clips(read_predictions(run_dir), args.per_emotion)
    specs = [ClipSpec(str(p), str(lab), str(spk)) for p, lab, spk in zip(chosen["path"], chosen["label"], chosen["speaker"])]
    models = [load_trained_model(run_dir, name) for name in ("ensemble", "yamnet", "vggish")]
    print(f"[2/3] auditing {len(specs)} test clips ({args.per_emotion} per emotion) with {', '.join(methods)}"
          f"{' + eGeMAPS probing' if probe else ''}", file=sys.stderr)
    deviations, probing = None, None
    if probe:
        table = egemaps_deviations(run_dir, specs, progress=False)
        deviations = lambda spec: table.get(os.path.abspath(spec.path), [])  # noqa: E731
        try:
            probing = probing_tables(run_dir, settings.models_dir, progress)
        except ValueError as error:  # e.g. too few speakers per emotion in a quick run: the audit goes on
            print(f"  eGeMAPS probing skipped: {error}", file=sys.stderr)
    audit_settings = AuditSettings(
        methods=methods, probe=probe, faithfulness_steps=FAST_STEPS, faithfulness_random=FAST_RANDOM,
        sanity_clips=args.sanity, explainer_params=FAST_EXPLAINER_PARAMS,
    )
    index = run_audit(models, specs, run_dir / AUDIT_DIR, audit_settings, deviations=deviations, probing=probing,
                      run_dir=os.fspath(run_dir), title=f"SERAudit — {args.corpus}", progress=progress)
    audited = time.perf_counter()
    print("[3/3] writing the report", file=sys.stderr)
    page = write_report(run_dir, run_dir / AUDIT_DIR, run_dir / REPORT_DIR, title=f"SERAudit — {args.corpus}")
    if args.self_contained:
        write_report(run_dir, run_dir / AUDIT_DIR, run_dir / f"{REPORT_DIR}-single", self_contained=True,
                     title=f"SERAudit — {args.corpus}")
    for failure in index["failures"]:
        print(f"  audit failed for {failure['clip']}: {failure['error']}", file=sys.stderr)
    print(f"timings: training {trained - started:.0f} s, audit {audited - trained:.0f} s "
          f"({index['reused']} clip(s) reused), total {time.perf_counter() - started:.0f} s", file=sys.stderr)
    print(f"report index: {page.resolve()}")
    return 0
