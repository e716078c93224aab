"""Clip pooling inside a model's flat graph: statistics and attentive statistics pooling as Keras layers.

A graph with in-graph pooling reads ONE clip per call: its batch is the clip's
GDS-kept patches, and every output row carries the clip's pooled result (so
the graph keeps its ``[B, 96, 64] -> [B, C]`` shape and its flat layers, which
Grad-CAM and the other explainers need). Two pieces:

* ``ClipAttention``: softmax over the batch axis of one score per patch ->
  each patch's share of the clip (attentive pooling, Okabe et al. 2018);
* ``ClipStatistics``: mean and standard deviation over the batch axis,
  weighted by those shares when given (uniform otherwise: statistics pooling),
  repeated for every row.

The variance is computed in two passes (centred), which float32 keeps accurate
where ``E[x^2] - E[x]^2`` would cancel; `ensemble.heads.attentive` and
`ensemble.data.corpus_data` compute the same numbers in float64 on cached features.
"""

from __future__ import annotations

_CLASSES: dict = {}


def _layer_classes() -> dict:
    """The layer classes, defined (and registered for loading) on first use so importing this module needs no Keras."""
    if _CLASSES:
        return _CLASSES
    import keras

    ops = keras.ops

    @keras.saving.register_keras_serializable(package="seraudit")
    class ClipAttention(keras.layers.Layer):
        """Per-patch scores ``[B, 1]`` -> attention weights ``[B, 1]`` summing to 1 over the batch (one clip)."""

        def call(self, scores):
            return ops.softmax(scores, axis=0)

        def compute_output_shape(self, input_shape):
            return input_shape

    @keras.saving.register_keras_serializable(package="seraudit")
    class ClipStatistics(keras.layers.Layer):
        """``x [B, D]`` (and optional weights ``[B, 1]``) -> ``[mean, std]`` over the batch, ``[B, 2 D]`` (rows equal)."""

        def __init__(self, epsilon: float = 0.0, **kwargs):
            super().__init__(**kwargs)
            self.epsilon = float(epsilon)

        def call(self, inputs):
            if isinstance(inputs, (list, tuple)):
                x, weights = inputs
            else:
                x = inputs
                weights = ops.ones_like(x[:, :1]) / ops.cast(ops.shape(x)[0], x.dtype)
            mean = ops.sum(weights * x, axis=0, keepdims=True)
            var = ops.sum(weights * ops.square(x - mean), axis=0, keepdims=True)
            stats = ops.concatenate([mean, ops.sqrt(var + self.epsilon)], axis=-1)
            return ops.broadcast_to(stats, (ops.shape(x)[0], ops.shape(stats)[1]))

        def compute_output_shape(self, input_shape):
            shape = input_shape[0] if isinstance(input_shape, (list, tuple)) and isinstance(input_shape[0], (list, tuple)) else input_shape
            return (shape[0], 2 * shape[1])

        def get_config(self):
            return {**super().get_config(), "epsilon": self.epsilon}

    _CLASSES.update(ClipAttention=ClipAttention, ClipStatistics=ClipStatistics)
    return _CLASSES


def clip_attention(name: str):
    return _layer_classes()["ClipAttention"](name=name)


def clip_statistics(name: str, epsilon: float = 0.0):
    return _layer_classes()["ClipStatistics"](epsilon=epsilon, name=name)
