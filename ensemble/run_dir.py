"""A trained run on disk: written atomically, read back for evaluation, comparison, prediction and audit.

Layout::

    RUN/
      run.json            settings, corpus, weight sources, library versions, command line, timings
      folds.json          the speaker-independent fold plan (and the final model's split)
      predictions.csv     cross-validation clip predictions of every model (per-fold models)
      results.json        metrics and ensemble-vs-single comparisons
      models/<name>/      config.json, labels.json, provenance.json, model.weights.h5 (Keras models)
      models/egemaps/     config.json, labels.json, provenance.json, model.joblib (scikit-learn)

The whole folder is built in a temporary sibling and moved into place in one
step, so an interrupted run leaves no loadable half model.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

import pandas as pd

from seraudit.core.errors import RunError
from seraudit.core.io import atomic_directory

CORPUS_DISPLAY = {"ravdess": "RAVDESS (2.4 s)", "emodb": "EmoDB (2 s)"}


def corpus_display(name: str) -> str:
    return CORPUS_DISPLAY.get(name.lower(), name)


def library_versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("tensorflow", "keras", "numpy", "scikit-learn", "pandas", "scipy", "opensmile"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def _json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True, allow_nan=False, default=str) + "\n")


def write_run(out: str | Path, run_info: dict, folds: list[dict], predictions: pd.DataFrame, results: dict,
              keras_models: dict[str, tuple[Any, dict, dict]], labels: list[str], egemaps: tuple[Any, dict] | None) -> Path:
    """Write a complete run directory atomically.

    `keras_models` maps name -> (keras model, config, provenance); `egemaps` is
    (fitted scikit-learn pipeline, provenance) or None.
    """
    import joblib

    out = Path(out)
    with atomic_directory(out) as tmp:
        _json(tmp / "run.json", run_info)
        _json(tmp / "folds.json", folds)
        predictions.to_csv(tmp / "predictions.csv", index=False)
        _json(tmp / "results.json", results)
        for name, (model, config, provenance) in keras_models.items():
            folder = tmp / "models" / name
            _json(folder / "config.json", config)
            _json(folder / "labels.json", labels)
            _json(folder / "provenance.json", provenance)
            model.save_weights(folder / "model.weights.h5")
        if egemaps is not None:
            folder = tmp / "models" / "egemaps"
            _json(folder / "config.json", {"name": "egemaps", "features": "eGeMAPSv02 functionals (88)", "classifier": "StandardScaler + LogisticRegression(class_weight='balanced')"})
            _json(folder / "labels.json", labels)
            _json(folder / "provenance.json", egemaps[1])
            joblib.dump(egemaps[0], folder / "model.joblib")
    return out


def read_json(run_dir: str | Path, name: str) -> Any:
    path = Path(run_dir) / name
    if not path.is_file():
        raise RunError(f"{path} is missing: {run_dir} is not a complete run; train one with `seraudit train ... --out {run_dir}`")
    return json.loads(path.read_text())


def read_predictions(run_dir: str | Path) -> pd.DataFrame:
    path = Path(run_dir) / "predictions.csv"
    if not path.is_file():
        raise RunError(f"{path} is missing: {run_dir} is not a complete run; train one with `seraudit train ... --out {run_dir}`")
    return pd.read_csv(path)


def gds_threshold(run_dir: str | Path) -> float:
    """The GDS threshold the run was trained with, so prediction and audit pool the same patches.

    -inf when the run trained without GDS (every patch is pooled); the current default
    for runs that recorded none.
    """
    from seraudit.preprocessing.gds import DEFAULT_GDS_THRESHOLD

    info = Path(run_dir) / "run.json"
    gds = json.loads(info.read_text()).get("gds", {}) if info.is_file() else {}
    if gds and not gds.get("enabled", True):
        return float("-inf")
    return float(gds.get("threshold") or DEFAULT_GDS_THRESHOLD)


def load_egemaps_model(run_dir: str | Path):
    """(fitted pipeline, labels) of the run's eGeMAPS baseline."""
    import joblib

    folder = Path(run_dir) / "models" / "egemaps"
    if not (folder / "model.joblib").is_file():
        raise RunError(f"{folder} has no eGeMAPS model; train with `--models ...,egemaps`")
    return joblib.load(folder / "model.joblib"), json.loads((folder / "labels.json").read_text())
