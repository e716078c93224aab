"""The layers of an emotion head inside a model's flat graph, and the class weights its training balances with.

A head is a fixed standardisation (a frozen BatchNormalization holding the
training features' mean and variance) -> dropout -> [dense ReLU (L2) -> dropout,
when ``hidden > 0``] -> dense logits (L2). With frozen backbones its weights come
from a `ensemble.heads.linear.LinearHead` fitted on clip features (``hidden = 0``),
moved in by layer name; fine-tuning then trains the whole graph on log-mel
patches (`ensemble.training.fine_tuning`). `HeadConfig` holds the graph's head shape.

(Before heads read mid-level layers, the dense patch-level head on the embedding
was compared with a logistic regression on clip-mean embeddings: both reached
38-39 UAR on RAVDESS (2.4 s); the layer was the bottleneck, see `linear_head`.)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from seraudit.ensemble.heads.linear import BN_EPSILON  # the fitted head's epsilon: graph and head compute one function


@dataclass(frozen=True)
class HeadConfig:
    """Hyper-parameters of a dense head and of its training (frozen: part of the frozen `TrainSettings`)."""

    hidden: int = 0  # 0: linear softmax head (see the module docstring for why)
    dropout: float = 0.0
    l2: float = 0.03
    learning_rate: float = 1e-3
    epochs: int = 150
    batch_size: int = 128
    patience: int = 10

    def to_dict(self) -> dict:
        return asdict(self)


def add_head(x, n_classes: int, config: HeadConfig, prefix: str, logits_name: str | None = None):
    """Add a head's layers to Keras tensor `x` ``[B, D]``; returns the logits tensor ``[B, C]``."""
    import keras

    reg = keras.regularizers.L2(config.l2)
    x = keras.layers.BatchNormalization(name=f"{prefix}_standardize", trainable=False, epsilon=BN_EPSILON)(x)
    x = keras.layers.Dropout(config.dropout, name=f"{prefix}_dropout_in")(x)
    if config.hidden > 0:
        x = keras.layers.Dense(config.hidden, activation="relu", kernel_regularizer=reg, name=f"{prefix}_dense")(x)
        x = keras.layers.Dropout(config.dropout, name=f"{prefix}_dropout")(x)
    return keras.layers.Dense(n_classes, kernel_regularizer=reg, name=logits_name or f"{prefix}_logits")(x)


def balanced_class_weights(y: np.ndarray, n_classes: int) -> dict[int, float]:
    """scikit-learn's 'balanced' weights; classes absent from `y` get weight 0 (they cannot be learned)."""
    from sklearn.utils.class_weight import compute_class_weight

    present = np.unique(y)
    weights = compute_class_weight("balanced", classes=present, y=y)
    out = {c: 0.0 for c in range(n_classes)}
    out.update({int(c): float(w) for c, w in zip(present, weights)})
    return out
