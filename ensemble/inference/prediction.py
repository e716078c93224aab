"""Predictions of a trained run's models on audio files: one record per (file, model), the eGeMAPS baseline included.

Clips are cut with the run's own GDS threshold, so a prediction pools the same
patches the run was trained and scored with (mean log-probability over the kept
patches). With test-time augmentation (``tta=N``) each clip is also predicted as N
seeded augmented copies and the copies pool into one distribution
(`seraudit.ensemble.inference.tta`); the eGeMAPS baseline predicts the clip itself only.
"""

from __future__ import annotations

from typing import Sequence

import pandas as pd

from seraudit.core.errors import AudioError, RunError
from seraudit.ensemble.model.naming import display_name
from seraudit.ensemble.run import EGEMAPS_MODEL, Run


def predictable_models(run: Run) -> list[str]:
    """The run's models `predict_files` can use: its Keras models, then the eGeMAPS baseline when saved."""
    return run.model_names + ([EGEMAPS_MODEL] if run.has_egemaps else [])


def predict_files(run: Run, paths: Sequence[str], models: Sequence[str] | None = None, progress: bool = True,
                  tta: int = 0, seed: int = 0, require_speech: bool = False,
                  max_duration_s: float | None = None) -> list[dict]:
    """One record per (clip, model), model by model: path, model, display name, label and class probabilities.

    Every record carries ``error`` ("" when the clip was used), ``speech_fraction`` and
    ``warning`` ("no speech detected" or ""). A file that cannot be used does not stop
    the batch: it gets one record with an empty model and the reason in ``error``
    (`failed_records` picks those out). `require_speech` makes a clip without speech
    such a failure; `max_duration_s` overrides the loading limit.

    `models` defaults to every model of the run; a name the run does not hold
    stops before any audio is read, naming what it holds. ``tta=N > 0`` predicts
    each clip as itself plus N augmented copies drawn under `seed` and records
    ``"tta": N`` and ``"tta_seed"``; the eGeMAPS baseline ignores it and records
    ``"tta": 0``. ``tta=0`` (the default) gives the records without those fields.
    """
    from tqdm.auto import tqdm

    models = check_models(run, models, tta)
    neural = {m: run.model(m) for m in models if m != EGEMAPS_MODEL}
    threshold = run.gds_threshold
    per_file, used, failed, notes = [], [], [], {}  # per usable clip: every neural model's record
    for path in tqdm(paths, desc="features", unit="clip", disable=not progress):
        try:
            clip = load_clip(path, threshold, require_speech, max_duration_s)
        except AudioError as error:
            failed.append(failure_record(path, str(error)))
            continue
        used.append(path)
        notes[str(path)] = _notes(clip.audio)
        per_file.append(clip_records(neural, path, clip, tta, seed, threshold))
    records = order_records(list(neural), per_file)
    if EGEMAPS_MODEL in models and used:
        egemaps, egemaps_failed = egemaps_records(run, used, progress, tta, notes)
        records += egemaps
        failed += egemaps_failed
    return records + failed


def load_clip(path, threshold: float, require_speech: bool = False, max_duration_s: float | None = None):
    """A file's features cut with the run's GDS threshold (raises `AudioError` for a file that cannot be used)."""
    from seraudit.preprocessing.pipeline import clip_features

    limits = {} if max_duration_s is None else {"max_duration_s": max_duration_s}
    return clip_features(path, gds_threshold=threshold, require_speech=require_speech, **limits)


def check_models(run: Run, models: Sequence[str] | None, tta: int) -> list[str]:
    """The models to predict with (default: all of the run's); a name the run lacks stops before any audio is read."""
    if tta < 0:
        raise ValueError(f"tta is a number of augmented copies per clip (0: off), got {tta}")
    available = predictable_models(run)
    if not available:
        raise RunError(f'{run.path} holds no trained model; train one with `seraudit.train(..., out="{run.path}")`')
    models = list(models or available)
    missing = [m for m in models if m not in available]
    if missing:
        raise RunError(f"{run.path} has no model {', '.join(missing)}; it has {', '.join(available)}")
    return models


def clip_records(neural: dict, path, clip, tta: int, seed: int, threshold: float) -> list[dict]:
    """One record per neural model (name -> `TrainedModel`) for one clip's features, with its TTA copies when asked."""
    from seraudit.ensemble.inference.tta import clip_copies, predict_copies

    versions = clip_copies(clip, tta, seed, threshold) if tta and neural else [clip]
    notes = _notes(clip.audio)
    records = []
    for name, model in neural.items():
        head = {"path": str(path), "model": name, "display_name": model.display_name}
        if tta:
            records.append(head | predict_copies(model, versions) | {"tta": tta, "tta_seed": seed} | notes)
        else:
            records.append(head | model.predict_clip(versions[0]).as_dict() | notes)
    return records


