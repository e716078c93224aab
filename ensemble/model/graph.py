"""Builds every emotion model as ONE flat Keras graph: log-mel patch -> backbone tower(s) -> head(s) -> probabilities.

The towers and heads come from the model's `ensemble.model.spec.ModelSpec`.
Single models put one head on one tower. The ensemble calls both towers on
the same input tensor (no nested sub-models, so Grad-CAM can reach both last
convolutions) and fuses them in one of two ways:

* late fusion: each branch has its own head; the class log-probabilities of
  the branches are combined with weights (Kim & Kwak 2024) in the layer
  ``"logits"``, fitted on out-of-fold validation predictions pooled over
  speakers and shrunk toward equal weights (`fit_late_fusion_weights`);
* feature fusion: what the heads read from YAMNet and VGGish (their chosen
  layers, or their 1024-d and 128-d embeddings) is concatenated into one head
  whose last dense layer is ``"logits"``.

The output layer ``"probabilities"`` is the softmax of ``"logits"``. Late
fusion's numpy twin (`combine_late`) scores heads trained on cached embeddings
exactly as the graph does, and fits the branch weights.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from seraudit.core.constants import PATCH_BANDS, PATCH_FRAMES
from seraudit.ensemble.model.head_layers import add_head
from seraudit.ensemble.model.clip_pooling import LOG_EPS, pool_by_clip
from seraudit.ensemble.model.spec import BACKBONES, LOGITS_NAME, ModelSpec


def _late_fusion_layer_class():
    import keras

    @keras.saving.register_keras_serializable(package="seraudit")
    class LateFusion(keras.layers.Layer):
        """Weighted sum of the branches' class log-probabilities (weights fitted on validation data, frozen)."""

        def __init__(self, n_branches: int, **kwargs):
            super().__init__(**kwargs)
            self.n_branches = n_branches

        def build(self, input_shape):
            self.branch_weights = self.add_weight(
                name="branch_weights",
                shape=(self.n_branches,),
                initializer=keras.initializers.Constant(1.0 / self.n_branches),
                trainable=False,
            )

        def call(self, branch_logits):
            ops = keras.ops
            logps = [ops.log_softmax(z, axis=-1) for z in branch_logits]
            return sum(self.branch_weights[i] * logp for i, logp in enumerate(logps))

        def get_config(self):
            return {**super().get_config(), "n_branches": self.n_branches}

    return LateFusion


_LATE_FUSION = None


def late_fusion_layer(n_branches: int, name: str = LOGITS_NAME):
    global _LATE_FUSION
    if _LATE_FUSION is None:
        _LATE_FUSION = _late_fusion_layer_class()
    return _LATE_FUSION(n_branches, name=name)


@dataclass
class BuiltModel:
    """A freshly built graph and the names explainers and trainers need."""

    keras_model: Any
    spec: ModelSpec
    towers: dict[str, Any]  # branch -> Tower
    conv_layers: dict[str, str]
    embedding_layers: dict[str, str]
    attention_layers: dict[str, str] = field(default_factory=dict)  # head key -> its attention layer (attentive pooling)


