"""Training of the emotion models and their speaker-independent cross-validation.

Default mode (frozen backbones): every patch's YAMNet / VGGish embedding is
taken from the embedding cache, and only the dense heads are trained on the
GDS-kept patches of the training speakers (clip label = patch label, class
weights balanced, early stopping on an inner validation split of other
speakers). Fine-tuning (`fine_tune=True`) starts from those heads, unfreezes
the top layers of each backbone and trains the flat graph end-to-end on
log-mel patches.

Cross-validation predictions come from per-fold models; the final model saved
for prediction and audit is trained on all speakers of the corpus (an inner
validation group of speakers is held out for early stopping and late-fusion
weights).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from seraudit.ensemble.embedding_cache import CorpusPatches, EmbeddingCache, GdsSettings
from seraudit.ensemble.folds import Fold, final_split, fold_plan
from seraudit.ensemble.fusion import branches_of
from seraudit.ensemble.heads import HeadConfig
from seraudit.ensemble.trained import TrainedModel, pool_by_clip
from seraudit.core.labels import EMOTIONS

NEURAL_MODELS = ("ensemble", "yamnet", "vggish")
MODEL_NAMES = (*NEURAL_MODELS, "egemaps")
FINE_TUNE_LAYERS = {"yamnet": 4, "vggish": 3}
FINE_TUNE_HEAD = HeadConfig(learning_rate=1e-4, epochs=20, patience=3, batch_size=32)


@dataclass
class TrainSettings:
    """Everything that decides a training run (recorded in its provenance)."""

    corpus: str
    data: str
    models: list[str]
    fusion: str = "late"
    fine_tune: bool = False
    gds: GdsSettings = field(default_factory=GdsSettings)
    head: HeadConfig = field(default_factory=HeadConfig)
    seed: int = 0
    max_clips: int | None = None
    models_dir: str | None = None
    allow_untrained: tuple[str, ...] = ()
    download: bool = True
    cache_dir: str | None = None
    progress: bool = True
    n_boot: int = 2000
    command_line: list[str] = field(default_factory=lambda: list(sys.argv))
    fine_tune_epochs: int = FINE_TUNE_HEAD.epochs

    def to_dict(self) -> dict:
        return {
            "corpus": self.corpus,
            "data": str(self.data),
            "models": list(self.models),
            "fusion": self.fusion,
            "fine_tune": self.fine_tune,
            "fine_tune_layers": FINE_TUNE_LAYERS if self.fine_tune else None,
            "fine_tune_epochs": self.fine_tune_epochs if self.fine_tune else None,
            "gds": self.gds.to_dict(),
            "head": self.head.to_dict(),
            "seed": self.seed,
            "max_clips": self.max_clips,
            "allow_untrained": list(self.allow_untrained),
            "n_boot": self.n_boot,
            "command_line": list(self.command_line),
        }


def select_clips(table: pd.DataFrame, max_clips: int | None, seed: int = 0) -> pd.DataFrame:
    """A quick-run slice of at most `max_clips` clips, spread over speakers first, then emotions (seeded)."""
    table = table.reset_index(drop=True)
    if max_clips is None or max_clips >= len(table):
        return table
    shuffled = table.sample(frac=1.0, random_state=seed)
    per_label = shuffled.groupby(["speaker", "label"]).cumcount()
    shuffled = shuffled.assign(_r1=per_label.values).sort_values(["speaker", "_r1"], kind="stable")
    shuffled["_r2"] = shuffled.groupby("speaker").cumcount()
    picked = shuffled.sort_values(["_r2", "speaker"], kind="stable").head(max_clips)
    return picked.drop(columns=["_r1", "_r2"]).sort_values("path").reset_index(drop=True)


def label_set(labels) -> list[str]:
    """The corpus's emotions in the canonical order."""
    present = set(labels)
    return [e for e in EMOTIONS if e in present] + sorted(present - set(EMOTIONS))


