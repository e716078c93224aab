"""The handle a backbone returns when its layers are added to a shared Keras graph."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Tower:
    """One backbone's layers inside a (possibly fused) flat Functional graph.

    Fused models call several towers on the same input tensor; this handle lets
    the caller reach each tower's Grad-CAM target (`last_conv`) and its embedding
    without nesting sub-models, and lets weight loaders find the tower's layers
    by name.

    Attributes
    ----------
    inputs : KerasTensor
        The tensor the tower was built on (`[B, 96, 64]` log-mel patches).
    last_conv : KerasTensor
        Output of the tower's last convolution (after its activation), for Grad-CAM.
    embedding : KerasTensor
        The tower's embedding (`[B, Backbone.embedding_size]`).
    last_conv_layer : str
        Name of the layer whose output is `last_conv`.
    embedding_layer : str
        Name of the layer whose output is `embedding`.
    prefix : str
        Prefix carried by every layer name of the tower (e.g. ``"yamnet"``).
    layer_names : list[str]
        Names of all layers the tower added, in graph order.
    taps : dict[str, str]
        The tower's readable layers, shallow to deep: tap name (``"layer6"``,
        ``"conv4"``, ``"fc2"``) -> the Keras layer whose output a head may read
        (a feature map ``[B, T, F, C]``, pooled by the head, or a vector ``[B, D]``).
        Mid-level layers carry far more emotion than the embedding, so heads choose.
    """

    inputs: Any
    last_conv: Any
    embedding: Any
    last_conv_layer: str
    embedding_layer: str
    prefix: str
    layer_names: list[str] = field(default_factory=list)
    taps: dict[str, str] = field(default_factory=dict)
    tap_outputs: dict[str, Any] = field(default_factory=dict)  # tap name -> its output tensor in this graph