def order_records(names: Sequence[str], per_file: Sequence[Sequence[dict]]) -> list[dict]:
    """Per-file record lists regrouped model by model (each model's files in input order), as `predict` prints them."""
    return [r for name in names for records in per_file for r in records if r["model"] == name]


def clip_notes(records: Sequence[dict]) -> dict[str, dict]:
    """Path -> the speech fraction and warning its records carry (what the eGeMAPS records get too, on Ray)."""
    return {r["path"]: {k: r[k] for k in ("speech_fraction", "warning", "error")} for r in records}


def egemaps_records(run: Run, paths: Sequence[str], progress: bool, tta: int,
                    notes: dict[str, dict] | None = None) -> tuple[list[dict], list[dict]]:
    """The eGeMAPS baseline's records (``"tta": 0`` when TTA was asked for the other models) and the failure
    records of files openSMILE could not read."""
    records, failed = _egemaps_records(run, paths, progress)
    notes = notes or {}
    blank = {"speech_fraction": None, "warning": "", "error": ""}
    return [r | notes.get(r["path"], blank) | ({"tta": 0} if tta else {}) for r in records], failed


def _notes(audio) -> dict:
    return {"speech_fraction": round(float(audio.speech_fraction), 4), "warning": "; ".join(audio.warnings), "error": ""}


def failure_record(path, error: str, model: str = "") -> dict:
    """The record of a file that could not be predicted: no label, no probabilities, the reason."""
    return {"path": str(path), "model": model, "display_name": "", "label": "", "probabilities": {},
            "speech_fraction": None, "warning": "", "error": error}


def failed_records(records: Sequence[dict]) -> list[dict]:
    """The records of files that could not be used (a non-empty ``error``)."""
    return [r for r in records if r.get("error")]


def _egemaps_records(run: Run, paths: Sequence[str], progress: bool) -> tuple[list[dict], list[dict]]:
    """The eGeMAPS baseline's records, and failure records of files openSMILE could not read.

    A class the classifier never saw in training gets probability 0.
    """
    import numpy as np

    from seraudit.preprocessing.egemaps import ERROR_COLUMN, extract_egemaps

    pipe, labels = run.egemaps_model()
    table = extract_egemaps(list(dict.fromkeys(str(p) for p in paths)), progress=progress)
    table = table[~table.index.duplicated()]  # one row per file, however often it was named
    errors = table[ERROR_COLUMN] if ERROR_COLUMN in table else pd.Series(None, index=table.index, dtype=object)
    failed = [failure_record(p, f"eGeMAPS extraction failed: {errors.loc[str(p)]}", EGEMAPS_MODEL)
              for p in paths if errors.notna().loc[str(p)]]
    good = [str(p) for p in paths if not errors.notna().loc[str(p)]]
    if not good:
        return [], failed
    features = table.drop(columns=[ERROR_COLUMN], errors="ignore").loc[good].to_numpy(dtype=np.float64)
    proba = np.zeros((len(good), len(labels)))
    proba[:, [int(c) for c in pipe.classes_]] = pipe.predict_proba(features)
    if run.egemaps_temperature != 1.0:  # as scored out of fold (`Trainer.clip_probabilities`)
        from seraudit.ensemble.evaluation.calibration import scale_probabilities

        proba = scale_probabilities(proba, run.egemaps_temperature)
    records = []
    for path, row in zip(good, proba):
        probs = {labels[c]: float(p) for c, p in enumerate(row)}
        records.append({"path": str(path), "model": EGEMAPS_MODEL, "display_name": display_name(EGEMAPS_MODEL),
                        "label": max(probs, key=probs.get), "probabilities": probs})
    return records, failed


def predictions_table(records: Sequence[dict]) -> pd.DataFrame:
    """The records as one flat table: a row per record, its probabilities as ``p_<label>`` columns, an attentive
    model's patch weights as one JSON text per head (``attention_<head>``: a list, patch by patch)."""
    import json

    def flat(r: dict) -> dict:
        row = {k: v for k, v in r.items() if k not in ("probabilities", "attention")}
        row |= {f"attention_{head}": json.dumps(w) for head, w in r.get("attention", {}).items()}
        return row | {f"p_{k}": v for k, v in r["probabilities"].items()}

    return pd.DataFrame([flat(r) for r in records])