@dataclass
class CorpusData:
    """One corpus ready for training: clip table, labels, patches, embeddings (and eGeMAPS when asked)."""

    table: pd.DataFrame
    labels: list[str]
    y: np.ndarray  # [n_clips]
    speakers: np.ndarray  # [n_clips] str
    patches: CorpusPatches
    keep: np.ndarray  # [P] GDS keep-mask
    embeddings: dict[str, np.ndarray]
    egemaps: np.ndarray | None = None

    @property
    def n_classes(self) -> int:
        return len(self.labels)

    def patch_mask(self, clip_mask: np.ndarray, kept_only: bool = True) -> np.ndarray:
        mask = np.asarray(clip_mask, bool)[self.patches.clip_index]
        return mask & self.keep if kept_only else mask


def prepare_data(
    table: pd.DataFrame,
    backbones: list[str],
    sources: dict[str, Any],
    gds: GdsSettings,
    cache: EmbeddingCache,
    seed: int,
    with_egemaps: bool,
    labels: list[str] | None = None,
) -> CorpusData:
    """Embeddings, patch table and (optionally) eGeMAPS features for every clip of `table`."""
    from seraudit.ensemble.baseline_egemaps import egemaps_matrix

    table = table.reset_index(drop=True)
    labels = labels or label_set(table["label"])
    index = {lab: i for i, lab in enumerate(labels)}
    paths = table["path"].astype(str).tolist()
    egemaps = egemaps_matrix(paths, cache_dir=cache.dir, progress=cache.progress) if with_egemaps else None
    patches = cache.patches(paths)
    embeddings = {b: cache.embeddings(paths, b, sources[b], seed) for b in backbones}
    return CorpusData(
        table=table,
        labels=labels,
        y=table["label"].map(index).to_numpy(dtype=np.int64),
        speakers=(table["corpus"].astype(str) + ":" + table["speaker"].astype(str)).to_numpy()
        if "corpus" in table and table["corpus"].nunique() > 1
        else table["speaker"].astype(str).to_numpy(),
        patches=patches,
        keep=patches.keep(gds),
        embeddings=embeddings,
        egemaps=egemaps,
    )


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


@dataclass
class FittedFold:
    """The heads (and baseline) trained on one split, able to score any patches of the corpus."""

    heads: dict[str, Any] = field(default_factory=dict)  # "yamnet" | "vggish" | "fused" -> keras head model
    late_weights: np.ndarray | None = None
    late_fit: dict | None = None
    egemaps_model: Any = None
    history: dict = field(default_factory=dict)
    full_models: dict[str, Any] = field(default_factory=dict)  # fine-tuned flat graphs by model name

    def head_input(self, data: CorpusData, key: str, patch_idx: np.ndarray) -> np.ndarray:
        if key == "fused":
            return np.concatenate([data.embeddings["yamnet"][patch_idx], data.embeddings["vggish"][patch_idx]], axis=1)
        return data.embeddings[key][patch_idx]

    def head_logp(self, data: CorpusData, key: str, patch_idx: np.ndarray) -> np.ndarray:
        x = self.head_input(data, key, patch_idx)
        return _log_softmax(np.asarray(self.heads[key].predict_on_batch(x), np.float64)) if len(x) else np.zeros((0, data.n_classes))

    def model_logp(self, data: CorpusData, name: str, fusion: str, patch_idx: np.ndarray) -> np.ndarray:
        """Patch log-probabilities ``[n, C]`` of model `name` for the patches `patch_idx`."""
        if name in self.full_models:
            probs = TrainedModel(name, self.full_models[name], data.labels, {}, {}, {}, None).predict_patches(data.patches.data[patch_idx])
            return np.log(np.clip(probs, 1e-12, 1.0))
        if name in ("yamnet", "vggish"):
            return self.head_logp(data, name, patch_idx)
        if fusion == "feature":
            return self.head_logp(data, "fused", patch_idx)
        scores = sum(w * self.head_logp(data, b, patch_idx) for w, b in zip(self.late_weights, branches_of("ensemble")))
        return _log_softmax(scores)


