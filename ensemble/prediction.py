"""Predictions of a trained run's models on audio files: one record per (file, model), the eGeMAPS baseline included.

Clips are cut with the run's own GDS threshold, so a prediction pools the same
patches the run was trained and scored with (mean log-probability over the kept
patches). With test-time augmentation (``tta=N``) each clip is also predicted as N
seeded augmented copies and the copies pool into one distribution
(`seraudit.ensemble.tta`); the eGeMAPS baseline predicts the clip itself only.
"""

from __future__ import annotations

from typing import Sequence

import pandas as pd

from seraudit.core.errors import RunError
from seraudit.core.naming import display_name
from seraudit.ensemble.run import EGEMAPS_MODEL, Run


def predictable_models(run: Run) -> list[str]:
    """The run's models `predict_files` can use: its Keras models, then the eGeMAPS baseline when saved."""
    return run.model_names + ([EGEMAPS_MODEL] if run.has_egemaps else [])


def predict_files(run: Run, paths: Sequence[str], models: Sequence[str] | None = None, progress: bool = True,
                  tta: int = 0, seed: int = 0) -> list[dict]:
    """One record per (clip, model), model by model: path, model, display name, label and class probabilities.

    `models` defaults to every model of the run; a name the run does not hold
    stops before any audio is read, naming what it holds. ``tta=N > 0`` predicts
    each clip as itself plus N augmented copies drawn under `seed` and records
    ``"tta": N`` and ``"tta_seed"``; the eGeMAPS baseline ignores it and records
    ``"tta": 0``. ``tta=0`` (the default) gives the records without those fields.
    """
    from tqdm.auto import tqdm

    from seraudit.preprocessing.pipeline import clip_features

    models = check_models(run, models, tta)
    neural = {m: run.model(m) for m in models if m != EGEMAPS_MODEL}
    threshold = run.gds_threshold
    per_file = []  # per clip: every neural model's record
    for path in tqdm(paths, desc="features", unit="clip", disable=not progress):
        clip = clip_features(path, gds_threshold=threshold)  # read even for eGeMAPS only: a bad file stops here
        if neural:
            per_file.append(clip_records(neural, path, clip, tta, seed, threshold))
    records = order_records(list(neural), per_file)
    if EGEMAPS_MODEL in models:
        records += egemaps_records(run, paths, progress, tta)
    return records


def check_models(run: Run, models: Sequence[str] | None, tta: int) -> list[str]:
    """The models to predict with (default: all of the run's); a name the run lacks stops before any audio is read."""
    if tta < 0:
        raise ValueError(f"tta is a number of augmented copies per clip (0: off), got {tta}")
    available = predictable_models(run)
    if not available:
        raise RunError(f"{run.path} holds no trained model; train one with `seraudit train ... --out {run.path}`")
    models = list(models or available)
    missing = [m for m in models if m not in available]
    if missing:
        raise RunError(f"{run.path} has no model {', '.join(missing)}; it has {', '.join(available)}")
    return models


def clip_records(neural: dict, path, clip, tta: int, seed: int, threshold: float) -> list[dict]:
    """One record per neural model (name -> `TrainedModel`) for one clip's features, with its TTA copies when asked."""
    from seraudit.ensemble.tta import clip_copies, predict_copies

    versions = clip_copies(clip, tta, seed, threshold) if tta else [clip]
    records = []
    for name, model in neural.items():
        head = {"path": str(path), "model": name, "display_name": model.display_name}
        if tta:
            records.append(head | predict_copies(model, versions) | {"tta": tta, "tta_seed": seed})
        else:
            records.append(head | model.predict_clip(versions[0]).as_dict())
    return records


def order_records(names: Sequence[str], per_file: Sequence[Sequence[dict]]) -> list[dict]:
    """Per-file record lists regrouped model by model (each model's files in input order), as `predict` prints them."""
    return [r for name in names for records in per_file for r in records if r["model"] == name]


def egemaps_records(run: Run, paths: Sequence[str], progress: bool, tta: int) -> list[dict]:
    """The eGeMAPS baseline's records (``"tta": 0`` when TTA was asked for the other models)."""
    records = _egemaps_records(run, paths, progress)
    return [r | {"tta": 0} for r in records] if tta else records


def _egemaps_records(run: Run, paths: Sequence[str], progress: bool) -> list[dict]:
    """The eGeMAPS baseline's records; a class the classifier never saw in training gets probability 0."""
    from seraudit.ensemble.baseline_egemaps import egemaps_matrix

    pipe, labels = run.egemaps_model()
    proba = pipe.predict_proba(egemaps_matrix(paths, progress=progress))
    records = []
    for path, row in zip(paths, proba):
        probs = {labels[int(c)]: 0.0 for c in range(len(labels))}
        probs.update({labels[int(c)]: float(p) for c, p in zip(pipe.classes_, row)})
        records.append({"path": str(path), "model": EGEMAPS_MODEL, "display_name": display_name(EGEMAPS_MODEL),
                        "label": max(probs, key=probs.get), "probabilities": probs})
    return records


def predictions_table(records: Sequence[dict]) -> pd.DataFrame:
    """The records as one flat table: a row per record, its probabilities as ``p_<label>`` columns."""
    return pd.DataFrame([
        {k: v for k, v in r.items() if k != "probabilities"} | {f"p_{k}": v for k, v in r["probabilities"].items()}
        for r in records
    ])
