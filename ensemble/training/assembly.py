"""Assembly: the flat Keras graph of each model, built from a fitted `Trainer`, and the check that it computes
what was evaluated.

The trainer fits heads on cached layer features; a saved model is one flat graph
(log-mel patches in, probabilities out: `ensemble.model.graph.build_model`) with
the backbone weights loaded and each trained head moved in by layer name. Kept
apart from the trainer because it is the one step that needs Keras graphs (the
trainer's fit and scoring never do) and because what moves where is decided by
the graph's layout (`ensemble.model.spec`), not by how the heads were fitted.
`saved_models` bounds the largest difference between the graph and the heads
on a few clips and records a reference prediction a reloaded model must
reproduce, so a saved run computes exactly the scores it reports.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from seraudit.ensemble.data.corpus_data import CorpusData
from seraudit.ensemble.heads.linear import BN_EPSILON
from seraudit.ensemble.model.spec import BACKBONES, HeadSpec, ModelSpec
from seraudit.ensemble.model.trained import TrainedModel
from seraudit.ensemble.training.settings import TrainSettings

ASSEMBLY_TOLERANCE = 1e-3  # largest probability difference allowed between a saved graph and its trained heads


class Trainer(Protocol):
    """What assembly reads of a fitted `ensemble.training.trainer.Trainer` (named here, not imported: the trainer
    assembles the graphs it fine-tunes, so importing it back would make a cycle)."""

    settings: TrainSettings
    sources: dict[str, Any]
    specs: dict[str, ModelSpec]
    heads_: dict
    late_weights_: np.ndarray | None
    history_: dict
    full_models_: dict
    clip_level: bool

    def patch_log_probabilities(self, data: CorpusData, name: str, patch_idx: np.ndarray) -> np.ndarray: ...

    def clip_probabilities(self, data: CorpusData, name: str, clips: np.ndarray) -> np.ndarray: ...

    def applied_temperature(self, name: str) -> float: ...


def model_config(trainer: Trainer, name: str, data: CorpusData) -> dict:
    """The ``config.json`` of model `name` of fitted `trainer`: its spec, its chosen layers, which backbones are untrained, labels, fine-tuning."""
    spec = trainer.specs[name]
    weights = {b: trainer.history_[b]["layer_weights"] for b in spec.branches
               if "layer_weights" in trainer.history_.get(b, {})}  # fmt: skip
    return {
        **spec.to_config(),
        **({"layer_weights": weights} if weights else {}),
        "branch_untrained": {b: not trainer.sources[b].pretrained for b in spec.branches},
        "labels": data.labels,
        "fine_tune": trainer.settings.fine_tune,
        **({"temperature": t} if (t := trainer.applied_temperature(name)) != 1.0 else {}),  # temperature scaling
    }


def assemble(trainer: Trainer, name: str, data: CorpusData, start_heads: dict | None = None):
    """The flat graph of `name` with backbone weights loaded and the trained head(s) moved in by layer name.

    `start_heads` (head key -> `LinearHead`) replaces the refitted heads: fine-tuning starts from the heads fitted
    on the training speakers only. Returns ``(BuiltModel, config)``.
    """
    from seraudit.ensemble.model.graph import build_model, set_late_fusion_weights

    config = model_config(trainer, name, data)
    built = build_model(config, data.n_classes)
    model, spec = built.keras_model, built.spec
    if name in trainer.full_models_:
        model.set_weights(trainer.full_models_[name].get_weights())
        return built, config
    for b in spec.branches:
        BACKBONES[b].load_weights(model, trainer.sources[b], trainer.settings.seed)
    for head in spec.heads:
        for layer, weights in head_graph_weights(spec, head, (start_heads or trainer.heads_)[head.key]).items():
            model.get_layer(layer).set_weights(weights)
    if spec.weighs_heads:
        set_late_fusion_weights(model, trainer.late_weights_)
        config["late_fusion_weights"] = {h.key: float(w) for h, w in zip(spec.heads, trainer.late_weights_)}
    return built, config


def assembly_gap(trainer: Trainer, model, name: str, data: CorpusData, n_clips: int = 2) -> float:
    """Largest difference between the flat graph and the cached-embedding heads on a few clips.

    Guards that the saved graph computes exactly what was evaluated: patch by patch for a
    patch-wise graph, clip by clip (kept patches in, pooled probabilities out) for in-graph pooling.
    """
    from seraudit.ensemble.model.clip_pooling import kept_by_clip
    from seraudit.preprocessing.pipeline import clip_features

    paths = data.table["path"].astype(str).tolist()[:n_clips]
    patches = np.concatenate([clip_features(p).patches.data for p in paths])
    idx = np.flatnonzero(data.patches.clip_index < n_clips)
    graph_model = TrainedModel(name, model, data.labels, {}, {}, {}, None, pooling=trainer.settings.pooling)
    if not trainer.clip_level:
        graph = graph_model.predict_patches(patches)
        heads = np.exp(trainer.patch_log_probabilities(data, name, idx))
        return float(np.abs(graph - heads).max())
    clip_of = data.patches.clip_index[idx]
    kept = kept_by_clip(data.keep[idx], clip_of, n_clips)
    graph = np.concatenate([graph_model.predict_clips(patches[kept & (clip_of == c)][None]) for c in range(n_clips)])
    return float(np.abs(graph - trainer.clip_probabilities(data, name, np.arange(n_clips))).max())


def saved_models(trainer: Trainer, data: CorpusData, check: bool = True) -> dict[str, tuple[Any, dict]]:
    """Every neural model of fitted `trainer` ready to save: name -> (BuiltModel, config) with its reference
    prediction.

    `check` also records (and bounds) the gap between graph and heads; a fine-tuned graph has no heads on cached
    features to be compared to.
    """
    out = {}
    for name in trainer.specs:
        built, config = assemble(trainer, name, data)
        if check:
            gap = assembly_gap(trainer, built.keras_model, name, data)
            if gap > ASSEMBLY_TOLERANCE:
                raise RuntimeError(f"the assembled {name} graph differs from its trained heads by {gap:.2e}")
            config["assembly_check_max_abs_diff"] = gap
        config["reference_prediction"] = reference_prediction(built.keras_model, name, data, trainer.settings)
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