def _head_keys(models: list[str], fusion: str) -> list[str]:
    keys = []
    for name in models:
        if name in ("yamnet", "vggish"):
            keys.append(name)
        elif name == "ensemble":
            keys += ["yamnet", "vggish"] if fusion == "late" else ["fused"]
    return list(dict.fromkeys(keys))


def head_names(key: str) -> tuple[str, str]:
    """(layer prefix, logits layer name) of the stand-alone head trained for `key`."""
    prefix = "fused_head" if key == "fused" else f"{key}_head"
    return prefix, f"{prefix}_logits"


def clip_probabilities(data: CorpusData, logp: np.ndarray, patch_idx: np.ndarray, clips: np.ndarray) -> np.ndarray:
    """Pool patch log-probabilities of `patch_idx` into clip probabilities for `clips` (GDS-kept patches only)."""
    kept = data.keep[patch_idx]
    local = np.searchsorted(clips, data.patches.clip_index[patch_idx])
    return pool_by_clip(np.exp(logp[kept]), local[kept], len(clips))


def fit_split(data: CorpusData, fold: Fold, settings: TrainSettings, sources: dict[str, Any], desc: str = "") -> FittedFold:
    """Train every model of `settings` on the fold's train speakers (validation on its inner validation speakers)."""
    from seraudit.ensemble.baseline_egemaps import make_baseline
    from seraudit.ensemble.fusion import fit_late_fusion_weights
    from seraudit.ensemble.heads import (
        build_embedding_head,
        fit_logits_model,
        set_standardization,
    )

    train_clips, val_clips, _ = fold.masks(data.speakers)
    tr, va = data.patch_mask(train_clips), data.patch_mask(val_clips)
    fitted = FittedFold()
    for i, key in enumerate(_head_keys(settings.models, settings.fusion)):
        prefix, logits = head_names(key)
        x_tr = fitted.head_input(data, key, np.flatnonzero(tr))
        x_va = fitted.head_input(data, key, np.flatnonzero(va))
        head = build_embedding_head(x_tr.shape[1], data.n_classes, settings.head, prefix, logits)
        set_standardization(head, prefix, x_tr)
        fitted.history[key] = fit_logits_model(
            head, x_tr, data.y[data.patches.clip_index[tr]], x_va, data.y[data.patches.clip_index[va]],
            data.n_classes, settings.head, seed=settings.seed + i,
        )
        fitted.heads[key] = head
    if "ensemble" in settings.models and settings.fusion == "late":
        val_idx = np.flatnonzero(data.patch_mask(val_clips))
        if len(val_idx):
            branch = [fitted.head_logp(data, b, val_idx) for b in branches_of("ensemble")]
            fitted.late_weights, fitted.late_fit = fit_late_fusion_weights(
                branch, data.y[data.patches.clip_index[val_idx]], data.patches.clip_index[val_idx]
            )
        else:
            fitted.late_weights, fitted.late_fit = np.array([0.5, 0.5]), {"criterion": "equal weights (no validation speakers)"}
    if "egemaps" in settings.models:
        fit_clips = train_clips | val_clips
        fitted.egemaps_model = make_baseline(settings.seed).fit(data.egemaps[fit_clips], data.y[fit_clips])
    if settings.fine_tune:
        for name in [m for m in settings.models if m in NEURAL_MODELS]:
            built, _ = assemble_model(name, data, fitted, settings, sources)
            fitted.history[f"{name}_fine_tune"] = fine_tune(built, data, tr, va, settings)
            fitted.full_models[name] = built.keras_model
    return fitted


