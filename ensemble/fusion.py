"""Builds every emotion model as ONE flat Keras graph: log-mel patch -> backbone tower(s) -> head(s) -> probabilities.

Single models put one head on one tower. The ensemble calls both towers on
the same input tensor (no nested sub-models, so Grad-CAM can reach both last
convolutions) and fuses them in one of two ways:

* late fusion: each branch has its own head; the class log-probabilities of
  the branches are combined with weights fitted on validation data (Kim &
  Kwak 2024) in the layer ``"logits"``;
* feature fusion: the YAMNet (1024-d) and VGGish (128-d) embeddings are
  concatenated into one head whose last dense layer is ``"logits"``.

The output layer ``"probabilities"`` is the softmax of ``"logits"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from seraudit.ensemble.heads import HeadConfig, add_head
from seraudit.core.constants import PATCH_BANDS, PATCH_FRAMES

FUSIONS = ("late", "feature")
INPUT_NAME = "log_mel"
LOGITS_NAME = "logits"
OUTPUT_NAME = "probabilities"


def head_prefix(model_name: str, branch: str | None, fusion: str | None) -> str:
    """Layer-name prefix of the head that sits on `branch` (``None``: the fused head)."""
    if fusion == "feature":
        return "fused_head"
    return f"{branch}_head"


def branches_of(name: str) -> list[str]:
    if name == "ensemble":
        return ["yamnet", "vggish"]
    if name in ("yamnet", "vggish"):
        return [name]
    raise ValueError(f"unknown model {name!r}; choose ensemble, yamnet or vggish")


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
    towers: dict[str, Any]  # branch -> Tower
    conv_layers: dict[str, str]
    embedding_layers: dict[str, str]
    head_prefixes: dict[str, str] = field(default_factory=dict)  # branch (or "fused") -> head prefix


def add_tower(x, backbone: str):
    """Add one backbone's layers to tensor `x`; returns its `Tower`."""
    if backbone == "yamnet":
        from seraudit.ensemble.backbones.yamnet import yamnet_tower

        return yamnet_tower(x, prefix="yamnet")
    if backbone == "vggish":
        from seraudit.ensemble.backbones.vggish import vggish_tower

        return vggish_tower(x, prefix="vggish")
    raise ValueError(f"unknown backbone {backbone!r}")


def build_model(config: dict, n_classes: int) -> BuiltModel:
    """Build the flat graph a model config describes (weights are random until loaded).

    `config` keys: ``name`` ("ensemble", "yamnet", "vggish"), ``fusion``
    ("late", "feature" or None), ``head`` (HeadConfig fields).
    """
    import keras

    name, fusion = config["name"], config.get("fusion")
    branches = branches_of(name)
    if len(branches) > 1 and fusion not in FUSIONS:
        raise ValueError(f"the ensemble needs fusion 'late' or 'feature', got {fusion!r}")
    head = HeadConfig(**config.get("head", {}))
    inputs = keras.Input((PATCH_FRAMES, PATCH_BANDS), name=INPUT_NAME)
    towers = {b: add_tower(inputs, b) for b in branches}
    prefixes: dict[str, str] = {}
    if len(branches) == 1:
        b = branches[0]
        prefixes[b] = head_prefix(name, b, None)
        logits = add_head(towers[b].embedding, n_classes, head, prefixes[b], logits_name=LOGITS_NAME)
    elif fusion == "feature":
        fused = keras.layers.Concatenate(name="fused_embedding")([towers[b].embedding for b in branches])
        prefixes["fused"] = head_prefix(name, None, "feature")
        logits = add_head(fused, n_classes, head, prefixes["fused"], logits_name=LOGITS_NAME)
    else:
        branch_logits = []
        for b in branches:
            prefixes[b] = head_prefix(name, b, "late")
            branch_logits.append(add_head(towers[b].embedding, n_classes, head, prefixes[b]))
        logits = late_fusion_layer(len(branches))(branch_logits)
    probabilities = keras.layers.Activation("softmax", name=OUTPUT_NAME)(logits)
    model = keras.Model(inputs, probabilities, name=name if not fusion else f"{name}_{fusion}")
    return BuiltModel(
        keras_model=model,
        towers=towers,
        conv_layers={b: t.last_conv_layer for b, t in towers.items()},
        embedding_layers={b: t.embedding_layer for b, t in towers.items()},
        head_prefixes=prefixes,
    )


def set_late_fusion_weights(model, weights: np.ndarray) -> None:
    model.get_layer(LOGITS_NAME).set_weights([np.asarray(weights, dtype=np.float32)])


def fit_late_fusion_weights(
    branch_logp: list[np.ndarray], y: np.ndarray, clip_index: np.ndarray, step: float = 0.05
) -> tuple[np.ndarray, dict]:
    """Fit the two branch weights on validation data: grid over the simplex, best clip-level UAR, ties by log-loss.

    `branch_logp` holds each branch's patch log-probabilities ``[N, C]``;
    `y` the clip labels per patch and `clip_index` the clip id per patch.
    """
    import warnings

    from sklearn.metrics import balanced_accuracy_score

    from seraudit.ensemble.trained import pool_by_clip

    clip_ids, first = np.unique(clip_index, return_index=True)
    remap = np.searchsorted(clip_ids, clip_index)
    y_clip = np.asarray(y)[first]
    best, best_key, grid = None, None, []
    for w in np.round(np.arange(0.0, 1.0 + 1e-9, step), 6):
        weights = np.array([w, 1.0 - w])
        combined = weights[0] * branch_logp[0] + weights[1] * branch_logp[1]
        combined = combined - combined.max(axis=1, keepdims=True)
        patch_probs = np.exp(combined) / np.exp(combined).sum(axis=1, keepdims=True)
        clip_probs = pool_by_clip(patch_probs, remap, len(clip_ids))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            uar = balanced_accuracy_score(y_clip, clip_probs.argmax(axis=1))
        nll = -np.mean(np.log(np.clip(clip_probs[np.arange(len(y_clip)), y_clip], 1e-12, 1)))
        grid.append({"weights": weights.tolist(), "uar": float(uar), "log_loss": float(nll)})
        key = (uar, -nll)
        if best_key is None or key > best_key:
            best, best_key = weights, key
    return best, {"criterion": "validation clip UAR, ties by log-loss", "grid": grid}


def set_trainable_top(model, tower, n_layers: int) -> list[str]:
    """Freeze a tower except its last `n_layers` weight-carrying layers (batch norms stay frozen); returns their names."""
    import keras

    weighted = [
        model.get_layer(n)
        for n in tower.layer_names
        if model.get_layer(n).weights and not isinstance(model.get_layer(n), keras.layers.BatchNormalization)
    ]
    top = weighted[-n_layers:] if n_layers > 0 else []
    for name in tower.layer_names:
        model.get_layer(name).trainable = False
    for layer in top:
        layer.trainable = True
    return [layer.name for layer in top]
