"""Predictions of a trained run's models on audio files: one record per (file, model), the eGeMAPS baseline included.

Clips are cut with the run's own GDS threshold, so a prediction pools the same
patches the run was trained and scored with (mean log-probability over the kept
patches).
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


def predict_files(run: Run, paths: Sequence[str], models: Sequence[str] | None = None, progress: bool = True) -> list[dict]:
    """One record per (clip, model), model by model: path, model, display name, label and class probabilities.

    `models` defaults to every model of the run; a name the run does not hold
    stops before any audio is read, naming what it holds.
    """
    from tqdm.auto import tqdm

    from seraudit.preprocessing.pipeline import clip_features

    available = predictable_models(run)
    if not available:
        raise RunError(f"{run.path} holds no trained model; train one with `seraudit train ... --out {run.path}`")
    models = list(models or available)
    missing = [m for m in models if m not in available]
    if missing:
        raise RunError(f"{run.path} has no model {', '.join(missing)}; it has {', '.join(available)}")
    neural = {m: run.model(m) for m in models if m != EGEMAPS_MODEL}
    records = []
    threshold = run.gds_threshold
    clips = [clip_features(p, gds_threshold=threshold) for p in tqdm(paths, desc="features", unit="clip", disable=not progress)]
    for name, model in neural.items():
        for path, clip in zip(paths, clips):
            pred = model.predict_clip(clip)
            records.append({"path": str(path), "model": name, "display_name": model.display_name, **pred.as_dict()})
    if EGEMAPS_MODEL in models:
        records += _egemaps_records(run, paths, progress)
    return records


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
