"""One training run end to end: read and check the clips, resolve weights, prepare data, train, write the run directory.

Cross-validation (`run_experiment`) and cross-corpus testing (`ensemble.training.cross_corpus`)
differ only in how the models are scored. Everything else is this module's one path, so
both honour the same rules: the clips are read with a manifest's label map, refused by
`check_trainable` before any weights, audio or cache are touched, prepared with the same
settings, and the final models are saved with the same provenance.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd

from seraudit.core.errors import CorpusError
from seraudit.ensemble.data.corpus_data import CorpusData, check_trainable, prepare_data, select_clips
from seraudit.ensemble.data.embedding_cache import EmbeddingCache
from seraudit.ensemble.data.folds import Fold
from seraudit.ensemble.evaluation.scoring import evaluate_predictions
from seraudit.ensemble.run import corpus_display, library_versions, write_run
from seraudit.ensemble.evaluation.run_facts import corpus_summary, gds_ablation
from seraudit.ensemble.model.spec import MODELS
from seraudit.ensemble.training.cross_validation import cross_validate, train_final
from seraudit.ensemble.training.settings import TrainSettings

#: How the saved models were trained, as every run's provenance says it (by ``settings.fine_tune``).
TRAINING = {
    False: "frozen backbones, linear heads on cached layer features (layers chosen on validation speakers)",
    True: "fine-tuned below the chosen layers",
}


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


# --- The shared path ----------------------------------------------------------------------------------------


def read_clips(corpora: list[tuple[str, str | Path]], label_map: str | Path | dict | None = None) -> list[pd.DataFrame]:
    """The clip table of each ``(corpus, folder)`` of a run; `label_map` maps the own labels of every manifest among them.

    A label map with no manifest to apply to is refused: the other corpora's labels are fixed by their readers.
    """
    from seraudit.preprocessing.corpora import read_corpus

    manifests = [name.strip().lower() == "manifest" for name, _ in corpora]
    if label_map and not any(manifests):
        names = ", ".join(name for name, _ in corpora)
        raise CorpusError(f"a label map ({label_map}) maps a manifest's own labels, but this run reads no manifest "
                          f"({names} have fixed labels); leave the label map out or list the clips in a manifest")
    return [read_corpus(name, data, **({"label_map": label_map} if label_map and manifest else {}))
            for (name, data), manifest in zip(corpora, manifests)]


def trainable_clips(table: pd.DataFrame, settings: TrainSettings, source: str, *, cross_validated: bool = True) -> pd.DataFrame:
    """`table` refused unless a model can learn from it (`check_trainable`), then sliced to ``settings.max_clips``.

    Call it before any weights, audio or cache are touched. A slice of a corpus that passed only
    warns about emotions of too few speakers: its folds still run.
    """
    check_trainable(table, source, cross_validated=cross_validated)
    sliced = select_clips(table, settings.max_clips, settings.seed)
    if len(sliced) < len(table):
        check_trainable(sliced, f"{source} (sliced to {settings.max_clips} clips)", cross_validated=cross_validated,
                        thin="warn")
    return sliced


def run_sources(settings: TrainSettings) -> dict[str, Any]:
    """The weights of the run's backbones (`resolve_sources` with the settings' choices)."""
    return resolve_sources(settings.models, settings.models_dir, settings.allow_untrained, settings.download,
                           settings.weights)


def prepare(table: pd.DataFrame, settings: TrainSettings, sources: dict[str, Any], cache: EmbeddingCache, *,
            labels: list[str] | None = None, cross_validated: bool = True, trains: bool = True,
            tests: bool = True) -> CorpusData:
    """`prepare_data` with the run's settings: augmented copies for clips it `trains` on, test-time copies for
    clips it `tests` on (a cross-validated corpus does both)."""
    return prepare_data(table, sorted(sources), sources, settings.gds, cache, settings.seed,
                        "egemaps" in settings.models, labels, patch_data=settings.fine_tune, strict=settings.strict,
                        cross_validated=cross_validated, copies=settings.augment_copies if trains else 0,
                        copy_seed=settings.seed, tta_copies=settings.tta_copies if tests else 0)


def provenance(settings: TrainSettings, n_clips: int, fold: Fold, folds: str, **facts) -> dict:
    """What every file of a run records about how it was made (`facts` add to it or override it)."""
    return {
        "corpus": settings.corpus,
        "corpus_display": corpus_display(settings.corpus),
        "data": str(settings.data),
        "n_clips": n_clips,
        "gds": settings.gds.to_dict(),
        "seeds": {"global": settings.seed, "head": settings.seed, "untrained_vggish": settings.seed,
                  "bootstrap": settings.seed},
        "library_versions": library_versions(),
        "command_line": settings.command_line,
        "folds": folds,
        "final_split": fold.to_dict(),
        "training": TRAINING[bool(settings.fine_tune)],
        **facts,
    }


def write_trained_run(out: str | Path, settings: TrainSettings, sources: dict[str, Any], finals: dict, trainer,
                      common: dict, run_facts: dict, folds: dict, predictions: pd.DataFrame, results: dict,
                      labels: list[str], failures: list[dict], fold_models: dict | None = None) -> Path:
    """Write the run directory: the final models (`train_final`) with their provenance, the run's own record and
    what each cross-validation fold's model learned (`fold_models`: heads only)."""
    keras_models = {}
    for name, (built, config) in finals.items():
        branches = built.spec.branches
        prov = {**common, "model": name, "weights": {b: sources[b].to_dict() for b in branches},
                "pretrained": {b: bool(sources[b].pretrained) for b in branches}, "history": dict(trainer.history_)}
        keras_models[name] = (built.keras_model, config, prov)
    from seraudit.core.provenance import software, utc_now

    run_info = {**common, "settings": settings.to_dict(), "models": model_info(settings, sources), "labels": labels,
                "weights": {b: s.to_dict() for b, s in sources.items()}, "created": utc_now(), "software": software(),
                **run_facts}
    egemaps = ((trainer.egemaps_model_, common, trainer.applied_temperature("egemaps"))
               if trainer.egemaps_model_ is not None else None)
    return write_run(out, run_info, folds, predictions, results, keras_models, labels, egemaps, failures, fold_models)


