"""A trained run on disk: `write_run` builds the folder atomically, `Run.open` reads it back for every command.

Layout::

    RUN/
      run.json            settings, corpus, weight sources, library versions, command line, timings
      folds.json          the speaker-independent fold plan (and the final model's split)
      predictions.csv     cross-validation clip predictions of every model (per-fold models)
      results.json        metrics and ensemble-vs-single comparisons
      models/<name>/      config.json, labels.json, provenance.json, model.weights.h5 (Keras models)
      models/<name>/folds/<k>.json, <k>.npz   what fold k's model learned: its config and its head (and late-fusion)
                          weights; the frozen towers are the final model's, so a fold model is small
      models/egemaps/     config.json, labels.json, provenance.json, model.joblib (scikit-learn)

A corpus clip is explained by the model of the fold that tested its speaker (`Run.fold_of`,
`Run.model(name, fold=k)`, `Run.model_for_clip`): a model that never heard that speaker. Runs
written before the fold weights were kept (or fine-tuned runs, whose towers differ per fold)
have none: their clips can only be explained by the final model, in-sample.

The whole folder is built in a temporary sibling and moved into place in one
step, so an interrupted run leaves no loadable half model. Every reader goes
through one `Run`, so a missing or incomplete folder always fails the same way:
naming the folder and how to train one.
"""

from __future__ import annotations

import functools
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
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
FOLDS_DIR = "folds"  # models/<name>/folds/<k>.json + <k>.npz: fold k's head weights
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


@dataclass
class FoldModel:
    """What one cross-validation fold's model learned, beyond the frozen towers it shares with the final model.

    ``config`` is the fold's ``config.json`` (its own chosen layers, late-fusion weights); ``weights`` maps
    a graph layer to its weight arrays: the heads and the late fusion. The frozen tower layers come from
    the final model, or, for a fold whose heads read deeper than the final model's, from the backbone
    weights the run recorded (``run.json`` "weights": the same files, or the same seed for an untrained one).
    """

    config: dict
    weights: dict[str, list[np.ndarray]]


def write_fold_model(folder: Path, fold: int, model: FoldModel) -> None:
    """``folds/<k>.json`` (config, the layers stored and how many arrays each) and ``folds/<k>.npz`` (the arrays)."""
    layers = list(model.weights)
    arrays = {f"w{i}_{j}": np.asarray(w) for i, layer in enumerate(layers) for j, w in enumerate(model.weights[layer])}
    (folder / FOLDS_DIR).mkdir(parents=True, exist_ok=True)
    np.savez(folder / FOLDS_DIR / f"{fold}.npz", **arrays)
    write_json(folder / FOLDS_DIR / f"{fold}.json",
               {"fold": fold, "config": model.config, "layers": [[layer, len(model.weights[layer])] for layer in layers]})


def read_fold_model(folder: Path, fold: int) -> FoldModel:
    """The `FoldModel` `write_fold_model` wrote (a damaged record raises a RunError naming it)."""
    fix = "retrain the run to keep its fold models"
    record = read_json(folder / FOLDS_DIR / f"{fold}.json", "fold model", fix, error=RunError)
    try:
        with np.load(folder / FOLDS_DIR / f"{fold}.npz") as arrays:
            weights = {layer: [arrays[f"w{i}_{j}"] for j in range(count)]
                       for i, (layer, count) in enumerate(record["layers"])}
    except (OSError, KeyError, ValueError) as error:
        raise RunError(f"{folder / FOLDS_DIR / f'{fold}.npz'} is not a readable fold model ({error}); {fix}") from error
    return FoldModel(record["config"], weights)


