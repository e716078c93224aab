"""Speaker-independent cross-validation and the final training on all speakers: `Trainer` run over a fold plan.

Cross-validation predictions come from one `Trainer` per fold, each scoring the
test speakers it never saw; the final model saved for prediction and audit is
trained on all speakers of the corpus (an inner validation group of speakers
chooses the layers and the late-fusion weights; fine-tuning stops early on it)
and assembled into flat graphs (`ensemble.training.assembly`). Kept apart from
the estimator so a fold plan, its progress bar and its timing never enter the
model's own code.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from seraudit.ensemble.data.corpus_data import CorpusData
from seraudit.ensemble.data.folds import Fold, final_split, fold_plan
from seraudit.ensemble.training.assembly import saved_models
from seraudit.ensemble.training.settings import TrainSettings
from seraudit.ensemble.training.trainer import Trainer


@dataclass
class CrossValidation:
    """What cross-validation produced: the fold plan, every test clip's predictions, per-fold training summaries."""

    folds: list[Fold]
    predictions: pd.DataFrame
    histories: list[dict]
    seconds: float


def cross_validate(data: CorpusData, settings: TrainSettings, sources: dict[str, Any]) -> CrossValidation:
    """Speaker-independent cross-validation: per-fold models, predictions on each fold's test speakers."""
    from tqdm.auto import tqdm

    start = time.perf_counter()
    corpus = str(data.table["corpus"].iloc[0]) if "corpus" in data.table else settings.corpus
    folds = fold_plan(data.speakers, corpus, seed=settings.seed, labels=data.y)
    preds, histories = [], []
    for fold in tqdm(folds, desc=f"cross-validation ({len(folds)} folds)", unit="fold", disable=not settings.progress):
        trainer = Trainer(settings, sources).fit(data, fold)
        _, _, test = fold.masks(data.speakers)
        preds.append(trainer.predictions(data, np.flatnonzero(test), fold.index))
        weights = None if trainer.late_weights_ is None else trainer.late_weights_.tolist()
        histories.append({"fold": fold.index, **trainer.history_, "late_fusion_weights": weights})
    return CrossValidation(folds, pd.concat(preds, ignore_index=True), histories, time.perf_counter() - start)


def train_final(data: CorpusData, settings: TrainSettings, sources: dict[str, Any]) -> tuple[dict, Trainer, Fold]:
    """Train the final models on all speakers; returns ({name: (BuiltModel, config)} of the neural models, trainer, split)."""
    fold = final_split(data.speakers, seed=settings.seed, labels=data.y)
    trainer = Trainer(settings, sources).fit(data, fold)
    return saved_models(trainer, data, check=not settings.fine_tune), trainer, fold
