"""A trained run on disk: `write_run` builds the folder atomically, `Run.open` reads it back for every command.

Layout::

    RUN/
      run.json            settings, corpus, weight sources, library versions, command line, timings
      folds.json          the speaker-independent fold plan (and the final model's split)
      predictions.csv     cross-validation clip predictions of every model (per-fold models)
      results.json        metrics and ensemble-vs-single comparisons
      models/<name>/      config.json, labels.json, provenance.json, model.weights.h5 (Keras models)
      models/egemaps/     config.json, labels.json, provenance.json, model.joblib (scikit-learn)

The whole folder is built in a temporary sibling and moved into place in one
step, so an interrupted run leaves no loadable half model. Every reader goes
through one `Run`, so a missing or incomplete folder always fails the same way:
naming the folder and how to train one.
"""

from __future__ import annotations

import functools
import os
import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import pandas as pd

from seraudit.core.errors import RunError
from seraudit.core.io import atomic_directory, read_failures, read_json, write_failures, write_json
from seraudit.ensemble.model.spec import NEURAL_MODELS
from seraudit.ensemble.model.trained import TrainedModel, list_models, load_trained_model

if TYPE_CHECKING:
    from seraudit.ensemble.training.settings import TrainSettings

RUN_FILE = "run.json"
FOLDS_FILE = "folds.json"
PREDICTIONS_FILE = "predictions.csv"
RESULTS_FILE = "results.json"
MODELS_DIR = "models"
EGEMAPS_MODEL = "egemaps"
#: Every model a run can hold: the neural models of `spec.MODELS`, then the eGeMAPS baseline.
RUN_MODELS = (*NEURAL_MODELS, EGEMAPS_MODEL)
# The training settings that decide a run's models; the others (progress bars, bootstrap size, ...) do not.
DECIDING_SETTINGS = ("corpus", "data", "models", "fusion", "fine_tune", "gds", "head", "seed", "max_clips", "allow_untrained",
                     "layers",  # runs trained before heads chose their layers record none: they are retrained
                     # absent when default (`TrainSettings.to_dict`), so older runs still match when they are
                     "weights", "layer_search", "aux_tasks", "aux_weight", "augment_copies", "tta_copies", "pooling",
                     "fine_tuning")
RUN_FILES = (RUN_FILE, FOLDS_FILE, PREDICTIONS_FILE, RESULTS_FILE)
# What results.json holds for the report beyond the scores (`ensemble.evaluation.run_facts`); a run without them is retrained.
REPORT_FACTS = ("corpus_summary", "gds_ablation")
# Columns of predictions.csv that hold names, read as text so labels like "1" or speakers like "01" survive.
_TEXT_COLUMNS = {"path": str, "label": str, "prediction": str, "speaker": str}

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


def write_run(out: str | Path, run_info: dict, folds: list[dict] | dict, predictions: pd.DataFrame, results: dict,
              keras_models: dict[str, tuple[Any, dict, dict]], labels: list[str], egemaps: tuple[Any, dict] | None,
              failures: list[dict] | None = None) -> Path:
    """Write a complete run directory atomically.

    `keras_models` maps name -> (keras model, config, provenance); `egemaps` is
    (fitted scikit-learn pipeline, provenance) or None; `failures` are the corpus
    files left out because they could not be used (``failures.csv``: clip, error, stage).
    """
    import joblib

    out = Path(out)
    with atomic_directory(out) as tmp:
        write_json(tmp / RUN_FILE, run_info)
        write_json(tmp / FOLDS_FILE, folds)
        predictions.to_csv(tmp / PREDICTIONS_FILE, index=False)
        write_json(tmp / RESULTS_FILE, results)
        write_failures(tmp, failures or [])
        for name, (model, config, provenance) in keras_models.items():
            folder = tmp / MODELS_DIR / name
            write_json(folder / "config.json", config)
            write_json(folder / "labels.json", labels)
            write_json(folder / "provenance.json", provenance)
            model.save_weights(folder / "model.weights.h5")
        if egemaps is not None:
            folder = tmp / MODELS_DIR / EGEMAPS_MODEL
            write_json(folder / "config.json", {"name": EGEMAPS_MODEL, "features": "eGeMAPSv02 functionals (88)", "classifier": "StandardScaler + LogisticRegression(class_weight='balanced')"})
            write_json(folder / "labels.json", labels)
            write_json(folder / "provenance.json", egemaps[1])
            joblib.dump(egemaps[0], folder / "model.joblib")
    return out


