"""Cross-corpus evaluation: train on every speaker of one corpus, test on another corpus over the emotions both share.

The models are trained exactly as a run's final models (all speakers of the
training corpus, an inner validation group of its speakers for early
stopping and late-fusion weights), on the shared emotions only (RAVDESS <->
EmoDB: neutral, happy, sad, angry, fearful, disgust). Every clip of the test
corpus with a shared emotion is then predicted. Speakers of two corpora never
overlap, so the test is speaker- and corpus-independent.

Metrics are reported per test speaker (mean ± std over the test corpus's
speakers, in the ``fold`` column of the predictions) and pooled over all test
clips; the ensemble is compared with each single model on the same clips as
in cross-validation. The run directory has the usual layout, so `seraudit
evaluate / compare / predict` read it.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from seraudit.core.errors import CorpusError
from seraudit.ensemble.data.corpus_data import label_set, prepare_data, select_clips
from seraudit.ensemble.data.embedding_cache import EmbeddingCache
from seraudit.ensemble.evaluation.scoring import evaluate_predictions
from seraudit.ensemble.data.folds import final_split
from seraudit.ensemble.training.trainer import Trainer, TrainSettings


def shared_labels(train_labels, test_labels) -> list[str]:
    """Emotions present in both corpora, in the canonical order."""
    shared = set(train_labels) & set(test_labels)
    return [lab for lab in label_set(list(train_labels)) if lab in shared]


def restrict(table: pd.DataFrame, labels: list[str]) -> pd.DataFrame:
    """The clips of `table` whose emotion is one of `labels`."""
    return table[table["label"].isin(labels)].reset_index(drop=True)


def run_cross_corpus(settings: TrainSettings, test_corpus: str, test_data: str, out: str | Path | None = None,
                     train_table: pd.DataFrame | None = None, test_table: pd.DataFrame | None = None) -> dict:
    """Train on `settings.corpus` (all speakers), test on `test_corpus`; write a run to `out` unless None. Returns results."""
    from seraudit.ensemble.training.experiment import model_info, resolve_sources
    from seraudit.ensemble.run import corpus_display, library_versions, write_run
    from seraudit.preprocessing.corpora import read_corpus

    start = time.perf_counter()
    sources = resolve_sources(settings.models, settings.models_dir, settings.allow_untrained, settings.download,
                              settings.weights)
    train_table = read_corpus(settings.corpus, settings.data) if train_table is None else train_table
    test_table = read_corpus(test_corpus, test_data) if test_table is None else test_table
    labels = shared_labels(train_table["label"], test_table["label"])
    if len(labels) < 2:
        raise CorpusError(
            f"{settings.corpus} ({settings.data}) and {test_corpus} ({test_data}) share {len(labels)} emotion(s) "
            f"({', '.join(labels) or 'none'}); cross-corpus testing needs at least 2 shared emotions"
        )
    train_table = select_clips(restrict(train_table, labels), settings.max_clips, settings.seed)
    test_table = select_clips(restrict(test_table, labels), settings.max_clips, settings.seed)
    cache = EmbeddingCache(settings.cache_dir, progress=settings.progress)
    with_egemaps = "egemaps" in settings.models
    train = prepare_data(train_table, sorted(sources), sources, settings.gds, cache, settings.seed, with_egemaps, labels,
                         patch_data=settings.fine_tune, strict=settings.strict, cross_validated=False,
                         copies=settings.augment_copies, copy_seed=settings.seed)
    test_cache = EmbeddingCache(settings.cache_dir, progress=settings.progress)
    test = prepare_data(test_table, sorted(sources), sources, settings.gds, test_cache, settings.seed, with_egemaps, labels,
                        patch_data=settings.fine_tune, strict=settings.strict, cross_validated=False,
                        tta_copies=settings.tta_copies)
    failures = train.failures + test.failures
    prepared = time.perf_counter()

    fold = final_split(train.speakers, seed=settings.seed)
    trainer = Trainer(settings, sources).fit(train, fold)
    test_speakers = sorted(set(test.speakers))
    predictions = trainer.predictions(test, np.arange(len(test.table)), 0)
    predictions["fold"] = predictions["speaker"].map({s: i for i, s in enumerate(test_speakers)})
    trained = time.perf_counter()

    info = model_info(settings, sources)
    results = evaluate_predictions(predictions, labels, info, n_boot=settings.n_boot, seed=settings.seed)
    train_name, test_name = corpus_display(settings.corpus), corpus_display(test_corpus)
    results.update({
        "corpus": settings.corpus, "corpus_display": f"{train_name} -> {test_name}", "test_corpus": test_corpus,
        "test_corpus_display": test_name, "cross_corpus": True, "shared_labels": labels, "gds": settings.gds.to_dict(),
        "gds_kept_fraction": float(test.keep.mean()),
        "fine_tune": settings.fine_tune, "n_clips": len(test.table), "n_train_clips": len(train.table),
        "n_speakers": len(test_speakers), "metrics_over": "test speakers (mean ± std) and all test clips (pooled)",
    })
    seconds = {"prepare": prepared - start, "train_and_test": trained - prepared}
    if out is not None:
        common = {
            "corpus": settings.corpus, "corpus_display": results["corpus_display"], "data": str(settings.data),
            "test_corpus": test_corpus, "test_data": str(test_data), "labels_shared": labels,
            "n_clips": len(train.table), "gds": settings.gds.to_dict(),
            "seeds": {"global": settings.seed, "head": settings.seed, "untrained_vggish": settings.seed, "bootstrap": settings.seed},
            "library_versions": library_versions(), "command_line": settings.command_line, "final_split": fold.to_dict(),
            "training": "fine-tuned top blocks" if settings.fine_tune else "frozen backbones, linear heads on cached layer features (layers chosen on validation speakers)",
            "folds": f"cross-corpus: trained on all {train_name} speakers, tested on every {test_name} speaker",
        }
        keras_models = {}
        for name, (built, config) in trainer.saved_models(train, check=False).items():
            branches = built.spec.branches
            prov = {**common, "model": name, "weights": {b: sources[b].to_dict() for b in branches},
                    "pretrained": {b: bool(sources[b].pretrained) for b in branches}, "history": trainer.history_}
            keras_models[name] = (built.keras_model, config, prov)
        seconds["total"] = time.perf_counter() - start
        run_info = {**common, "settings": settings.to_dict(), "models": info, "labels": labels,
                    "weights": {b: s.to_dict() for b, s in sources.items()}, "seconds": seconds}
        folds = {"corpus": settings.corpus, "test_corpus": test_corpus, "final": fold.to_dict(),
                 "folds": [{"index": i, "train_speakers": fold.train_speakers, "val_speakers": fold.val_speakers,
                            "test_speakers": [s]} for i, s in enumerate(test_speakers)]}
        egemaps = (trainer.egemaps_model_, common) if trainer.egemaps_model_ is not None else None
        write_run(out, run_info, folds, predictions, {**results, "seconds": seconds}, keras_models, labels, egemaps, failures)
    seconds["total"] = time.perf_counter() - start
    results["seconds"] = seconds
    results["failures"] = failures
    return results