def build_model(config: dict, n_classes: int) -> BuiltModel:
    """Build the flat graph a model config describes (weights are random until loaded).

    `config` is a saved model's ``config.json`` (or any dict with its keys
    ``name``, ``fusion``, ``head``, ``taps``): see `ensemble.model.spec.ModelSpec.from_config`.
    Each branch's tower stops at the deepest layer its heads read; what the heads
    read from it sits in one layer, ``<branch>_features``.
    """
    import keras

    spec = ModelSpec.from_config(config)
    inputs = keras.Input((PATCH_FRAMES, PATCH_BANDS), name=spec.input_name)
    towers, features, conv_layers, feature_layers = {}, {}, {}, {}
    for b in spec.branches:
        if spec.reads_embedding(b):
            towers[b] = BACKBONES[b].add_tower(inputs)
            features[b], feature_layers[b] = towers[b].embedding, towers[b].embedding_layer
            conv_layers[b] = towers[b].last_conv_layer
            continue
        taps = spec.taps_of(b)
        towers[b] = tower = BACKBONES[b].add_tower(inputs, up_to=taps[-1])
        features[b] = _pooled_taps(tower, taps, spec.features_layer(b))
        feature_layers[b] = spec.features_layer(b)
        conv_layers[b] = _gradcam_layer(tower, taps)
    head_logits, attention_layers = [], {}
    for head in spec.heads:
        if len(head.branches) == 1:
            x = features[head.branches[0]]
        else:
            x = keras.layers.Concatenate(name=head.embedding_layer)([features[b] for b in head.branches])
        x = _clip_pooling(x, spec.pooling, head.prefix)
        if spec.pooling == "attentive":
            attention_layers[head.key] = f"{head.prefix}_attention"
        head_logits.append(add_head(x, n_classes, spec.head, head.prefix, logits_name=spec.graph_logits(head)))
    logits = late_fusion_layer(len(head_logits))(head_logits) if spec.weighs_heads else head_logits[0]
    temperature = config.get("temperature")
    if temperature is not None and float(temperature) != 1.0:  # temperature scaling (`TEMPERATURE_SCALING`)
        logits = keras.layers.Rescaling(1.0 / float(temperature), name="temperature")(logits)
    probabilities = keras.layers.Activation("softmax", name=spec.output_name)(logits)
    model = keras.Model(inputs, probabilities, name=spec.keras_name)
    return BuiltModel(keras_model=model, spec=spec, towers=towers, conv_layers=conv_layers,
                      embedding_layers=feature_layers, attention_layers=attention_layers)


def _clip_pooling(x, pooling: str, prefix: str):
    """What a head reads under in-graph clip pooling (`ensemble.model.pooling_layers`); mean pooling happens after the graph.

    * ``"stats"``: the features' mean and standard deviation over the clip's patches (the head standardises them);
    * ``"attentive"``: the features standardised per patch, one attention score per patch, and the attention-
      weighted mean and standard deviation (`ensemble.heads.attentive` fits exactly this).
    """
    import keras

    from seraudit.ensemble.heads.attentive import STD_EPSILON
    from seraudit.ensemble.heads.linear import BN_EPSILON
    from seraudit.ensemble.model.pooling_layers import clip_attention, clip_statistics

    if pooling == "mean":
        return x
    if pooling == "stats":
        return clip_statistics(f"{prefix}_statistics")(x)
    z = keras.layers.BatchNormalization(name=f"{prefix}_patch_standardize", trainable=False, epsilon=BN_EPSILON)(x)
    scores = keras.layers.Dense(1, use_bias=False, name=f"{prefix}_attention_score")(z)
    weights = clip_attention(f"{prefix}_attention")(scores)
    return clip_statistics(f"{prefix}_statistics", epsilon=STD_EPSILON)([z, weights])


def _pooled_taps(tower, taps: tuple[str, ...], name: str):
    """The tapped layers' outputs, each averaged over time and frequency when it is a feature map, concatenated."""
    import keras

    pooled = []
    for tap in taps:
        out = tower.tap_outputs[tap]
        single = len(taps) == 1
        if len(out.shape) == 4:
            out = keras.layers.GlobalAveragePooling2D(name=name if single else f"{name}_{tap}")(out)
        elif single:
            out = keras.layers.Identity(name=name)(out)
        pooled.append(out)
    return pooled[0] if len(pooled) == 1 else keras.layers.Concatenate(name=name)(pooled)


def _gradcam_layer(tower, taps: tuple[str, ...]) -> str:
    """Grad-CAM's target: the shallowest tapped feature map (every path to the logits passes through it).

    Dense taps (VGGish fc1/fc2) have no time-frequency grid: their target is the tower's last convolution.
    """
    for tap in taps:
        if len(tower.tap_outputs[tap].shape) == 4:
            return tower.taps[tap]
    return tower.last_conv_layer


def set_late_fusion_weights(model, weights: np.ndarray) -> None:
    model.get_layer(LOGITS_NAME).set_weights([np.asarray(weights, dtype=np.float32)])