class Run:
    """One trained run folder, opened once: its records are read when first asked for, then kept.

    ``Run.open(path)`` checks that the folder holds a complete run and reads
    ``run.json``; folds, predictions and results are read on first use.
    """

    def __init__(self, path: Path, provenance: dict[str, Any]):
        self.path = path
        self.provenance = provenance  # run.json: settings, corpus, weights, library versions, timings

    @classmethod
    def open(cls, path: str | os.PathLike) -> "Run":
        """The run at `path`; a missing folder or a missing record raises a RunError that says how to train one."""
        path = Path(path)
        if not path.is_dir():
            raise RunError(f"run directory {path} does not exist; {_train_hint(path)}")
        missing = [name for name in RUN_FILES if not (path / name).is_file()]
        if missing:
            raise RunError(f"{path} is not a complete run (missing {', '.join(missing)}); {_train_hint(path)}")
        return cls(path, cls._read(path, RUN_FILE))

    @classmethod
    def reusable(cls, path: str | os.PathLike, settings: "TrainSettings") -> "Run | None":
        """The complete run at `path` when it was trained with `settings`; None when there is none or it differs.

        Lets a job skip training when its run folder already holds what it would train. A run
        from before training recorded the report's run facts (`REPORT_FACTS`) is retrained.
        """
        try:
            run = cls.open(path)
        except RunError:
            return None
        if not all(key in run.results for key in REPORT_FACTS):
            return None
        return run if run.trained_with(settings) else None

    @staticmethod
    def _read(path: Path, name: str) -> Any:
        return read_json(path / name, "run record", _train_hint(path), error=RunError)

    def __repr__(self) -> str:
        return f"Run({os.fspath(self.path)!r})"

    # ------------------------------------------------------------------ records
    @property
    def settings(self) -> dict[str, Any]:
        """The training settings (`TrainSettings.to_dict`), empty for a run that recorded none."""
        return self.provenance.get("settings", {})

    def trained_with(self, settings: "TrainSettings") -> bool:
        """True when the run's recorded settings equal `settings` in everything that decides its models."""
        wanted = settings.to_dict()
        return all(self.settings.get(key) == wanted.get(key) for key in DECIDING_SETTINGS)

    @functools.cached_property
    def folds(self) -> dict[str, Any]:
        """The fold plan (``folds.json``): cross-validation folds and the final model's split."""
        return self._read(self.path, FOLDS_FILE)

    @functools.cached_property
    def results(self) -> dict[str, Any]:
        """Saved metrics and comparisons (``results.json``)."""
        return self._read(self.path, RESULTS_FILE)

    @property
    def failures(self) -> list[dict[str, str]]:
        """The corpus files training left out (``failures.csv``: clip, error, stage); none for older runs."""
        return read_failures(self.path)

    @functools.cached_property
    def predictions(self) -> pd.DataFrame:
        """Cross-validation clip predictions of every model, one row per clip and model (``predictions.csv``)."""
        try:
            return pd.read_csv(self.path / PREDICTIONS_FILE, dtype=_TEXT_COLUMNS)
        except (OSError, ValueError) as error:
            raise RunError(
                f"{self.path / PREDICTIONS_FILE} is not a readable predictions table ({error}); {_train_hint(self.path)}"
            ) from error

    def confusion(self, name: str) -> tuple[list[str], list[list[int]]] | None:
        """(labels, matrix) of model `name` over all test folds, as ``results.json`` stores it (rows: true class).

        Read, never recounted from the predictions, so a report shows the matrix the scores
        came from; None when the run stored none for that model.
        """
        matrix = (self.results.get("models", {}).get(name) or {}).get("confusion_matrix")
        labels = [str(label) for label in self.results.get("labels", [])]
        if not matrix or len(matrix) != len(labels):
            return None
        return labels, [[int(v) for v in row] for row in matrix]

    def model_config(self, name: str) -> dict[str, Any] | None:
        """The saved ``config.json`` of model `name` (taps, layer weights, pooling); None when the run saved none."""
        path = self.path / MODELS_DIR / name / "config.json"
        if not path.is_file():
            return None
        return read_json(path, "model config", _train_hint(self.path), error=RunError)

    @property
    def gds_threshold(self) -> float:
        """The GDS threshold the run was trained with, so prediction and audit pool the same patches.

        -inf when the run trained without GDS (every patch is pooled); the current default
        for runs that recorded none.
        """
        from seraudit.preprocessing.gds import DEFAULT_GDS_THRESHOLD

        gds = self.provenance.get("gds", {})
        if gds and not gds.get("enabled", True):
            return float("-inf")
        return float(gds.get("threshold") or DEFAULT_GDS_THRESHOLD)

    def clip(self, source: str | os.PathLike | tuple[Any, int], **options: Any) -> "ClipFeatures":
        """A clip's features cut as this run's models were trained: its GDS threshold, the package's front end.

        `source` is a file or a ``(waveform, sample_rate)`` pair; `options` are the other
        loading rules of `seraudit.preprocessing.pipeline.clip_features` (``require_speech``,
        ``max_duration_s``). The threshold is not an option: another one would pool other
        patches than the ones the models were trained and scored on.
        """
        from seraudit.preprocessing.pipeline import clip_features

        return clip_features(source, gds_threshold=self.gds_threshold, **options)

    # ------------------------------------------------------------------ models
    @property
    def model_names(self) -> list[str]:
        """Names of the Keras models saved in the run (what `model` loads)."""
        return list_models(self.path)

    @property
    def has_egemaps(self) -> bool:
        """Whether the run saved its eGeMAPS baseline (what `egemaps_model` loads)."""
        return (self.path / MODELS_DIR / EGEMAPS_MODEL / "model.joblib").is_file()

    def model(self, name: str) -> TrainedModel:
        """The saved Keras model `name`, rebuilt with its weights."""
        return load_trained_model(self.path, name)

    def models(self, names: Sequence[str]) -> list[TrainedModel]:
        """The saved Keras models `names`, in that order; names the run lacks are all reported at once, before any loads."""
        available = self.model_names
        missing = [name for name in names if name not in available]
        if missing:
            raise RunError(
                f"{self.path} has no model(s) {', '.join(missing)} (it holds: {', '.join(available) or 'none'}); "
                f"pass `models` with some of those, or train them with `seraudit.train(..., models=[...], out=\"{self.path}\")`"
            )
        return [self.model(name) for name in names]

    def egemaps_model(self) -> tuple[Any, list[str]]:
        """(fitted pipeline, labels) of the run's eGeMAPS baseline."""
        import joblib

        folder = self.path / MODELS_DIR / EGEMAPS_MODEL
        if not self.has_egemaps:
            raise RunError(f"{folder} has no eGeMAPS model; {_EGEMAPS_HINT}")
        labels = read_json(folder / "labels.json", "eGeMAPS labels", _EGEMAPS_HINT, error=RunError)
        return joblib.load(folder / "model.joblib"), labels


_EGEMAPS_HINT = 'train with `models=[..., "egemaps"]`'


def _train_hint(path: Path) -> str:
    """How to train a run into `path`, as a library call (the command line writes it as `seraudit train ... --out`)."""
    return f'train one with `seraudit.train(..., out="{path}")`'
