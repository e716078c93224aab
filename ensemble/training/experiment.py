"""One training run end to end: resolve weights, prepare data, cross-validate, train the final models, write the run directory."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from seraudit.ensemble.data.corpus_data import check_trainable, prepare_data, select_clips
from seraudit.ensemble.data.embedding_cache import EmbeddingCache
from seraudit.ensemble.evaluation.scoring import evaluate_predictions
from seraudit.ensemble.run import corpus_display, library_versions, write_run
from seraudit.ensemble.evaluation.run_facts import corpus_summary, gds_ablation
from seraudit.ensemble.model.spec import MODELS
from seraudit.ensemble.training.trainer import TrainSettings, cross_validate, train_final


def resolve_sources(models: list[str], models_dir: str | None, allow_untrained, download: bool = True,
                    weights: dict[str, str] | None = None) -> dict[str, Any]:
    """Weights of every backbone the models need (stops with resolve_weights' error when one is missing).

    `weights` maps a backbone to a TF Hub / Kaggle model handle that replaces the look-up (`ensemble.weights.hub`).
    """
    from seraudit.ensemble.weights.official import resolve_weights

    needed = sorted({b for m in models if m in MODELS for b in MODELS[m]})
    handles = weights or {}
    if handles:
        from seraudit.ensemble.weights.hub import resolve_hub_weights
    return {b: resolve_hub_weights(b, handles[b]) if b in handles else
            resolve_weights(b, models_dir=models_dir, allow_untrained=b in allow_untrained, download=download)
            for b in needed}


def model_info(settings: TrainSettings, sources: dict[str, Any]) -> dict[str, dict]:
    """Per model of the run: its fusion and its untrained backbones (what display names and reports show)."""
    specs = settings.specs()
    info = {}
    for name in settings.models:
        spec = specs.get(name)
        info[name] = {
            "fusion": spec.fusion if spec else None,
            "untrained": [b for b in spec.branches if not sources[b].pretrained] if spec else [],
        }
    return info


def run_experiment(settings: TrainSettings, out: str | Path | None, table=None, final: bool = True) -> dict:
    """Train and cross-validate; write the run to `out` (skipped when None). Returns the results dict.

    ``final=False`` (only without `out`) skips training the final models: cross-validation scores only, for
    benchmarks; the results then also hold the cross-validation predictions table (``"predictions"``).
    """
    if out is not None and not final:
        raise ValueError("a run directory needs the final models; pass final=True")
    from seraudit.preprocessing.corpora import read_corpus

    start = time.perf_counter()
    if table is None:
        options = {"label_map": settings.label_map} if settings.label_map else {}
        table = read_corpus(settings.corpus, settings.data, **options)
    check_trainable(table, str(settings.data))  # before weights, audio or caches are touched
    n_listed = len(table)
    table = select_clips(table, settings.max_clips, settings.seed)
    if len(table) < n_listed:  # a quick slice of a corpus that passed: thin emotions are only worth a warning
        check_trainable(table, f"{settings.data} (--max-clips {settings.max_clips})", thin="warn")
    sources = resolve_sources(settings.models, settings.models_dir, settings.allow_untrained, settings.download,
                              settings.weights)
    cache = EmbeddingCache(settings.cache_dir, progress=settings.progress)
    data = prepare_data(table, sorted(sources), sources, settings.gds, cache, settings.seed, "egemaps" in settings.models,
                        patch_data=settings.fine_tune, strict=settings.strict, copies=settings.augment_copies,
                        copy_seed=settings.seed, tta_copies=settings.tta_copies)
    prepared = time.perf_counter()
    cv = cross_validate(data, settings, sources)
    info = model_info(settings, sources)
    results = evaluate_predictions(cv.predictions, data.labels, info, n_boot=settings.n_boot, seed=settings.seed)
    corpus_name = corpus_display(settings.corpus)
    results.update({"corpus": settings.corpus, "corpus_display": corpus_name, "gds": settings.gds.to_dict(),
                    "gds_kept_fraction": float(data.keep.mean()),
                    "fine_tune": settings.fine_tune, "n_clips": len(data.table), "n_speakers": len(set(data.speakers))})
    results["corpus_summary"] = corpus_summary(data)
    if not final:
        results["seconds"] = {"prepare": prepared - start, "cross_validation": cv.seconds, "total": time.perf_counter() - start}
        results["predictions"] = cv.predictions  # benchmarks compare settings clip by clip
        results["cv_histories"] = cv.histories  # and report what each fold's training did (fine-tuning epochs)
        return results
    results["gds_ablation"] = gds_ablation(data, settings, sources, info, results)
    finals, trainer, final_fold = train_final(data, settings, sources)
    common = {
        "corpus": settings.corpus,
        "corpus_display": corpus_name,
        "data": str(settings.data),
        "n_clips": len(data.table),
        "gds": settings.gds.to_dict(),
        "seeds": {"global": settings.seed, "head": settings.seed, "untrained_vggish": settings.seed, "bootstrap": settings.seed},
        "library_versions": library_versions(),
        "command_line": settings.command_line,
        "folds": "folds.json (cross-validation); the saved model is trained on all speakers",
        "final_split": final_fold.to_dict(),
        "training": "fine-tuned below the chosen layers" if settings.fine_tune else "frozen backbones, linear heads on cached layer features (layers chosen on validation speakers)",
    }
    keras_models = {}
    for name, (built, config) in finals.items():
        branches = built.spec.branches
        prov = {**common, "model": name, "weights": {b: sources[b].to_dict() for b in branches},
                "pretrained": {b: bool(sources[b].pretrained) for b in branches},
                "history": dict(trainer.history_)}
        keras_models[name] = (built.keras_model, config, prov)
    run_info = {
        **common,
        "settings": settings.to_dict(),
        "models": info,
        "labels": data.labels,
        "weights": {b: s.to_dict() for b, s in sources.items()},
        "cache": {"dir": str(cache.dir), "hits": cache.hits, "computed": cache.misses},
        "failures": data.failures,
        "cv_histories": cv.histories,
        "seconds": {"prepare": prepared - start, "cross_validation": cv.seconds, "total": time.perf_counter() - start},
    }
    results["seconds"] = run_info["seconds"]
    if out is not None:
        folds = {"corpus": settings.corpus, "folds": [f.to_dict() for f in cv.folds], "final": final_fold.to_dict()}
        egemaps = (trainer.egemaps_model_, common) if trainer.egemaps_model_ is not None else None
        write_run(out, run_info, folds, cv.predictions, results, keras_models, data.labels, egemaps, data.failures)
    results["failures"] = data.failures
    return results
