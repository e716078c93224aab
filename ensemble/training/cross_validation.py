"""Speaker-independent cross-validation and the final training on all speakers: `Trainer` run over a fold plan.

Cross-validation predictions come from one `Trainer` per fold, each scoring the
test speakers it never saw; the final model saved for prediction and audit is
trained on all speakers of the corpus (an inner validation group of speakers
chooses the layers and the late-fusion weights; fine-tuning stops early on it)
and assembled into flat graphs (`ensemble.training.assembly`). Kept apart from
the estimator so a fold plan, its progress bar and its timing never enter the
model's own code.

Each fold's model is kept too (`fold_model`): its config and the weights of its heads and
late fusion, small because the frozen towers are the final model's (`ensemble.run.FoldModel`).
An audit explains a corpus clip with the model of the fold that tested its speaker.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from seraudit.ensemble.data.corpus_data import CorpusData
from seraudit.ensemble.data.folds import Fold, final_split, fold_plan
from seraudit.ensemble.run import FoldModel
from seraudit.ensemble.training.assembly import head_graph_weights, model_config, saved_models
from seraudit.ensemble.training.settings import TrainSettings
from seraudit.ensemble.training.trainer import Trainer


@dataclass
class CrossValidation:
    """What cross-validation produced: the fold plan, every test clip's predictions, per-fold training summaries."""

    folds: list[Fold]
    predictions: pd.DataFrame
    histories: list[dict]
    seconds: float
    fold_models: dict[int, dict[str, FoldModel]] = field(default_factory=dict)  # none for fine-tuned runs


def cross_validate(data: CorpusData, settings: TrainSettings, sources: dict[str, Any],
                   fold_layers: dict[int, dict[str, tuple[str, ...]]] | None = None) -> CrossValidation:
    """Speaker-independent cross-validation: per-fold models, predictions on each fold's test speakers.

    `fold_layers` fixes what the heads of a fold read (fold index -> backbone -> layers) instead of searching
    them; a fold or backbone it does not name is searched as usual.
    """
    import dataclasses

    from tqdm.auto import tqdm

    start = time.perf_counter()
    corpus = str(data.table["corpus"].iloc[0]) if "corpus" in data.table else settings.corpus
    folds = fold_plan(data.speakers, corpus, seed=settings.seed, labels=data.y)
    preds, histories, fold_models = [], [], {}
    for fold in tqdm(folds, desc=f"cross-validation ({len(folds)} folds)", unit="fold", disable=not settings.progress):
        fixed = (fold_layers or {}).get(fold.index)
        fold_settings = dataclasses.replace(settings, layers={**(settings.layers or {}), **fixed}) if fixed else settings
        trainer = Trainer(fold_settings, sources).fit(data, fold)
        _, _, test = fold.masks(data.speakers)
        preds.append(trainer.predictions(data, np.flatnonzero(test), fold.index))
        weights = None if trainer.late_weights_ is None else trainer.late_weights_.tolist()
        histories.append({"fold": fold.index, **trainer.history_, "late_fusion_weights": weights})
        if not settings.fine_tune:  # fine-tuned towers differ per fold: nothing small to keep
            fold_models[fold.index] = {name: fold_model(trainer, name, data) for name in trainer.specs}
    return CrossValidation(folds, pd.concat(preds, ignore_index=True), histories, time.perf_counter() - start,
                           fold_models)


def fold_model(trainer: Trainer, name: str, data: CorpusData) -> FoldModel:
    """What fold `trainer` learned for model `name`: its config and its head (and late-fusion) weights, by graph layer."""
    from seraudit.ensemble.model.spec import LOGITS_NAME

    spec = trainer.specs[name]
    config = model_config(trainer, name, data)
    weights = {}
    for head in spec.heads:
        weights.update(head_graph_weights(spec, head, trainer.heads_[head.key]))
    if spec.weighs_heads:
        weights[LOGITS_NAME] = [np.asarray(trainer.late_weights_, dtype=np.float32)]
        config["late_fusion_weights"] = {h.key: float(w) for h, w in zip(spec.heads, trainer.late_weights_)}
    return FoldModel(config, {layer: [np.asarray(w) for w in arrays] for layer, arrays in weights.items()})


def train_final(data: CorpusData, settings: TrainSettings, sources: dict[str, Any]) -> tuple[dict, Trainer, Fold]:
    """Train the final models on all speakers; returns ({name: (BuiltModel, config)} of the neural models, trainer, split)."""
    fold = final_split(data.speakers, seed=settings.seed, labels=data.y)
    trainer = Trainer(settings, sources).fit(data, fold)
    return saved_models(trainer, data, check=not settings.fine_tune), trainer, fold
