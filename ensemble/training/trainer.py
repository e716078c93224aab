"""The estimator: every model of a run fitted on one split of a prepared corpus, then scoring its clips.

Default mode (frozen backbones): every readable layer of YAMNet and VGGish is
taken from the embedding cache for every patch, and only linear heads are
trained, on each training clip's mean feature over its GDS-kept patches
(`ensemble.heads.linear`). Which layers each backbone's head reads, and the
head's regularisation, are chosen on the inner-validation speakers of the
split; the late-fusion weights (and each model's temperature) are fitted on
out-of-fold validation predictions pooled over every non-test speaker and the
weights shrunk toward equal; then the chosen heads are refitted on training
plus validation speakers. Fine-tuning
(`fine_tune=True`) starts from the chosen heads as fitted on the training
speakers alone (so the validation speakers that stop it early are unseen),
moved into each model's flat graph (`ensemble.training.assembly`), and trains
the graph end-to-end (`ensemble.training.fine_tuning`).

`Trainer` follows the estimator convention: settings in the constructor
(`ensemble.training.settings.TrainSettings`), `fit` on one split of a prepared
corpus (`ensemble.data.corpus_data`), learned state in attributes ending in
``_``; it then scores patches and clips of any prepared corpus. Building the
saved graphs from that state is `ensemble.training.assembly`'s job; running it
fold by fold is `ensemble.training.cross_validation`'s.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from seraudit.ensemble.data.corpus_data import CorpusData
from seraudit.ensemble.data.folds import Fold
from seraudit.ensemble.heads.layer_mix import AuxTask
from seraudit.ensemble.heads.search import HeadChoice, LayerSet, fit_layer_set, select_head
from seraudit.ensemble.model.clip_pooling import LOG_EPS, pool_by_clip
from seraudit.ensemble.model.graph import combine_late, log_softmax
from seraudit.ensemble.model.spec import BACKBONES, POOLINGS, HeadSpec, ModelSpec
from seraudit.ensemble.model.trained import TrainedModel
from seraudit.ensemble.training.settings import LAYER_SEARCHES, TrainSettings


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
        How the weights were chosen (the grid over pooled out-of-fold validation predictions, the weights before
        shrinking, the speaker groups).
    temperatures_ : dict
        Model name -> its temperature, fitted on the same pooled out-of-fold validation predictions (applied to
        what `clip_probabilities` returns when `TEMPERATURE_SCALING` is on).
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
        """The spec of every neural model the settings name (what `fit` trains and `assembly.assemble` builds), with the
        chosen layers."""
        taps = getattr(self, "taps_", None)
        return {name: ModelSpec.named(name, spec.fusion, spec.head, taps, spec.pooling)
                for name, spec in self.settings.specs().items()}

    def _heads(self) -> list[HeadSpec]:
        """Every distinct head of the run's models, in model order (a head two models share is trained once)."""
        return list(dict.fromkeys(h for spec in self.specs.values() for h in spec.heads))

    def fit(self, data: CorpusData, fold: Fold) -> "Trainer":
        """Train every model of the settings on the fold's train speakers (choices made on its validation speakers)."""
        from seraudit.ensemble.heads.egemaps_baseline import make_baseline

        settings = self.settings
        if settings.head.hidden > 0:
            raise ValueError("frozen-backbone heads are linear (hidden=0); a hidden layer is only trained when fine-tuning")
        train_clips, val_clips, _ = fold.masks(data.speakers)
        tr_c, va_c, fit_c = np.flatnonzero(train_clips), np.flatnonzero(val_clips), np.flatnonzero(train_clips | val_clips)
        self.heads_, self.history_, self.full_models_ = {}, {}, {}
        self.late_weights_, self.late_fit_, self.egemaps_model_ = None, None, None
        self.taps_, self.layer_sets_, self.aux_heads_ = {}, {}, {}
        self.aux_classes_ = {t.name: t.classes for t in aux_tasks(data, settings.aux_tasks, tr_c)}
        self._check_inputs(data)
        choices = self._choose_heads(data, tr_c, va_c)
        val_heads = {key: choice.head for key, choice in choices.items()}
        if self.attentive_pooling:  # the chosen layers and C, with attention over each clip's patches
            val_heads = {h.key: self._fit_attentive(data, h, tr_c, choices[h.key].C) for h in self._heads()}
        self._fit_late_fusion(data, fold, choices, val_heads)
        self._refit_heads(data, choices, fit_c)
        if "egemaps" in settings.models:
            self.egemaps_model_ = make_baseline(settings.seed).fit(data.egemaps[fit_c], data.y[fit_c])
        if settings.fine_tune:
            self._fine_tune(data, train_clips, val_clips, val_heads)
        return self

    def _check_inputs(self, data: CorpusData) -> None:
        """Refuse a pooling the settings cannot combine, and copies the corpus was not prepared with."""
        settings = self.settings
        if settings.pooling not in POOLINGS:
            raise ValueError(f"pooling {settings.pooling!r}: choose {', '.join(POOLINGS)}")
        if settings.pooling != "mean" and (settings.augment_copies or settings.tta_copies or settings.fine_tune):
            raise ValueError(f"{settings.pooling} pooling trains frozen heads on the clips themselves; "
                             "combine it with neither augmented copies, test-time copies nor fine-tuning")
        if settings.augment_copies and (data.copies is None or data.copies.k != settings.augment_copies):
            raise ValueError(f"the settings ask for {settings.augment_copies} augmented copies per clip; "
                             "prepare the corpus with as many (prepare_data(copies=...))")

    def _choose_heads(self, data: CorpusData, tr_c: np.ndarray, va_c: np.ndarray) -> dict[str, HeadChoice]:
        """Head key -> its layers and regularisation, chosen on the validation clips `va_c` (sets `taps_`)."""
        choices = {}
        branches = list(dict.fromkeys(b for spec in self.settings.specs().values() for b in spec.branches))
        for b in branches:  # which layers each backbone's heads read: chosen on validation speakers
            choices[b] = self._search(data, (b,), self._candidates(data, b), tr_c, va_c)
            self.taps_[b], self.layer_sets_[b] = choices[b].taps, choices[b].layers
        for head in self._heads():
            if head.branches != (head.key,):  # a head on several branches reads their chosen layers
                choices[head.key] = self._search(data, head.branches, [None], tr_c, va_c)
        return choices

    def _fit_late_fusion(self, data: CorpusData, fold: Fold, choices: dict[str, HeadChoice], val_heads: dict) -> None:
        """Late-fusion weights and each model's temperature, fitted on out-of-fold validation predictions pooled over
        every non-test speaker of the split (`late_weights_`, `late_fit_`, `temperatures_`).

        The split's validation speakers are one group (scored by `val_heads`, fitted on the training speakers); the
        training speakers are cut into groups of as many, each scored by heads of the chosen layers and C fitted on
        the other speakers. The weights are fitted on all groups together and shrunk toward equal weights
        (`ensemble.model.graph.fit_late_fusion_weights`), so no weight comes from one speaker.
        """
        from seraudit.ensemble.evaluation.calibration import fit_temperature
        from seraudit.ensemble.model.graph import fit_late_fusion_weights

        late = [s for s in self.specs.values() if s.weighs_heads]
        heads = self._heads()
        self.temperatures_ = {name: 1.0 for name in self.settings.models}
        if not fold.val_speakers:
            if late:
                self.late_weights_ = np.full(len(late[0].heads), 1.0 / len(late[0].heads))
                self.late_fit_ = {"criterion": "equal weights (no validation speakers)", "weights": self.late_weights_.tolist()}
            self._record_calibration(0, 0)
            return
        groups = validation_groups(fold, self.settings.seed)
        logp = {h.key: [] for h in heads}
        egemaps_p, owner, clip_ids = [], [], []
        for g, speakers in enumerate(groups):
            group = np.isin(data.speakers.astype(str), speakers)
            g_c, rest_c = np.flatnonzero(group), np.flatnonzero(~group & np.isin(data.speakers.astype(str),
                                                                                 fold.train_speakers + fold.val_speakers))
            if g and len(np.unique(data.y[rest_c])) < 2:  # no head can be fitted on one emotion: the group adds nothing
                continue
            fitted = val_heads if g == 0 else self._inner_heads(data, choices, rest_c)
            clip_of = np.arange(len(g_c))  # one row per clip unless a head scores patches (none: eGeMAPS only)
            for h in heads:
                values, clip_of = self._oof_logp(data, h, g_c, fitted[h.key])
                logp[h.key].append(values)
            owner.append(g_c[clip_of])
            clip_ids.append(g_c)
            if "egemaps" in self.settings.models:
                from seraudit.ensemble.heads.egemaps_baseline import make_baseline

                model = make_baseline(self.settings.seed).fit(data.egemaps[rest_c], data.y[rest_c])
                proba = np.full((len(g_c), data.n_classes), LOG_EPS)
                proba[:, model.classes_.astype(int)] = model.predict_proba(data.egemaps[g_c])
                egemaps_p.append(proba / proba.sum(axis=1, keepdims=True))
        owner, clip_ids = np.concatenate(owner), np.concatenate(clip_ids)
        logp = {k: np.concatenate(v) for k, v in logp.items()}
        for spec in late:
            self.late_weights_, self.late_fit_ = fit_late_fusion_weights([logp[h.key] for h in spec.heads],
                                                                         data.y[owner], owner)
            self.late_fit_["groups"] = [list(g) for g in groups]
            self.late_fit_["n_speakers"] = int(sum(len(g) for g in groups))
        order = np.argsort(clip_ids)
        remap = np.searchsorted(clip_ids[order], owner)
        y_clips = data.y[clip_ids[order]]
        for name, spec in self.specs.items():
            if name not in self.settings.models:
                continue
            patch = combine_late([logp[h.key] for h in spec.heads], self.late_weights_) if spec.weighs_heads \
                else logp[spec.heads[0].key]
            clip_p = pool_by_clip(np.exp(patch), remap, len(clip_ids))
            self.temperatures_[name] = fit_temperature(clip_p, y_clips)
        if egemaps_p:
            self.temperatures_["egemaps"] = fit_temperature(np.concatenate(egemaps_p), data.y[clip_ids])
        self._record_calibration(len(clip_ids), sum(len(g) for g in groups))

    def _record_calibration(self, n_clips: int, n_speakers: int) -> None:
        """What the fit leaves in `history_` (the run's ``cv_histories`` and each saved model's provenance)."""
        if self.late_fit_ is not None:
            self.history_["late_fusion"] = {k: v for k, v in self.late_fit_.items() if k != "grid"}
        self.history_["calibration"] = {"temperature": dict(self.temperatures_), "applied": TEMPERATURE_SCALING,
                                        "fitted_on": "pooled out-of-fold validation predictions",
                                        "n_clips": int(n_clips), "n_speakers": int(n_speakers)}

    def _inner_heads(self, data: CorpusData, choices: dict[str, HeadChoice], clips: np.ndarray) -> dict:
        """Every head with its chosen layers and C, fitted on `clips` only (to score a validation group it never saw)."""
        out = {}
        for head in self._heads():
            choice = choices[head.key]
            if self.attentive_pooling:
                out[head.key] = self._fit_attentive(data, head, clips, choice.C)
                continue
            x, y, _ = self._training_set(data, head.branches, self.taps_, clips)
            out[head.key] = fit_layer_set(choice.layers, x, y, data.n_classes, choice.C, self.settings.seed).head
        return out

    def _oof_logp(self, data: CorpusData, head: HeadSpec, clips: np.ndarray, fitted) -> tuple[np.ndarray, np.ndarray]:
        """Log-probabilities of `fitted` (head `head`) on `clips`: one row per clip (in-graph pooling) or per counted
        patch, and each row's position in `clips`."""
        if self.clip_level:
            return self._clip_logp(data, head, clips, {head.key: fitted}), np.arange(len(clips))
        from seraudit.ensemble.model.clip_pooling import kept_by_clip

        idx = np.flatnonzero(np.isin(data.patches.clip_index, clips))
        idx = idx[kept_by_clip(data.keep[idx], np.searchsorted(clips, data.patches.clip_index[idx]), len(clips))]
        return self._head_logp(data, head, idx, {head.key: fitted}), np.searchsorted(clips, data.patches.clip_index[idx])

    def _refit_heads(self, data: CorpusData, choices: dict[str, HeadChoice], fit_c: np.ndarray) -> None:
        """The chosen heads, refitted on every speaker of the split (`heads_`, `aux_heads_`, `history_`)."""
        settings = self.settings
        for head in self._heads():
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

    def _fine_tune(self, data: CorpusData, train_clips: np.ndarray, val_clips: np.ndarray, val_heads: dict) -> None:
        """Each model's flat graph, from the heads fitted on the training speakers, trained end-to-end
        (`full_models_`); the validation speakers stop it early."""
        from seraudit.ensemble.training.assembly import assemble
        from seraudit.ensemble.training.fine_tuning import fine_tune_on_corpus

        tr, va = data.patch_mask(train_clips), data.patch_mask(val_clips)
        for name in self.specs:
            built, _ = assemble(self, name, data, start_heads=val_heads)
            self.history_[f"{name}_fine_tune"] = fine_tune_on_corpus(built, data, tr, va, self.settings.fine_tune_config(),
                                                                     self.settings.seed)
            self.full_models_[name] = built.keras_model

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

    def applied_temperature(self, name: str) -> float:
        """The temperature model `name`'s outputs carry: its fitted one when `TEMPERATURE_SCALING` is on (never for a
        fine-tuned graph), else 1."""
        if not TEMPERATURE_SCALING or name in getattr(self, "full_models_", {}):
            return 1.0
        return float(getattr(self, "temperatures_", {}).get(name, 1.0))

    def patch_log_probabilities(self, data: CorpusData, name: str, patch_idx: np.ndarray) -> np.ndarray:
        """Patch log-probabilities ``[n, C]`` of neural model `name` for the patches `patch_idx` of `data`, with the
        temperature the saved graph applies (`applied_temperature`)."""
        logp = self._patch_log_probabilities(data, name, patch_idx)
        temperature = self.applied_temperature(name)
        return logp if temperature == 1.0 else log_softmax(logp / temperature)

    def _patch_log_probabilities(self, data: CorpusData, name: str, patch_idx: np.ndarray) -> np.ndarray:
        if name in self.full_models_:
            probs = TrainedModel(name, self.full_models_[name], data.labels, {}, {}, {}, None).predict_patches(
                data.patches.data[patch_idx]
            )
            return np.log(np.clip(probs, LOG_EPS, 1.0))
        spec = self.specs[name]
        head_logp = [self._head_logp(data, h, patch_idx) for h in spec.heads]
        return combine_late(head_logp, self.late_weights_) if spec.weighs_heads else head_logp[0]

    def clip_probabilities(self, data: CorpusData, name: str, clips: np.ndarray) -> np.ndarray:
        """Clip probabilities ``[len(clips), C]`` of model `name` (``"egemaps"`` included) for sorted clip indices,
        temperature-scaled when `TEMPERATURE_SCALING` is on (never for a fine-tuned graph)."""
        proba = self.raw_clip_probabilities(data, name, clips)
        temperature = self.applied_temperature(name)
        if temperature == 1.0:
            return proba
        from seraudit.ensemble.evaluation.calibration import scale_probabilities

        return scale_probabilities(proba, temperature)

    def raw_clip_probabilities(self, data: CorpusData, name: str, clips: np.ndarray) -> np.ndarray:
        """Clip probabilities of model `name` for sorted clip indices, as the model computes them (no temperature)."""
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
        proba = data.clip_probabilities(self._patch_log_probabilities(data, name, patch_idx), patch_idx, clips)
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


