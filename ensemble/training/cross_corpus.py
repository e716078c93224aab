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
from seraudit.ensemble.data.corpus_data import label_set, select_clips
from seraudit.ensemble.data.embedding_cache import EmbeddingCache
from seraudit.ensemble.evaluation.scoring import evaluate_predictions
from seraudit.ensemble.run import corpus_display
from seraudit.ensemble.training.cross_validation import train_final
from seraudit.ensemble.training.experiment import (
    model_info, prepare, provenance, read_clips, run_sources, trainable_clips, write_trained_run,
)
from seraudit.ensemble.training.settings import TrainSettings


def shared_labels(train_labels, test_labels) -> list[str]:
    """Emotions present in both corpora, in the canonical order."""
    shared = set(train_labels) & set(test_labels)
    return [lab for lab in label_set(list(train_labels)) if lab in shared]


def restrict(table: pd.DataFrame, labels: list[str]) -> pd.DataFrame:
    """The clips of `table` whose emotion is one of `labels`."""
    return table[table["label"].isin(labels)].reset_index(drop=True)


def run_cross_corpus(settings: TrainSettings, test_corpus: str, test_data: str, out: str | Path | None = None,
                     train_table: pd.DataFrame | None = None, test_table: pd.DataFrame | None = None) -> dict:
    """Train on `settings.corpus` (all speakers), test on `test_corpus`; write a run to `out` unless None. Returns results.

    The path of `experiment.run_experiment` but for the scoring: ``settings.label_map`` maps the labels of
    either corpus that is a manifest, and the training clips are checked before any weights or audio are touched.
    """
    start = time.perf_counter()
    if train_table is None or test_table is None:
        read = read_clips([(settings.corpus, settings.data), (test_corpus, test_data)], settings.label_map)
        train_table = read[0] if train_table is None else train_table
        test_table = read[1] if test_table is None else test_table
    labels = shared_labels(train_table["label"], test_table["label"])
    if len(labels) < 2:
        raise CorpusError(
            f"{settings.corpus} ({settings.data}) and {test_corpus} ({test_data}) share {len(labels)} emotion(s) "
            f"({', '.join(labels) or 'none'}); cross-corpus testing needs at least 2 shared emotions"
        )
    train_table = trainable_clips(restrict(train_table, labels), settings, str(settings.data), cross_validated=False)
    test_table = select_clips(restrict(test_table, labels), settings.max_clips, settings.seed)
    sources = run_sources(settings)
    cache = EmbeddingCache(settings.cache_dir, progress=settings.progress)
    train = prepare(train_table, settings, sources, cache, labels=labels, cross_validated=False, tests=False)
    test = prepare(test_table, settings, sources, cache, labels=labels, cross_validated=False, trains=False)
    failures = train.failures + test.failures
    prepared = time.perf_counter()

    finals, trainer, fold = train_final(train, settings, sources)
    test_speakers = sorted(set(test.speakers))
    predictions = trainer.predictions(test, np.arange(len(test.table)), 0)
    predictions["fold"] = predictions["speaker"].map({s: i for i, s in enumerate(test_speakers)})
    trained = time.perf_counter()

    info = model_info(settings, sources)
    results = evaluate_predictions(predictions, labels, info, n_boot=settings.n_boot, seed=settings.seed)
    train_name = train.display_name or corpus_display(settings.corpus)
    test_name = test.display_name or corpus_display(test_corpus)
    results.update({
        "corpus": settings.corpus, "corpus_display": f"{train_name} -> {test_name}", "test_corpus": test_corpus,
        "test_corpus_display": test_name, "cross_corpus": True, "shared_labels": labels, "gds": settings.gds.to_dict(),
        "gds_kept_fraction": float(test.keep.mean()),
        "fine_tune": settings.fine_tune, "n_clips": len(test.table), "n_train_clips": len(train.table),
        "n_speakers": len(test_speakers), "metrics_over": "test speakers (mean ± std) and all test clips (pooled)",
    })
    seconds = {"prepare": prepared - start, "train_and_test": trained - prepared, "total": time.perf_counter() - start}
    results["seconds"] = seconds
    if out is not None:
        common = provenance(settings, len(train.table), fold,
                            f"cross-corpus: trained on all {train_name} speakers, tested on every {test_name} speaker",
                            corpus_display=results["corpus_display"], test_corpus=test_corpus,
                            test_data=str(test_data), labels_shared=labels)
        run_facts = {"cache": {"dir": str(cache.dir), "hits": cache.hits, "computed": cache.misses},
                     "failures": failures, "seconds": seconds}
        folds = {"corpus": settings.corpus, "test_corpus": test_corpus, "final": fold.to_dict(),
                 "folds": [{"index": i, "train_speakers": fold.train_speakers, "val_speakers": fold.val_speakers,
                            "test_speakers": [s]} for i, s in enumerate(test_speakers)]}
        write_trained_run(out, settings, sources, finals, trainer, common, run_facts, folds, predictions, results,
                          labels, failures)
    results["failures"] = failures
    return results
