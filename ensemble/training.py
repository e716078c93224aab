"""Training of the emotion models and their speaker-independent cross-validation.

Default mode (frozen backbones): every readable layer of YAMNet and VGGish is
taken from the embedding cache for every patch, and only linear heads are
trained, on each training clip's mean feature over its GDS-kept patches
(`ensemble.linear_head`). Which layers each backbone's head reads, and the
head's regularisation, are chosen on the inner-validation speakers of the
split; the late-fusion weights are fitted on those speakers too; then the
chosen heads are refitted on training plus validation speakers. Fine-tuning
(`fine_tune=True`) starts from those heads, unfreezes the top layers of each
backbone and trains the flat graph end-to-end on log-mel patches.

`Trainer` is the estimator: settings in the constructor, `fit` on one split
of a prepared corpus (`ensemble.corpus_data`), learned state in attributes
ending in ``_``; it then scores patches and clips of any prepared corpus and
assembles each model's flat Keras graph. Cross-validation predictions come
from one `Trainer` per fold; the final model saved for prediction and audit
is trained on all speakers of the corpus (an inner validation group of
speakers chooses the layers and the late-fusion weights; fine-tuning stops
early on it).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from seraudit.ensemble.corpus_data import CorpusData
from seraudit.ensemble.folds import Fold, final_split, fold_plan
from seraudit.ensemble.fusion import combine_late, log_softmax
from seraudit.ensemble.heads import HeadConfig
from seraudit.ensemble.linear_head import HeadChoice, fit_linear_head, select_head
from seraudit.ensemble.pooling import LOG_EPS
from seraudit.ensemble.spec import BACKBONES, LOGITS_NAME, NEURAL_MODELS, HeadSpec, ModelSpec
from seraudit.ensemble.trained import TrainedModel
from seraudit.preprocessing.gds import GdsSettings

FINE_TUNE_LAYERS = {b.name: b.fine_tune_layers for b in BACKBONES.values()}
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
    layers: dict[str, tuple[str, ...]] | None = None  # backbone -> fixed layers its heads read; None: searched
    strict: bool = False  # refuse a corpus with unusable clips instead of training on the rest
    label_map: str | None = None  # CSV/JSON file mapping a manifest's own labels to the canonical emotions

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
            "layers": "searched on validation speakers" if self.layers is None else {b: list(t) for b, t in self.layers.items()},
        }

    def specs(self) -> dict[str, ModelSpec]:
        """The spec of every neural model of the run, in the order of `models`."""
        return {name: ModelSpec.named(name, self.fusion, self.head) for name in self.models if name in NEURAL_MODELS}


class Trainer:
    """Every model of a run trained on one split of a corpus: linear heads on cached layer features, late-fusion
    weights, the eGeMAPS baseline and (when fine-tuning) the end-to-end graphs.

    Parameters
    ----------
    settings : TrainSettings
        Which models, fusion, head and GDS settings, seed, fine-tuning.
    sources : dict
        Backbone -> its resolved weights (`ensemble.weights.resolve_weights`).

    Attributes (set by `fit`)
    -------------------------
    taps_ : dict
        Backbone -> the layers its heads read, chosen on the validation speakers.
    heads_ : dict
        Head key (``"yamnet"``, ``"vggish"``, ``"fused"``) -> its `LinearHead` (refitted on train + validation).
    late_weights_ : ndarray or None
        Branch weights of the late-fused ensemble (order of its branches).
    late_fit_ : dict or None
        How the weights were chosen (the validation grid).
    egemaps_model_ : scikit-learn pipeline or None
    history_ : dict
        Training summary per head (and per fine-tuned model, ``"<name>_fine_tune"``).
    full_models_ : dict
        Model name -> its fine-tuned flat graph (empty without fine-tuning).
    """

    def __init__(self, settings: TrainSettings, sources: dict[str, Any]):
        self.settings = settings
        self.sources = sources

    @property
    def specs(self) -> dict[str, ModelSpec]:
        """The spec of every neural model the settings name (what `fit` trains and `assemble` builds), with the chosen layers."""
        taps = getattr(self, "taps_", None)
        return {name: ModelSpec.named(name, spec.fusion, spec.head, taps) for name, spec in self.settings.specs().items()}

    def _heads(self) -> list[HeadSpec]:
        """Every distinct head of the run's models, in model order (a head two models share is trained once)."""
        return list(dict.fromkeys(h for spec in self.specs.values() for h in spec.heads))

    def fit(self, data: CorpusData, fold: Fold) -> "Trainer":
        """Train every model of the settings on the fold's train speakers (choices made on its validation speakers)."""
        from seraudit.ensemble.baseline_egemaps import make_baseline
        from seraudit.ensemble.fusion import fit_late_fusion_weights

        settings = self.settings
        if settings.head.hidden > 0:
            raise ValueError("frozen-backbone heads are linear (hidden=0); a hidden layer is only trained when fine-tuning")
        train_clips, val_clips, _ = fold.masks(data.speakers)
        tr_c, va_c, fit_c = np.flatnonzero(train_clips), np.flatnonzero(val_clips), np.flatnonzero(train_clips | val_clips)
        self.heads_, self.history_, self.full_models_ = {}, {}, {}
        self.late_weights_, self.late_fit_, self.egemaps_model_ = None, None, None
        self.taps_, choices = {}, {}
        branches = list(dict.fromkeys(b for spec in self.settings.specs().values() for b in spec.branches))
        for b in branches:  # which layers each backbone's heads read: chosen on validation speakers
            choices[b] = self._search(data, (b,), self._candidates(data, b), tr_c, va_c)
            self.taps_[b] = choices[b].taps
        for head in self._heads():
            if head.branches != (head.key,):  # a head on several branches reads their chosen layers
                choices[head.key] = self._search(data, head.branches, {None: None}, tr_c, va_c)
        val_heads = {key: choice.head for key, choice in choices.items()}
        va = data.patch_mask(val_clips)
        for spec in (s for s in self.specs.values() if s.weighs_heads):
            val_idx = np.flatnonzero(va)
            if len(val_idx):
                branch = [self._head_logp(data, h, val_idx, val_heads) for h in spec.heads]
                self.late_weights_, self.late_fit_ = fit_late_fusion_weights(
                    branch, data.y[data.patches.clip_index[val_idx]], data.patches.clip_index[val_idx]
                )
            else:
                self.late_weights_ = np.full(len(spec.heads), 1.0 / len(spec.heads))
                self.late_fit_ = {"criterion": "equal weights (no validation speakers)"}
        for head in self._heads():  # the chosen heads, refitted on every speaker of the split
            choice = choices[head.key]
            x_fit = data.clip_features(head.branches, self.taps_, fit_c)
            self.heads_[head.key] = fit_linear_head(x_fit, data.y[fit_c], data.n_classes, choice.C, settings.seed)
            self.history_[head.key] = {**choice.to_dict(), "refit_clips": int(len(fit_c))}
        if "egemaps" in settings.models:
            self.egemaps_model_ = make_baseline(settings.seed).fit(data.egemaps[fit_c], data.y[fit_c])
        if settings.fine_tune:
            tr = data.patch_mask(train_clips)
            for name in self.specs:
                built, _ = self.assemble(name, data)
                self.history_[f"{name}_fine_tune"] = self._fine_tune(built, data, tr, va)
                self.full_models_[name] = built.keras_model
        return self

    def _candidates(self, data: CorpusData, branch: str) -> list[tuple[str, ...]]:
        """The layer sets the search tries for `branch`: the settings' fixed layers, else the backbone's candidates
        this corpus holds features of."""
        if self.settings.layers and branch in self.settings.layers:
            return [BACKBONES[branch].check_taps(self.settings.layers[branch])]
        held = set(data.available_taps(branch))
        found = [c for c in BACKBONES[branch].candidate_taps if set(c) <= held]
        return found or [(BACKBONES[branch].embedding_tap,)]

    def _search(self, data: CorpusData, branches: tuple[str, ...], candidates, train: np.ndarray, val: np.ndarray) -> HeadChoice:
        """`select_head` over `candidates` (layer sets of a single branch, or ``{None: None}``: the branches' chosen layers)."""
        features = {}
        for taps in candidates:
            chosen = self.taps_ if taps is None else {branches[0]: taps}
            key = tuple(t for b in branches for t in chosen[b]) if taps is None else taps
            features[key] = (data.clip_features(branches, chosen, train), data.clip_features(branches, chosen, val))
        return select_head(features, data.y[train], data.y[val], data.n_classes, seed=self.settings.seed)

    def _fine_tune(self, built, data: CorpusData, train_patches: np.ndarray, val_patches: np.ndarray) -> dict:
        """Unfreeze the top layers of each backbone and train the flat graph end-to-end on log-mel patches."""
        import keras

        from seraudit.ensemble.fusion import set_trainable_top
        from seraudit.ensemble.heads import fit_logits_model

        if data.patches.data is None:
            raise RuntimeError("fine-tuning needs the log-mel patches in memory")
        model = built.keras_model
        unfrozen = {b: set_trainable_top(model, tower, BACKBONES[b].fine_tune_layers) for b, tower in built.towers.items()}
        logits_model = keras.Model(model.inputs, model.get_layer(LOGITS_NAME).output)
        cfg = replace(FINE_TUNE_HEAD, epochs=self.settings.fine_tune_epochs)
        x_tr, x_va = data.patches.data[train_patches], data.patches.data[val_patches]
        summary = fit_logits_model(
            logits_model, x_tr, data.y[data.patches.clip_index[train_patches]], x_va,
            data.y[data.patches.clip_index[val_patches]], data.n_classes, cfg, seed=self.settings.seed,
        )
        return {**summary, "unfrozen": unfrozen, "config": cfg.to_dict()}

    def _head_logp(self, data: CorpusData, head: HeadSpec, patch_idx: np.ndarray, heads: dict | None = None) -> np.ndarray:
        """Patch log-probabilities of one head (the fitted ones, or `heads` when given) for patches `patch_idx`."""
        x = data.head_input(head.branches, patch_idx, self.taps_)
        if not len(x):
            return np.zeros((0, data.n_classes))
        return log_softmax((heads or self.heads_)[head.key].logits(x))

    def patch_log_probabilities(self, data: CorpusData, name: str, patch_idx: np.ndarray) -> np.ndarray:
        """Patch log-probabilities ``[n, C]`` of neural model `name` for the patches `patch_idx` of `data`."""
        if name in self.full_models_:
            probs = TrainedModel(name, self.full_models_[name], data.labels, {}, {}, {}, None).predict_patches(
                data.patches.data[patch_idx]
            )
            return np.log(np.clip(probs, LOG_EPS, 1.0))
        spec = self.specs[name]
        head_logp = [self._head_logp(data, h, patch_idx) for h in spec.heads]
        return combine_late(head_logp, self.late_weights_) if spec.weighs_heads else head_logp[0]

    def clip_probabilities(self, data: CorpusData, name: str, clips: np.ndarray) -> np.ndarray:
        """Clip probabilities ``[len(clips), C]`` of model `name` (``"egemaps"`` included) for sorted clip indices."""
        clips = np.asarray(clips)
        if name == "egemaps":
            proba = np.zeros((len(clips), data.n_classes))
            proba[:, self.egemaps_model_.classes_.astype(int)] = self.egemaps_model_.predict_proba(data.egemaps[clips])
            return proba
        patch_idx = np.flatnonzero(np.isin(data.patches.clip_index, clips))
        return data.clip_probabilities(self.patch_log_probabilities(data, name, patch_idx), patch_idx, clips)

    def predictions(self, data: CorpusData, clips: np.ndarray, fold_index: int) -> pd.DataFrame:
        """Clip-level predictions of every model for the clip indices `clips` (long table: one row per model and clip)."""
        clips = np.sort(np.asarray(clips))
        rows = []
        for name in self.settings.models:
            proba = self.clip_probabilities(data, name, clips)
            frame = pd.DataFrame(proba, columns=[f"p_{lab}" for lab in data.labels])
            frame.insert(0, "model", name)
            frame.insert(1, "fold", fold_index)
            frame.insert(2, "path", data.table["path"].to_numpy()[clips])
            frame.insert(3, "speaker", data.speakers[clips])
            frame.insert(4, "label", data.table["label"].to_numpy()[clips])
            frame.insert(5, "prediction", np.asarray(data.labels)[proba.argmax(axis=1)])
            rows.append(frame)
        return pd.concat(rows, ignore_index=True)

    def model_config(self, name: str, data: CorpusData) -> dict:
        """The ``config.json`` of model `name`: its spec, which backbones are untrained, labels, fine-tuning."""
        spec = self.specs[name]
        return {
            **spec.to_config(),
            "branch_untrained": {b: not self.sources[b].pretrained for b in spec.branches},
            "labels": data.labels,
            "fine_tune": self.settings.fine_tune,
        }

    def assemble(self, name: str, data: CorpusData):
        """The flat graph of `name` with backbone weights loaded and the trained head(s) moved in by layer name.

        Returns ``(BuiltModel, config)``.
        """
        from seraudit.ensemble.fusion import build_model, set_late_fusion_weights

        config = self.model_config(name, data)
        built = build_model(config, data.n_classes)
        model, spec = built.keras_model, built.spec
        if name in self.full_models_:
            model.set_weights(self.full_models_[name].get_weights())
            return built, config
        for b in spec.branches:
            BACKBONES[b].load_weights(model, self.sources[b], self.settings.seed)
        for head in spec.heads:
            trained = self.heads_[head.key]
            model.get_layer(f"{head.prefix}_standardize").set_weights(trained.standardize_weights())
            model.get_layer(spec.graph_logits(head)).set_weights(trained.dense_weights())
        if spec.weighs_heads:
            set_late_fusion_weights(model, self.late_weights_)
            config["late_fusion_weights"] = {h.key: float(w) for h, w in zip(spec.heads, self.late_weights_)}
        return built, config

    def assembly_gap(self, model, name: str, data: CorpusData, n_clips: int = 2) -> float:
        """Largest difference between the flat graph and the cached-embedding heads on a few clips' patches.

        Guards that the saved graph computes exactly what was evaluated.
        """
        from seraudit.preprocessing.pipeline import clip_features

        paths = data.table["path"].astype(str).tolist()[:n_clips]
        patches = np.concatenate([clip_features(p).patches.data for p in paths])
        idx = np.flatnonzero(data.patches.clip_index < n_clips)
        graph = TrainedModel(name, model, data.labels, {}, {}, {}, None).predict_patches(patches)
        heads = np.exp(self.patch_log_probabilities(data, name, idx))
        return float(np.abs(graph - heads).max())

    def saved_models(self, data: CorpusData, check: bool = True) -> dict[str, tuple[Any, dict]]:
        """Every neural model ready to save: name -> (BuiltModel, config) with its reference prediction.

        `check` also records (and bounds) the gap between graph and heads.
        """
        out = {}
        for name in self.specs:
            built, config = self.assemble(name, data)
            if check:
                gap = self.assembly_gap(built.keras_model, name, data)
                if gap > 1e-3:
                    raise RuntimeError(f"the assembled {name} graph differs from its trained heads by {gap:.2e}")
                config["assembly_check_max_abs_diff"] = gap
            config["reference_prediction"] = reference_prediction(built.keras_model, name, data, self.settings)
            out[name] = (built, config)
        return out


def parse_layers(text: str) -> dict[str, tuple[str, ...]] | None:
    """``"search"`` -> None (chosen on validation speakers); ``"last"`` -> every backbone's embedding layer;
    ``"yamnet:layer8,vggish:fc1"`` (``+`` joins several layers) -> those layers. Unknown names are refused."""
    text = text.strip()
    if text in ("", "search"):
        return None
    if text == "last":
        return {b: (backbone.embedding_tap,) for b, backbone in BACKBONES.items()}
    layers = {}
    for part in text.split(","):
        branch, _, taps = part.partition(":")
        if branch not in BACKBONES or not taps:
            raise ValueError(f"--layers {text!r}: write BACKBONE:LAYER[+LAYER], e.g. yamnet:layer8,vggish:fc1 "
                             f"(backbones: {', '.join(BACKBONES)}), or 'search' or 'last'")
        layers[branch] = BACKBONES[branch].check_taps(tuple(taps.split("+")))
    return layers


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
    folds = fold_plan(data.speakers, corpus, seed=settings.seed)
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
    fold = final_split(data.speakers, seed=settings.seed)
    trainer = Trainer(settings, sources).fit(data, fold)
    return trainer.saved_models(data, check=not settings.fine_tune), trainer, fold
