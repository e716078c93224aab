"""How a session gets a `Run`: train one into a folder, or open one trained before."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from seraudit.core.errors import CorpusError
from seraudit.ensemble.run import RUN_MODELS, Run


def open_run(path: str | os.PathLike) -> Run:
    """The trained run at `path` (its models load with ``run.model(name)``, its clips with ``run.clip(path)``)."""
    return Run.open(path)


def check_data(corpus: str, data: str | os.PathLike) -> Path:
    """`data` as a path, refused before any work when it does not exist (a typo should not cost a training run)."""
    data = Path(data)
    if not data.exists():
        raise CorpusError(f"corpus folder {data} does not exist; pass `data` the {corpus} folder (or manifest CSV)")
    return data


def train_settings(corpus: str, data: str | os.PathLike, models: Sequence[str] = RUN_MODELS,
                   allow_untrained: Sequence[str] = (), **settings: Any):
    """The `TrainSettings` of a run, built once: models and backbones as lists, every other field by keyword."""
    from seraudit.ensemble.training.settings import TrainSettings

    unknown = [m for m in models if m not in RUN_MODELS]
    if unknown or not models:
        raise CorpusError(f"unknown model(s) {', '.join(map(repr, unknown)) or '(none)'} in `models`; choose from "
                          f"{', '.join(RUN_MODELS)}")
    return TrainSettings(corpus=corpus, data=os.fspath(data), models=list(dict.fromkeys(models)),
                         allow_untrained=tuple(allow_untrained), **settings)


def train(corpus: str, data: str | os.PathLike, out: str | os.PathLike, models: Sequence[str] = RUN_MODELS,
          allow_untrained: Sequence[str] = (), **settings: Any) -> Run:
    """Cross-validate `models` on a corpus (speaker-independent folds), save the final models into `out`, open it.

    `corpus` names the layout (``"ravdess"``, ``"emodb"``, ``"manifest"``, ...), `data` its folder or
    manifest CSV. `allow_untrained` lists backbones that may fall back to seeded random
    weights when no pretrained weights are found. Every other `TrainSettings` field passes by
    keyword (``max_clips=24``, ``models_dir=...``, ``seed=1``, ``progress=False``).
    """
    from seraudit.ensemble.training.experiment import run_experiment

    check_data(corpus, data)
    run_experiment(train_settings(corpus, data, models, allow_untrained, **settings), out)
    return Run.open(out)