def write_run(out: str | Path, run_info: dict, folds: list[dict] | dict, predictions: pd.DataFrame, results: dict,
              keras_models: dict[str, tuple[Any, dict, dict]], labels: list[str], egemaps: tuple[Any, dict] | None,
              failures: list[dict] | None = None, fold_models: dict[int, dict[str, FoldModel]] | None = None) -> Path:
    """Write a complete run directory atomically.

    `keras_models` maps name -> (keras model, config, provenance); `egemaps` is
    (fitted scikit-learn pipeline, provenance) or None; `failures` are the corpus
    files left out because they could not be used (``failures.csv``: clip, error, stage);
    `fold_models` maps a fold index to each model's `FoldModel` (``models/<name>/folds/``).
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
        for fold, per_model in (fold_models or {}).items():
            for name, fold_model in per_model.items():
                if name in keras_models:
                    write_fold_model(tmp / MODELS_DIR / name, int(fold), fold_model)
        if egemaps is not None:
            folder = tmp / MODELS_DIR / EGEMAPS_MODEL
            config = {"name": EGEMAPS_MODEL, "features": "eGeMAPSv02 functionals (88)",
                      "classifier": "StandardScaler + LogisticRegression(class_weight='balanced')"}
            temperature = float(egemaps[2]) if len(egemaps) > 2 else 1.0
            if temperature != 1.0:  # what `predict` applies, as the neural graphs carry theirs
                config["temperature"] = temperature
            write_json(folder / "config.json", config)
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

    def model(self, name: str, fold: int | None = None, *, base: TrainedModel | None = None) -> TrainedModel:
        """The saved Keras model `name`, rebuilt with its weights; with `fold`, that cross-validation fold's model.

        A fold model is the fold's graph (its own chosen layers) with its saved head weights and the
        final model's frozen towers (`base`, the final model already loaded, saves loading it again).
        A fold whose weights the run did not keep raises a RunError.
        """
        if fold is None:
            return load_trained_model(self.path, name)
        if not self.has_fold_model(name, fold):
            raise RunError(f"{self.path} kept no weights of fold {fold} for model {name!r} (runs trained before the fold "
                           f"models were kept, and fine-tuned runs, have none); {_train_hint(self.path)}")
        base = base if base is not None else self._base(name)
        return load_fold_model(self.path, name, fold, read_fold_model(self.path / MODELS_DIR / name, fold), base,
                               self._backbone_source, int(self.settings.get("seed", 0)))

    def _backbone_source(self, backbone: str):
        """The weights source of `backbone` this run recorded (``run.json`` "weights"), for tower layers a fold reads
        beyond the final graph; a recorded file that is gone raises a RunError that says where it was."""
        from seraudit.ensemble.weights.official import WeightsSource

        record = (self.provenance.get("weights") or {}).get(backbone)
        if not record:
            raise RunError(f"{self.path} records no {backbone} weights, which a fold model needs; {_train_hint(self.path)}")
        source = WeightsSource(backbone, Path(record["path"]) if record.get("path") else None, record.get("format", ""),
                               record.get("sha256"), bool(record.get("pretrained")), record.get("origin", ""),
                               record.get("integrity"), record.get("url"), record.get("files"))
        if source.pretrained and (source.path is None or not source.path.exists()):
            raise RunError(f"a fold model of {self.path} reads {backbone} layers beyond the final model's, from the "
                           f"weights the run was trained with ({record.get('path')}), which are not there; put them back")
        return source

    def _base(self, name: str) -> TrainedModel:
        """The final model `name`, loaded once: the frozen towers every fold model of it shares."""
        bases = self.__dict__.setdefault("_bases", {})
        if name not in bases:
            bases[name] = self.model(name)
        return bases[name]

    @property
    def cross_corpus(self) -> bool:
        """True for a cross-corpus run: its final model was trained on another corpus than the clips it tested."""
        return isinstance(self.folds, dict) and bool(self.folds.get("test_corpus"))

    def fold_of(self, speaker: str | None) -> int | None:
        """The cross-validation fold whose test speakers include `speaker` (``folds.json``); None when none does."""
        if speaker is None:
            return None
        for fold in self.folds.get("folds", []) if isinstance(self.folds, dict) else []:
            if str(speaker) in {str(s) for s in fold.get("test_speakers", [])}:
                return int(fold["index"])
        return None

    def has_fold_model(self, name: str, fold: int | None) -> bool:
        """Whether the run kept what fold `fold` of model `name` learned (runs from before it did, and fine-tuned runs, did not)."""
        if fold is None:
            return False
        folder = self.path / MODELS_DIR / name / FOLDS_DIR
        return (folder / f"{fold}.json").is_file() and (folder / f"{fold}.npz").is_file()

    def corpus_row(self, path: str | os.PathLike) -> pd.DataFrame:
        """The cross-validation rows (one per model) of the corpus clip at `path`; empty for a file outside the corpus."""
        table = self.predictions
        absolute = self.__dict__.get("_abs_paths")
        if absolute is None:
            absolute = self.__dict__["_abs_paths"] = table["path"].map(lambda p: os.path.abspath(str(p)))
        return table[absolute == os.path.abspath(os.fspath(path))]

    def model_for_clip(self, name: str, path: str | os.PathLike, *, base: TrainedModel | None = None) -> TrainedModel:
        """The model that explains the clip at `path` honestly: for a corpus clip, the model of the fold that tested its
        speaker (it never trained on that speaker); for a file outside the corpus, or a run that kept no fold models,
        the final model."""
        rows = self.corpus_row(path)
        fold = self.fold_of(str(rows["speaker"].iloc[0])) if len(rows) else None
        if self.has_fold_model(name, fold):
            return self.model(name, fold, base=base)
        return base if base is not None else self.model(name)

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

    @property
    def egemaps_temperature(self) -> float:
        """The temperature the eGeMAPS baseline's probabilities are scaled with (1 for runs that saved none)."""
        config = self.model_config(EGEMAPS_MODEL) or {}
        return float(config.get("temperature") or 1.0)

    def egemaps_model(self) -> tuple[Any, list[str]]:
        """(fitted pipeline, labels) of the run's eGeMAPS baseline."""
        import joblib

        folder = self.path / MODELS_DIR / EGEMAPS_MODEL
        if not self.has_egemaps:
            raise RunError(f"{folder} has no eGeMAPS model; {_EGEMAPS_HINT}")
        labels = read_json(folder / "labels.json", "eGeMAPS labels", _EGEMAPS_HINT, error=RunError)
        return joblib.load(folder / "model.joblib"), labels