def aux_tasks(data: CorpusData, names, clips: np.ndarray) -> list[AuxTask]:
    """The auxiliary targets `names` (fields of the clip table) of the clips `clips`."""
    tasks = []
    for name in names:
        y, classes = data.aux_labels(name)
        tasks.append(AuxTask(name, y[np.asarray(clips)], classes))
    return tasks



# Temperature scaling of every model's probabilities (fitted per split on pooled out-of-fold validation predictions;
# the saved graphs carry it, `ensemble.training.assembly.model_config`). On by default: it lowered the out-of-fold
# ECE (10 bins) of every model on both shared corpora (RAVDESS 2.4 s: ensemble 0.028 -> 0.015, YAMNet 0.086 -> 0.018,
# VGGish untrained 0.032 -> 0.024, eGeMAPS 0.232 -> 0.057; EmoDB 2 s: 0.064 -> 0.044, 0.048 -> 0.038, 0.080 -> 0.045,
# 0.193 -> 0.142). Dividing log-probabilities by T never changes a prediction.
TEMPERATURE_SCALING = True


def validation_groups(fold: Fold, seed: int = 0) -> list[list[str]]:
    """Groups of speakers covering every non-test speaker of `fold`: its validation speakers first, then its training
    speakers (seeded order) cut into groups of as many; each group is scored by heads fitted on all the others."""
    size = max(1, len(fold.val_speakers))
    train = list(np.random.default_rng(seed).permutation(sorted(map(str, fold.train_speakers))))
    n_groups = max(1, int(np.ceil(len(train) / size))) if train else 0
    return [sorted(map(str, fold.val_speakers))] + [sorted(map(str, g)) for g in np.array_split(train, n_groups) if len(g)]
