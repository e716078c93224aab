"""Training of the emotion models and their speaker-independent cross-validation.

Default mode (frozen backbones): every readable layer of YAMNet and VGGish is
taken from the embedding cache for every patch, and only linear heads are
trained, on each training clip's mean feature over its GDS-kept patches
(`ensemble.heads.linear`). Which layers each backbone's head reads, and the
head's regularisation, are chosen on the inner-validation speakers of the
split; the late-fusion weights are fitted on those speakers too; then the
chosen heads are refitted on training plus validation speakers. Fine-tuning
(`fine_tune=True`) starts from the chosen heads as fitted on the training
speakers alone (so the validation speakers that stop it early are unseen),
unfreezes the layers of each backbone just below its chosen taps and trains the
flat graph end-to-end on log-mel patches augmented afresh every epoch, the
backbone at a lower learning rate than the heads (`ensemble.training.fine_tuning`).

`Trainer` is the estimator: settings in the constructor, `fit` on one split
of a prepared corpus (`ensemble.data.corpus_data`), learned state in attributes
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

from seraudit.ensemble.data.corpus_data import CorpusData
from seraudit.ensemble.data.folds import Fold, final_split, fold_plan
from seraudit.ensemble.model.graph import combine_late, log_softmax
from seraudit.ensemble.training.fine_tuning import FineTuneConfig
from seraudit.ensemble.model.head_layers import HeadConfig
from seraudit.ensemble.heads.search import HeadChoice, LayerSet, fit_layer_set, select_head
from seraudit.ensemble.heads.layer_mix import AuxTask
from seraudit.ensemble.heads.linear import BN_EPSILON
from seraudit.ensemble.model.clip_pooling import LOG_EPS
from seraudit.ensemble.model.spec import BACKBONES, NEURAL_MODELS, POOLINGS, HeadSpec, ModelSpec
from seraudit.ensemble.model.trained import TrainedModel
from seraudit.preprocessing.gds import GdsSettings

FINE_TUNE_LAYERS = {b.name: b.fine_tune_layers for b in BACKBONES.values()}
FINE_TUNE_DEFAULTS = FineTuneConfig()
AUX_TASKS = ("gender", "intensity")  # clip-table fields a run may learn beside the emotion (multitask)
LAYER_SEARCHES = ("all", "unweighted", "weighted")  # which candidates the layer search tries


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
    fine_tune_epochs: int = FINE_TUNE_DEFAULTS.epochs
    fine_tune_backbone_lr_ratio: float = FINE_TUNE_DEFAULTS.backbone_lr_ratio  # backbone LR = head LR * this
    fine_tune_augment: str = FINE_TUNE_DEFAULTS.augment  # recipe drawn afresh every epoch: full, mild (no noise), off
    mixup_alpha: float = FINE_TUNE_DEFAULTS.mixup_alpha  # fine-tuning mixup within batches; 0: off
    layers: dict[str, tuple[str, ...]] | None = None  # backbone -> fixed layers its heads read; None: searched
    weights: dict[str, str] | None = None  # backbone -> TF Hub / Kaggle model handle replacing the weights look-up
    # "unweighted" (default): single layers and fixed sets; "weighted": learned mixes only; "all": both. The mix
    # measured no better than the best single layer (RAVDESS 2.4 s, YAMNet: -0.9 [-3.4, +1.8] UAR points), so the
    # simpler search is the default.
    layer_search: str = "unweighted"
    aux_tasks: tuple[str, ...] = ()  # multitask: fields of AUX_TASKS learned beside the emotion
    aux_weight: float = 0.3  # their loss weight relative to the emotion's
    augment_copies: int = 0  # frozen heads: K augmented copies of every training clip (`ensemble.data.augmented_copies`)
    tta_copies: int = 0  # cross-validation scores each test clip with N test-time copies too (`ensemble.inference.tta`)
    # "mean" (default): heads on each clip's mean layer output, the graph's patch log-probabilities pooled after it;
    # "stats": statistics pooling (mean and standard deviation per layer); "attentive": attentive statistics pooling
    # (`ensemble.heads.attentive`); both pool inside the saved graph (`ensemble.model.pooling_layers`)
    pooling: str = "mean"
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
            **({"weights": dict(self.weights)} if self.weights else {}),  # absent when unset: older runs still match
            **({"fine_tuning": self.fine_tuning_record()} if self.fine_tune else {}),  # likewise without fine-tuning
            **self._variant_settings(),
        }

    def fine_tune_config(self) -> FineTuneConfig:
        return replace(FINE_TUNE_DEFAULTS, epochs=self.fine_tune_epochs, backbone_lr_ratio=self.fine_tune_backbone_lr_ratio,
                       augment=self.fine_tune_augment, mixup_alpha=self.mixup_alpha)

    def fine_tuning_record(self) -> dict:
        """How the graphs are fine-tuned: learning rates, epochs, augmentation and the seed its draws come from."""
        from seraudit.ensemble.training.fine_tune_batches import fine_tune_augmentation, fine_tune_augmentation_seed

        config = self.fine_tune_config()
        record = config.to_dict()
        augmentation = fine_tune_augmentation(config.augment, config.mixup_alpha)
        if augmentation is not None:
            record.update(augmentation=augmentation.to_dict(), augmentation_seed=fine_tune_augmentation_seed(self.seed))
        return record

    def _variant_settings(self) -> dict:
        """The head-search, multitask, augmentation and pooling settings that differ from the defaults (absent when
        default, so runs trained before these settings existed still match)."""
        out = {}
        if self.layer_search != "unweighted":
            out["layer_search"] = self.layer_search
        if self.aux_tasks:
            out.update(aux_tasks=list(self.aux_tasks), aux_weight=self.aux_weight)
        if self.augment_copies:
            out.update(augment_copies=self.augment_copies, augmentation=_train_augmentation())
        if self.tta_copies:
            out["tta_copies"] = self.tta_copies
        if self.pooling != "mean":
            out["pooling"] = self.pooling
        return out

    def specs(self) -> dict[str, ModelSpec]:
        """The spec of every neural model of the run, in the order of `models`."""
        return {name: ModelSpec.named(name, self.fusion, self.head, pooling=self.pooling)
                for name in self.models if name in NEURAL_MODELS}


class Trainer:
    """Every model of a run trained on one split of a corpus: linear heads on cached layer features, late-fusion
    weights, the eGeMAPS baseline and (when fine-tuning) the end-to-end graphs.

    Parameters
    ----------
    settings : TrainSettings
        Which models, fusion, head and GDS settings, seed, fine-tuning.
    sources : dict
        Backbone -> its resolved weights (`ensemble.weights.official.resolve_weights`).

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
        return {name: ModelSpec.named(name, spec.fusion, spec.head, taps, spec.pooling)
                for name, spec in self.settings.specs().items()}

    def _heads(self) -> list[HeadSpec]:
        """Every distinct head of the run's models, in model order (a head two models share is trained once)."""
        return list(dict.fromkeys(h for spec in self.specs.values() for h in spec.heads))

    def fit(self, data: CorpusData, fold: Fold) -> "Trainer":
        """Train every model of the settings on the fold's train speakers (choices made on its validation speakers)."""
        from seraudit.ensemble.heads.egemaps_baseline import make_baseline
        from seraudit.ensemble.model.graph import fit_late_fusion_weights

        settings = self.settings
        if settings.head.hidden > 0:
            raise ValueError("frozen-backbone heads are linear (hidden=0); a hidden layer is only trained when fine-tuning")
        train_clips, val_clips, _ = fold.masks(data.speakers)
        tr_c, va_c, fit_c = np.flatnonzero(train_clips), np.flatnonzero(val_clips), np.flatnonzero(train_clips | val_clips)
        self.heads_, self.history_, self.full_models_ = {}, {}, {}
        self.late_weights_, self.late_fit_, self.egemaps_model_ = None, None, None
        self.taps_, self.layer_sets_, self.aux_heads_, choices = {}, {}, {}, {}
        self.aux_classes_ = {t.name: t.classes for t in aux_tasks(data, settings.aux_tasks, tr_c)}
        if settings.pooling not in POOLINGS:
            raise ValueError(f"pooling {settings.pooling!r}: choose {', '.join(POOLINGS)}")
        if settings.pooling != "mean" and (settings.augment_copies or settings.tta_copies or settings.fine_tune):
            raise ValueError(f"{settings.pooling} pooling trains frozen heads on the clips themselves; "
                             "combine it with neither augmented copies, test-time copies nor fine-tuning")
        if settings.augment_copies and (data.copies is None or data.copies.k != settings.augment_copies):
            raise ValueError(f"the settings ask for {settings.augment_copies} augmented copies per clip; "
                             "prepare the corpus with as many (prepare_data(copies=...))")
        branches = list(dict.fromkeys(b for spec in self.settings.specs().values() for b in spec.branches))
        for b in branches:  # which layers each backbone's heads read: chosen on validation speakers
            choices[b] = self._search(data, (b,), self._candidates(data, b), tr_c, va_c)
            self.taps_[b], self.layer_sets_[b] = choices[b].taps, choices[b].layers
        for head in self._heads():
            if head.branches != (head.key,):  # a head on several branches reads their chosen layers
                choices[head.key] = self._search(data, head.branches, [None], tr_c, va_c)
        val_heads = {key: choice.head for key, choice in choices.items()}
        if self.attentive_pooling:  # the chosen layers and C, with attention over each clip's patches
            val_heads = {h.key: self._fit_attentive(data, h, tr_c, choices[h.key].C) for h in self._heads()}
        va = data.patch_mask(val_clips)
        for spec in (s for s in self.specs.values() if s.weighs_heads):
            val_idx = np.flatnonzero(va)
            if len(val_idx) and self.clip_level:  # one row per validation clip: its pooled statistics
                branch = [self._clip_logp(data, h, va_c, val_heads) for h in spec.heads]
                self.late_weights_, self.late_fit_ = fit_late_fusion_weights(branch, data.y[va_c], np.arange(len(va_c)))
            elif len(val_idx):
                branch = [self._head_logp(data, h, val_idx, val_heads) for h in spec.heads]
                self.late_weights_, self.late_fit_ = fit_late_fusion_weights(
                    branch, data.y[data.patches.clip_index[val_idx]], data.patches.clip_index[val_idx]
                )
            else:
                self.late_weights_ = np.full(len(spec.heads), 1.0 / len(spec.heads))
                self.late_fit_ = {"criterion": "equal weights (no validation speakers)"}
        for head in self._heads():  # the chosen heads, refitted on every speaker of the split
            choice = choices[head.key]
            x_fit, y_fit, aux_fit = self._training_set(data, head.branches, self.taps_, fit_c)
            fitted = fit_layer_set(choice.layers, x_fit, y_fit, data.n_classes, choice.C, settings.seed, aux_fit,
                                   settings.aux_weight)
            self.heads_[head.key], self.aux_heads_[head.key] = fitted.head, fitted.aux_heads
            if self.attentive_pooling:
                self.heads_[head.key] = self._fit_attentive(data, head, fit_c, choice.C)
            self.history_[head.key] = {**choice.to_dict(), "refit_clips": int(len(fit_c)), "refit_rows": int(len(y_fit))}
            if choice.layers.weighted:
                self.history_[head.key]["layer_weights"] = dict(zip(choice.taps, map(float, fitted.layer_weights)))
        if "egemaps" in settings.models:
            self.egemaps_model_ = make_baseline(settings.seed).fit(data.egemaps[fit_c], data.y[fit_c])
        if settings.fine_tune:
            tr = data.patch_mask(train_clips)
            for name in self.specs:
                built, _ = self.assemble(name, data, start_heads=val_heads)
                self.history_[f"{name}_fine_tune"] = self._fine_tune(built, data, tr, va)
                self.full_models_[name] = built.keras_model
        return self

    def _candidates(self, data: CorpusData, branch: str) -> list[LayerSet]:
        """The layer sets the search tries for `branch`: the settings' fixed layers, else the backbone's candidates
        (plain and weighted, as `layer_search` allows) this corpus holds features of."""
        if self.settings.layers and branch in self.settings.layers:
            return [LayerSet(BACKBONES[branch].check_taps(self.settings.layers[branch]))]
        backbone, search = BACKBONES[branch], self.settings.layer_search
        if search not in LAYER_SEARCHES:
            raise ValueError(f"layer search {search!r}: choose {', '.join(LAYER_SEARCHES)}")
        held = set(data.available_taps(branch))
        plain = [LayerSet(c) for c in backbone.candidate_taps] if search != "weighted" else []
        weighted = [LayerSet(c, True) for c in backbone.weighted_taps] if search != "unweighted" else []
        found = [c for c in plain + weighted if set(c.taps) <= held]
        return found or [LayerSet((backbone.embedding_tap,))]

    def _search(self, data: CorpusData, branches: tuple[str, ...], candidates, train: np.ndarray, val: np.ndarray) -> HeadChoice:
        """`select_head` over `candidates` (layer sets of a single branch, or ``[None]``: the branches' chosen layers)."""
        features = {}
        for layers in candidates:
            chosen = self.taps_ if layers is None else {branches[0]: layers.taps}
            key = LayerSet(tuple(t for b in branches for t in chosen[b])) if layers is None else layers
            x_train, y_train, aux_train = self._training_set(data, branches, chosen, train)
            features[key] = (x_train, data.clip_features(branches, chosen, val, self.stats_pooling))
        return select_head(features, y_train, data.y[val], data.n_classes, seed=self.settings.seed,
                           aux_train=aux_train, aux_weight=self.settings.aux_weight)

    def _training_set(self, data: CorpusData, branches: tuple[str, ...], taps: dict, clips: np.ndarray):
        """What a head trains on for `clips`: their clip features, then their augmented copies' (when the settings ask
        for copies); returns ``(features, labels, auxiliary tasks)`` row-aligned."""
        x = data.clip_features(branches, taps, clips, self.stats_pooling)
        k = self.settings.augment_copies
        aux = aux_tasks(data, self.settings.aux_tasks, clips)
        if not k:
            return x, data.y[clips], aux
        x = np.concatenate([x, data.copy_features(branches, taps, clips)])
        y = np.concatenate([data.y[clips], np.repeat(data.y[clips], k)])
        aux = [AuxTask(t.name, np.concatenate([t.y, np.repeat(t.y, k)]), t.classes) for t in aux]
        return x, y, aux

    def _fine_tune(self, built, data: CorpusData, train_patches: np.ndarray, val_patches: np.ndarray) -> dict:
        """Unfreeze each backbone's layers below its chosen taps and train the flat graph end-to-end (augmented)."""
        from seraudit.ensemble.training.fine_tune_batches import (
            EpochBatches, TrainingPatches, changes_waveforms, fine_tune_augmentation, fine_tune_augmentation_seed,
        )
        from seraudit.ensemble.training.fine_tuning import ValidationPatches, fine_tune, logits_model, unfreeze_below_taps
        from seraudit.ensemble.model.head_layers import balanced_class_weights

        if data.patches.data is None:
            raise RuntimeError("fine-tuning needs the log-mel patches in memory")
        start = time.perf_counter()
        settings, config = self.settings, self.settings.fine_tune_config()
        unfrozen = unfreeze_below_taps(built, FINE_TUNE_LAYERS)
        train_idx, val_idx = np.flatnonzero(train_patches), np.flatnonzero(val_patches)
        augmentation = fine_tune_augmentation(config.augment, config.mixup_alpha)
        source = TrainingPatches.from_corpus(data, train_idx, with_waveforms=changes_waveforms(augmentation))
        batches = EpochBatches(source, data.n_classes, config.batch_size, fine_tune_augmentation_seed(settings.seed),
                               augmentation)
        val_clips, clip_of = np.unique(data.patches.clip_index[val_idx], return_inverse=True)
        validation = ValidationPatches(np.asarray(data.patches.data[val_idx], np.float32), clip_of, data.y[val_clips])
        weights = balanced_class_weights(source.labels, data.n_classes)
        summary = fine_tune(logits_model(built.keras_model), [n for names in unfrozen.values() for n in names], batches,
                            validation, np.array([weights[c] for c in range(data.n_classes)]), config, settings.seed)
        return {**summary, "unfrozen": unfrozen, "config": config.to_dict(), "train_patches": int(len(train_idx)),
                "seconds": time.perf_counter() - start}

    @property
    def stats_pooling(self) -> bool:
        return self.settings.pooling == "stats"

    @property
    def attentive_pooling(self) -> bool:
        return self.settings.pooling == "attentive"

    @property
    def clip_level(self) -> bool:
        """True when heads score whole clips (statistics pooling), not patches pooled afterwards."""
        return self.settings.pooling != "mean"

    def _kept_patches(self, data: CorpusData, head: HeadSpec, clips: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The head's input for the kept patches of `clips` and each patch's position in `clips`."""
        from seraudit.ensemble.model.clip_pooling import kept_by_clip

        idx = np.flatnonzero(np.isin(data.patches.clip_index, clips))
        idx = idx[kept_by_clip(data.keep[idx], np.searchsorted(clips, data.patches.clip_index[idx]), len(clips))]
        return data.head_input(head.branches, idx, self.taps_), np.searchsorted(clips, data.patches.clip_index[idx])

    def _fit_attentive(self, data: CorpusData, head: HeadSpec, clips: np.ndarray, C: float):
        from seraudit.ensemble.heads.attentive import fit_attentive_head

        x, clip_of = self._kept_patches(data, head, clips)
        return fit_attentive_head(x, clip_of, data.y[clips], data.n_classes, C, self.settings.seed)

    def attention_weights(self, data: CorpusData, key: str, clips: np.ndarray) -> np.ndarray:
        """Attention weight of each kept patch of `clips` under head `key` (attentive pooling): where it listened."""
        x, clip_of = self._kept_patches(data, HeadSpec(key, (key,)), np.asarray(clips))
        return self.heads_[key].clip_logits(x, clip_of, len(clips))[1]

    def attention_lists(self, data: CorpusData, key: str, clips: np.ndarray) -> list[str]:
        """Per clip, the JSON list of its patches' attention weights under head `key` (0 for patches not pooled)."""
        import json

        from seraudit.ensemble.model.clip_pooling import kept_by_clip

        idx = np.flatnonzero(np.isin(data.patches.clip_index, clips))
        owner = np.searchsorted(clips, data.patches.clip_index[idx])
        weights = np.zeros(len(idx))
        weights[kept_by_clip(data.keep[idx], owner, len(clips))] = self.attention_weights(data, key, clips)
        return [json.dumps([round(float(w), 6) for w in weights[owner == i]]) for i in range(len(clips))]

    def _clip_logp(self, data: CorpusData, head: HeadSpec, clips: np.ndarray, heads: dict | None = None) -> np.ndarray:
        """Clip log-probabilities of one head from each clip's pooled features (statistics or attentive pooling)."""
        fitted = (heads or self.heads_)[head.key]
        if self.attentive_pooling:
            x, clip_of = self._kept_patches(data, head, np.asarray(clips))
            return log_softmax(fitted.clip_logits(x, clip_of, len(clips))[0])
        return log_softmax(fitted.logits(data.clip_features(head.branches, self.taps_, clips, self.stats_pooling)))

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
        if self.clip_level:
            spec = self.specs[name]
            logp = [self._clip_logp(data, h, clips) for h in spec.heads]
            return np.exp(log_softmax(combine_late(logp, self.late_weights_) if spec.weighs_heads else logp[0]))
        patch_idx = np.flatnonzero(np.isin(data.patches.clip_index, clips))
        proba = data.clip_probabilities(self.patch_log_probabilities(data, name, patch_idx), patch_idx, clips)
        if not self.settings.tta_copies or name in self.full_models_:
            return proba
        return self._with_test_time_copies(data, name, clips, proba)

    def _with_test_time_copies(self, data: CorpusData, name: str, clips: np.ndarray, proba: np.ndarray) -> np.ndarray:
        """Pool each clip's distribution with its test-time copies' (renormalised geometric mean, as `predict --tta`)."""
        from seraudit.ensemble.model.clip_pooling import kept_by_clip, pool_by_clip

        if data.tta is None or data.tta.k != self.settings.tta_copies:
            raise ValueError(f"the settings ask for {self.settings.tta_copies} test-time copies per clip; "
                             "prepare the corpus with as many (prepare_data(tta_copies=...))")
        copies, n = data.tta, data.tta.k
        idx = np.flatnonzero(np.isin(copies.clip_index, clips))
        spec = self.specs[name]
        logp = [log_softmax(self.heads_[h.key].logits(copies.head_input(h.branches, self.taps_, idx))) for h in spec.heads]
        patch_logp = combine_late(logp, self.late_weights_) if spec.weighs_heads else logp[0]
        rows = np.searchsorted(clips, copies.clip_index[idx]) * n + copies.copy_index[idx] % n
        counted = kept_by_clip(data.tta_keep[idx], rows, len(clips) * n)
        copy_proba = pool_by_clip(np.exp(patch_logp[counted]), rows[counted], len(clips) * n)
        stacked = np.concatenate([proba, copy_proba])
        owner = np.concatenate([np.arange(len(clips)), np.repeat(np.arange(len(clips)), n)])
        return pool_by_clip(stacked, owner, len(clips))

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
            if self.attentive_pooling and name != "egemaps":
                for head in self.specs[name].heads:  # where each head's pooling listened, patch by patch
                    frame[f"attention_{head.key}"] = self.attention_lists(data, head.key, clips)
            for task, classes in self.aux_classes_.items():
                truth, _ = data.aux_labels(task)
                frame[task] = [classes[i] if i >= 0 else None for i in truth[clips]]
                guess = self.aux_predictions(data, name, task, clips)
                frame[f"{task}_prediction"] = None if guess is None else np.asarray(classes)[guess]
            rows.append(frame)
        return pd.concat(rows, ignore_index=True)

    def aux_predictions(self, data: CorpusData, name: str, task: str, clips: np.ndarray) -> np.ndarray | None:
        """Class ids of auxiliary task `task` predicted by model `name` for `clips` (None: the model has no such head).

        The auxiliary heads score each clip's mean feature (the emotion head's pooled input);
        a late-fused model weighs its heads' log-probabilities as it does for the emotion.
        """
        if name == "egemaps" or name in self.full_models_:
            return None
        spec = self.specs[name]
        if any(task not in self.aux_heads_.get(h.key, {}) for h in spec.heads):
            return None
        logp = [log_softmax(self.aux_heads_[h.key][task].logits(
            data.clip_features(h.branches, self.taps_, clips, self.stats_pooling))) for h in spec.heads]
        return (combine_late(logp, self.late_weights_) if spec.weighs_heads else logp[0]).argmax(axis=1)

    def model_config(self, name: str, data: CorpusData) -> dict:
        """The ``config.json`` of model `name`: its spec, which backbones are untrained, labels, fine-tuning."""
        spec = self.specs[name]
        weights = {b: self.history_[b]["layer_weights"] for b in spec.branches
                   if "layer_weights" in self.history_.get(b, {})}  # fmt: skip
        return {
            **spec.to_config(),
            **({"layer_weights": weights} if weights else {}),
            "branch_untrained": {b: not self.sources[b].pretrained for b in spec.branches},
            "labels": data.labels,
            "fine_tune": self.settings.fine_tune,
        }

    def assemble(self, name: str, data: CorpusData, start_heads: dict | None = None):
        """The flat graph of `name` with backbone weights loaded and the trained head(s) moved in by layer name.

        `start_heads` (head key -> `LinearHead`) replaces the refitted heads: fine-tuning starts from the heads fitted
        on the training speakers only. Returns ``(BuiltModel, config)``.
        """
        from seraudit.ensemble.model.graph import build_model, set_late_fusion_weights

        config = self.model_config(name, data)
        built = build_model(config, data.n_classes)
        model, spec = built.keras_model, built.spec
        if name in self.full_models_:
            model.set_weights(self.full_models_[name].get_weights())
            return built, config
        for b in spec.branches:
            BACKBONES[b].load_weights(model, self.sources[b], self.settings.seed)
        for head in spec.heads:
            for layer, weights in head_graph_weights(spec, head, (start_heads or self.heads_)[head.key]).items():
                model.get_layer(layer).set_weights(weights)
        if spec.weighs_heads:
            set_late_fusion_weights(model, self.late_weights_)
            config["late_fusion_weights"] = {h.key: float(w) for h, w in zip(spec.heads, self.late_weights_)}
        return built, config

    def assembly_gap(self, model, name: str, data: CorpusData, n_clips: int = 2) -> float:
        """Largest difference between the flat graph and the cached-embedding heads on a few clips.

        Guards that the saved graph computes exactly what was evaluated: patch by patch for a
        patch-wise graph, clip by clip (kept patches in, pooled probabilities out) for in-graph pooling.
        """
        from seraudit.ensemble.model.clip_pooling import kept_by_clip
        from seraudit.preprocessing.pipeline import clip_features

        paths = data.table["path"].astype(str).tolist()[:n_clips]
        patches = np.concatenate([clip_features(p).patches.data for p in paths])
        idx = np.flatnonzero(data.patches.clip_index < n_clips)
        graph_model = TrainedModel(name, model, data.labels, {}, {}, {}, None, pooling=self.settings.pooling)
        if not self.clip_level:
            graph = graph_model.predict_patches(patches)
            heads = np.exp(self.patch_log_probabilities(data, name, idx))
            return float(np.abs(graph - heads).max())
        clip_of = data.patches.clip_index[idx]
        kept = kept_by_clip(data.keep[idx], clip_of, n_clips)
        graph = np.concatenate([graph_model.predict_clips(patches[kept & (clip_of == c)][None]) for c in range(n_clips)])
        return float(np.abs(graph - self.clip_probabilities(data, name, np.arange(n_clips))).max())

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


def head_graph_weights(spec: ModelSpec, head: HeadSpec, trained) -> dict[str, list[np.ndarray]]:
    """Graph layer -> weights that move `trained` (head `head` fitted on cached features: a `LinearHead`, or an
    `AttentiveHead` under attentive pooling) into the flat graph of `spec`."""
    prefix, logits = head.prefix, spec.graph_logits(head)
    if spec.pooling == "attentive":  # standardised patches -> attention -> weighted statistics -> regression
        dim = len(trained.mean)
        identity = [np.ones(2 * dim), np.zeros(2 * dim), np.zeros(2 * dim), np.full(2 * dim, 1.0 - BN_EPSILON)]
        return {
            f"{prefix}_patch_standardize": [np.ones(dim), np.zeros(dim), trained.mean, trained.var],
            f"{prefix}_attention_score": [trained.attention[:, None]],
            f"{prefix}_standardize": identity,
            logits: [trained.coef, trained.intercept],
        }
    standardize, dense = trained.standardize_weights(), trained.dense_weights()
    if spec.pooling == "stats":  # the cached statistics alternate mean and std per layer; the graph's come
        order = _statistics_order(spec, head)  # as every layer's means, then every layer's stds
        standardize = [w[order] for w in standardize]
        dense = [dense[0][order], dense[1]]
    return {f"{prefix}_standardize": standardize, logits: dense}


def _statistics_order(spec: ModelSpec, head: HeadSpec) -> np.ndarray:
    """Graph position -> cached position of each statistics-pooled feature of `head`.

    The cache holds ``[mean_l1, std_l1, mean_l2, std_l2, ...]`` per tapped layer; the graph pools the
    concatenated layers at once, giving ``[mean_l1, mean_l2, ..., std_l1, std_l2, ...]``.
    """
    widths = [BACKBONES[b].tap_widths[t] for b in head.branches for t in spec.taps_of(b)]
    starts = np.concatenate([[0], np.cumsum(2 * np.asarray(widths))[:-1]])
    means = np.concatenate([s + np.arange(w) for s, w in zip(starts, widths)])
    stds = np.concatenate([s + w + np.arange(w) for s, w in zip(starts, widths)])
    return np.concatenate([means, stds])


def _train_augmentation() -> dict:
    from seraudit.ensemble.data.augmented_copies import TRAIN_AUGMENTATION

    return TRAIN_AUGMENTATION.to_dict()


def aux_tasks(data: CorpusData, names, clips: np.ndarray) -> list[AuxTask]:
    """The auxiliary targets `names` (fields of the clip table) of the clips `clips`."""
    tasks = []
    for name in names:
        y, classes = data.aux_labels(name)
        tasks.append(AuxTask(name, y[np.asarray(clips)], classes))
    return tasks


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
    pred = TrainedModel(name, model, data.labels, {}, {}, {}, None, pooling=settings.pooling).predict_clip(clip)
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