def log_softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax of class scores ``[N, C]`` (float64)."""
    scores = scores - scores.max(axis=1, keepdims=True)
    return scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))


def combine_late(branch_logp: list[np.ndarray], weights) -> np.ndarray:
    """Late fusion in numpy: the weighted sum of the branches' patch log-probabilities ``[N, C]``, renormalised.

    The same sum the graph's ``"logits"`` layer computes, so heads scored on
    cached embeddings give the saved model's predictions.
    """
    return log_softmax(sum(w * logp for w, logp in zip(weights, branch_logp)))


def weight_grid(n_branches: int, step: float = 0.05) -> list[np.ndarray]:
    """Every weight vector on the simplex with coordinates in multiples of `step` (first branch's weight rising)."""
    levels = np.round(np.arange(0.0, 1.0 + 1e-9, step), 6)
    grid = [np.array([])]
    for _ in range(n_branches - 1):
        grid = [np.append(g, w) for g in grid for w in levels if g.sum() + w <= 1.0 + 1e-9]
    return [np.append(g, 1.0 - g.sum()) for g in grid]


# How far fitted branch weights are pulled toward equal weights: final = (1 - s) * fitted + s * equal. Fixed a
# priori (not chosen on any corpus), so no branch weight leaves [s / n, 1 - s + s / n] (two branches: 0.25-0.75)
# however few speakers the fit saw or however lucky one branch was on them.
FUSION_SHRINKAGE = 0.5
FUSION_CRITERION = "pooled out-of-fold validation clip log-loss (ties by UAR), shrunk toward equal weights"


def shrink_toward_equal(weights, shrinkage: float = FUSION_SHRINKAGE) -> np.ndarray:
    """The convex combination ``(1 - shrinkage) * weights + shrinkage * equal`` (still on the simplex)."""
    weights = np.asarray(weights, dtype=np.float64)
    return (1.0 - shrinkage) * weights + shrinkage / len(weights)


def fit_late_fusion_weights(
    branch_logp: list[np.ndarray], y: np.ndarray, clip_index: np.ndarray, step: float = 0.05,
    shrinkage: float = FUSION_SHRINKAGE,
) -> tuple[np.ndarray, dict]:
    """Fit the branch weights on out-of-fold validation predictions, then shrink them toward equal weights.

    `branch_logp` holds each branch's log-probabilities ``[N, C]`` of the
    patches that count (GDS-kept), pooled over every validation group of speakers
    (`ensemble.training.trainer.Trainer` scores each group with heads that never saw it);
    `y` the clip labels per patch and `clip_index` the clip id per patch. The grid
    over the simplex is scored by the clips' mean log-loss (a proper, smooth score:
    one lucky speaker's UAR cannot swing it), ties by UAR; the best point is then pulled
    toward equal weights by `shrinkage` (`FUSION_SHRINKAGE`, fixed a priori).
    """
    from sklearn.metrics import balanced_accuracy_score

    clip_ids, first = np.unique(clip_index, return_index=True)
    remap = np.searchsorted(clip_ids, clip_index)
    y_clip = np.asarray(y)[first]
    best, best_key, grid = None, None, []
    for weights in weight_grid(len(branch_logp), step):
        clip_probs = pool_by_clip(np.exp(combine_late(branch_logp, weights)), remap, len(clip_ids))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            uar = balanced_accuracy_score(y_clip, clip_probs.argmax(axis=1))
        nll = -np.mean(np.log(np.clip(clip_probs[np.arange(len(y_clip)), y_clip], LOG_EPS, 1)))
        grid.append({"weights": weights.tolist(), "uar": float(uar), "log_loss": float(nll)})
        key = (-round(float(nll), 9), uar)
        if best_key is None or key > best_key:
            best, best_key = weights, key
    shrunk = shrink_toward_equal(best, shrinkage)
    return shrunk, {"criterion": FUSION_CRITERION, "fitted": best.tolist(), "shrinkage": float(shrinkage),
                    "weights": shrunk.tolist(), "n_clips": int(len(clip_ids)), "grid": grid}


def set_trainable_top(model, tower, n_layers: int) -> list[str]:
    """Freeze a tower except its last `n_layers` weight-carrying layers (batch norms stay frozen); returns their names."""
    import keras

    held = {layer.name for layer in model.layers}
    names = [n for n in tower.layer_names if n in held]  # a tower cut at a tap lists layers past it too
    weighted = [
        model.get_layer(n)
        for n in names
        if model.get_layer(n).weights and not isinstance(model.get_layer(n), keras.layers.BatchNormalization)
    ]
    top = weighted[-n_layers:] if n_layers > 0 else []
    for name in names:
        model.get_layer(name).trainable = False
    for layer in top:
        layer.trainable = True
    return [layer.name for layer in top]