def fine_tune(built, data: CorpusData, train_patches: np.ndarray, val_patches: np.ndarray, settings: TrainSettings) -> dict:
    """Unfreeze the top layers of each backbone and train the flat graph end-to-end on log-mel patches."""
    import keras

    from seraudit.ensemble.fusion import LOGITS_NAME, set_trainable_top
    from seraudit.ensemble.heads import fit_logits_model

    if data.patches.data is None:
        raise RuntimeError("fine-tuning needs the log-mel patches in memory")
    model = built.keras_model
    unfrozen = {b: set_trainable_top(model, tower, FINE_TUNE_LAYERS[b]) for b, tower in built.towers.items()}
    logits_model = keras.Model(model.inputs, model.get_layer(LOGITS_NAME).output)
    cfg = replace(FINE_TUNE_HEAD, epochs=settings.fine_tune_epochs)
    x_tr, x_va = data.patches.data[train_patches], data.patches.data[val_patches]
    summary = fit_logits_model(
        logits_model, x_tr, data.y[data.patches.clip_index[train_patches]], x_va,
        data.y[data.patches.clip_index[val_patches]], data.n_classes, cfg, seed=settings.seed,
    )
    return {**summary, "unfrozen": unfrozen, "config": cfg.to_dict()}


def model_config(name: str, data: CorpusData, settings: TrainSettings, sources: dict[str, Any]) -> dict:
    branches = branches_of(name)
    return {
        "name": name,
        "fusion": settings.fusion if name == "ensemble" else None,
        "head": settings.head.to_dict(),
        "branch_untrained": {b: not sources[b].pretrained for b in branches},
        "labels": data.labels,
        "fine_tune": settings.fine_tune,
    }


def assemble_model(name: str, data: CorpusData, fitted: FittedFold, settings: TrainSettings, sources: dict[str, Any]):
    """The flat graph of `name` with backbone weights loaded and the trained head(s) moved in by layer name."""
    from seraudit.ensemble.embedding_cache import load_backbone_weights
    from seraudit.ensemble.fusion import LOGITS_NAME, build_model, set_late_fusion_weights

    config = model_config(name, data, settings, sources)
    if name in fitted.full_models:
        built = build_model(config, data.n_classes)
        built.keras_model.set_weights(fitted.full_models[name].get_weights())
        return built, config
    built = build_model(config, data.n_classes)
    model = built.keras_model
    for b in branches_of(name):
        load_backbone_weights(model, b, sources[b], settings.seed)
    late = name == "ensemble" and config["fusion"] == "late"
    keys = ["yamnet", "vggish"] if late else (["fused"] if name == "ensemble" else [name])
    for key in keys:
        prefix, logits = head_names(key)
        head = fitted.heads[key]
        carried = ("standardize", "dense") if settings.head.hidden > 0 else ("standardize",)
        for suffix in carried:
            model.get_layer(f"{prefix}_{suffix}").set_weights(head.get_layer(f"{prefix}_{suffix}").get_weights())
        model.get_layer(logits if late else LOGITS_NAME).set_weights(head.get_layer(logits).get_weights())
    if late:
        set_late_fusion_weights(model, fitted.late_weights)
        config["late_fusion_weights"] = {b: float(w) for b, w in zip(branches_of("ensemble"), fitted.late_weights)}
    return built, config


def check_assembled(model, name: str, data: CorpusData, fitted: FittedFold, fusion: str, n_clips: int = 2) -> float:
    """Largest difference between the flat graph and the cached-embedding heads on a few clips' patches.

    Guards that the saved graph computes exactly what was evaluated.
    """
    from seraudit.preprocessing.pipeline import clip_features

    paths = data.table["path"].astype(str).tolist()[:n_clips]
    patches = np.concatenate([clip_features(p).patches.data for p in paths])
    idx = np.flatnonzero(data.patches.clip_index < n_clips)
    graph = TrainedModel(name, model, data.labels, {}, {}, {}, None).predict_patches(patches)
    heads = np.exp(fitted.model_logp(data, name, fusion, idx))
    return float(np.abs(graph - heads).max())