def load_fold_model(run_dir: Path, name: str, fold: int, saved: FoldModel, base: TrainedModel,
                    backbone_source=None, seed: int = 0) -> TrainedModel:
    """Fold `fold`'s model `name`: its own graph, its saved head weights, the frozen tower layers from `base` (the final
    model), and those the final graph lacks (a fold reading deeper) from ``backbone_source(backbone)``."""
    import dataclasses

    from seraudit.ensemble.model.graph import build_model
    from seraudit.ensemble.model.spec import BACKBONES

    built = build_model(saved.config, n_classes=len(base.labels))
    source = base.keras_model
    held = {layer.name for layer in source.layers}
    missing = [layer.name for layer in built.keras_model.layers
               if layer.weights and layer.name not in saved.weights and layer.name not in held]
    deeper = [b for b in built.spec.branches if any(n.startswith(f"{b}_") for n in missing)]
    if len(deeper) and backbone_source is None:
        raise RunError(f"fold {fold} of model {name!r} in {run_dir} reads layers {', '.join(missing)} that the final "
                       f"model lacks; open it through `Run.model(name, fold=...)`")
    for b in deeper:  # the same frozen weights the fold was trained on: the recorded files, or the same seed
        BACKBONES[b].load_weights(built.keras_model, backbone_source(b), seed)
    for layer in built.keras_model.layers:
        if not layer.weights:
            continue
        if layer.name in saved.weights:
            weights = saved.weights[layer.name]
        elif layer.name in held:
            weights = source.get_layer(layer.name).get_weights()
        elif any(layer.name.startswith(f"{b}_") for b in deeper):
            continue  # filled from the backbone above
        else:
            raise RunError(f"fold {fold} of model {name!r} in {run_dir} needs layer {layer.name!r}, which neither its "
                           f"fold weights nor the final model hold; {_train_hint(run_dir)}")
        try:
            layer.set_weights(weights)
        except ValueError as error:
            raise RunError(f"fold {fold} of model {name!r} in {run_dir}: layer {layer.name!r} does not match "
                           f"({error}); {_train_hint(run_dir)}") from error
    return dataclasses.replace(
        base, keras_model=built.keras_model, conv_layers=built.conv_layers, embedding_layers=built.embedding_layers,
        provenance={**base.provenance, "fold": fold}, pooling=built.spec.pooling, attention_layers=built.attention_layers,
    )


_EGEMAPS_HINT = 'train with `models=[..., "egemaps"]`'


def _train_hint(path: Path) -> str:
    """How to train a run into `path`, as a library call (the command line writes it as `seraudit train ... --out`)."""
    return f'train one with `seraudit.train(..., out="{path}")`'