# --- Cross-validation ---------------------------------------------------------------------------------------


def run_experiment(settings: TrainSettings, out: str | Path | None, table=None, final: bool = True) -> dict:
    """Train and cross-validate; write the run to `out` (skipped when None). Returns the results dict.

    ``final=False`` (only without `out`) skips training the final models: cross-validation scores only, for
    benchmarks; the results then also hold the cross-validation predictions table (``"predictions"``).
    """
    if out is not None and not final:
        raise ValueError("a run directory needs the final models; pass final=True")
    start = time.perf_counter()
    if table is None:
        (table,) = read_clips([(settings.corpus, settings.data)], settings.label_map)
    table = trainable_clips(table, settings, str(settings.data))
    sources = run_sources(settings)
    cache = EmbeddingCache(settings.cache_dir, progress=settings.progress)
    data = prepare(table, settings, sources, cache)
    prepared = time.perf_counter()
    cv = cross_validate(data, settings, sources)
    info = model_info(settings, sources)
    results = evaluate_predictions(cv.predictions, data.labels, info, n_boot=settings.n_boot, seed=settings.seed)
    results.update({"corpus": settings.corpus, "corpus_display": data.display_name or corpus_display(settings.corpus),
                    "gds": settings.gds.to_dict(), "gds_kept_fraction": float(data.keep.mean()),
                    "fine_tune": settings.fine_tune, "n_clips": len(data.table), "n_speakers": len(set(data.speakers))})
    results["corpus_summary"] = corpus_summary(data)
    if not final:
        results["seconds"] = {"prepare": prepared - start, "cross_validation": cv.seconds, "total": time.perf_counter() - start}
        results["predictions"] = cv.predictions  # benchmarks compare settings clip by clip
        results["cv_histories"] = cv.histories  # and report what each fold's training did (fine-tuning epochs)
        return results
    results["gds_ablation"] = gds_ablation(data, settings, sources, info, results, cv.histories)
    finals, trainer, final_fold = train_final(data, settings, sources)
    common = provenance(settings, len(data.table), final_fold,
                        "folds.json (cross-validation); the saved model is trained on all speakers",
                        corpus_display=results["corpus_display"])
    results["seconds"] = {"prepare": prepared - start, "cross_validation": cv.seconds, "total": time.perf_counter() - start}
    if out is not None:
        folds = {"corpus": settings.corpus, "folds": [f.to_dict() for f in cv.folds], "final": final_fold.to_dict()}
        run_facts = {"cache": {"dir": str(cache.dir), "hits": cache.hits, "computed": cache.misses},
                     "failures": data.failures, "cv_histories": cv.histories, "seconds": results["seconds"]}
        write_trained_run(out, settings, sources, finals, trainer, common, run_facts, folds, cv.predictions, results,
                          data.labels, data.failures, cv.fold_models)
    results["failures"] = data.failures
    return results