def reference_prediction(model, name: str, data: CorpusData, settings: TrainSettings) -> dict:
    """The in-memory graph's pooled prediction of the corpus's first clip, saved with the model.

    A reloaded model must reproduce it: the check that saving and loading lose nothing.
    """
    from seraudit.preprocessing.pipeline import clip_features

    path = str(data.table["path"].iloc[0])
    gds = settings.gds.resolved()
    clip = clip_features(path, gds_threshold=gds.threshold if gds.enabled else float("-inf"))
    pred = TrainedModel(name, model, data.labels, {}, {}, {}, None).predict_clip(clip)
    return {"path": path, "probabilities": pred.probabilities.tolist(), "label": pred.label}


def predict_split(data: CorpusData, fitted: FittedFold, settings: TrainSettings, clips: np.ndarray, fold_index: int) -> pd.DataFrame:
    """Clip-level predictions of every model for the clip indices `clips` (long table: one row per model and clip)."""
    clips = np.sort(np.asarray(clips))
    patch_idx = np.flatnonzero(np.isin(data.patches.clip_index, clips))
    rows = []
    for name in settings.models:
        if name == "egemaps":
            proba = np.zeros((len(clips), data.n_classes))
            model = fitted.egemaps_model
            proba[:, model.classes_.astype(int)] = model.predict_proba(data.egemaps[clips])
        else:
            proba = clip_probabilities(data, fitted.model_logp(data, name, settings.fusion, patch_idx), patch_idx, clips)
        frame = pd.DataFrame(proba, columns=[f"p_{lab}" for lab in data.labels])
        frame.insert(0, "model", name)
        frame.insert(1, "fold", fold_index)
        frame.insert(2, "path", data.table["path"].to_numpy()[clips])
        frame.insert(3, "speaker", data.speakers[clips])
        frame.insert(4, "label", data.table["label"].to_numpy()[clips])
        frame.insert(5, "prediction", np.asarray(data.labels)[proba.argmax(axis=1)])
        rows.append(frame)
    return pd.concat(rows, ignore_index=True)


@dataclass
class CrossValidation:
    folds: list[Fold]
    predictions: pd.DataFrame
    histories: list[dict]
    seconds: float


def cross_validate(data: CorpusData, settings: TrainSettings, sources: dict[str, Any]) -> CrossValidation:
    """Speaker-independent cross-validation: per-fold models, predictions on each fold's test speakers."""
    from tqdm.auto import tqdm

    start = time.perf_counter()
    corpus = str(data.table["corpus"].iloc[0]) if "corpus" in data.table else settings.corpus
    folds = fold_plan(data.speakers, corpus, seed=settings.seed)
    preds, histories = [], []
    for fold in tqdm(folds, desc=f"cross-validation ({len(folds)} folds)", unit="fold", disable=not settings.progress):
        fitted = fit_split(data, fold, settings, sources)
        _, _, test = fold.masks(data.speakers)
        preds.append(predict_split(data, fitted, settings, np.flatnonzero(test), fold.index))
        histories.append({"fold": fold.index, **fitted.history, "late_fusion_weights": None if fitted.late_weights is None else fitted.late_weights.tolist()})
    return CrossValidation(folds, pd.concat(preds, ignore_index=True), histories, time.perf_counter() - start)


def train_final(data: CorpusData, settings: TrainSettings, sources: dict[str, Any]) -> tuple[dict, FittedFold, Fold]:
    """Train the final models on all speakers; returns {name: (keras model, config)} for the neural models."""
    fold = final_split(data.speakers, seed=settings.seed)
    fitted = fit_split(data, fold, settings, sources)
    out = {}
    for name in [m for m in settings.models if m in NEURAL_MODELS]:
        built, config = assemble_model(name, data, fitted, settings, sources)
        if not settings.fine_tune:
            gap = check_assembled(built.keras_model, name, data, fitted, settings.fusion)
            if gap > 1e-3:
                raise RuntimeError(f"the assembled {name} graph differs from its trained heads by {gap:.2e}")
            config["assembly_check_max_abs_diff"] = gap
        config["reference_prediction"] = reference_prediction(built.keras_model, name, data, settings)
        out[name] = (built, config)
    return out, fitted, fold
