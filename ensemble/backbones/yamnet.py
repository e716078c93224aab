"""YAMNet (MobileNet-v1 on log-mel patches) as layers of a flat Keras 3 graph, and its weight loaders.

The port follows tensorflow/models research/audioset/yamnet/yamnet.py: a 3x3
stride-2 convolution, 13 depthwise-separable blocks, 'same' padding (TF's
asymmetric padding on stride 2), global average pooling to a 1024-d embedding
and a 521-way AudioSet classifier.

Design: the port has **no batch-norm layers**. Every convolution carries a bias
and its ReLU, holding batch norm folded in (`scale = gamma / sqrt(var + 1e-4)`,
`kernel *= scale`, `bias = beta - mean * scale`). The TF Hub TFLite model is
stored that way already; the official `yamnet.h5` and the TF Hub SavedModel keep
separate batch-norm variables, which the loader folds at load time. At inference
the two are the same function, and the graph is smaller and faster.

Layer names are the official ones with `/` replaced by `_` and the tower prefix
in front (`layer2/pointwise_conv` -> `yamnet_layer2_pointwise_conv`); the
classifier is `<prefix>_logits`. The loader assigns by these names, so it fills
both the stand-alone model and a fused ensemble that carries the tower.
"""

from __future__ import annotations

import math

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seraudit.core.constants import PATCH_BANDS, PATCH_FRAMES
from seraudit.core.errors import WeightsError
from seraudit.ensemble.backbones.backbone import Asset, Backbone, OfficialWeights
from seraudit.ensemble.backbones.tower import Tower
from seraudit.ensemble.weights.savedmodel_reader import read_savedmodel_variables

NUM_CLASSES = 521
EMBEDDING_SIZE = 1024
BATCHNORM_EPSILON = 1e-4

# (kind, kernel, stride, filters) for layer1 ... layer14, as in the official yamnet.py.
LAYER_DEFS: tuple[tuple[str, int, int, int], ...] = (
    ("conv", 3, 2, 32),
    ("separable", 3, 1, 64),
    ("separable", 3, 2, 128),
    ("separable", 3, 1, 128),
    ("separable", 3, 2, 256),
    ("separable", 3, 1, 256),
    ("separable", 3, 2, 512),
    ("separable", 3, 1, 512),
    ("separable", 3, 1, 512),
    ("separable", 3, 1, 512),
    ("separable", 3, 1, 512),
    ("separable", 3, 1, 512),
    ("separable", 3, 2, 1024),
    ("separable", 3, 1, 1024),
)

# The official names of YAMNet's convolutions, in graph order.
CONV_NAMES: tuple[str, ...] = tuple(
    name
    for index, (kind, *_rest) in enumerate(LAYER_DEFS, start=1)
    for name in (
        [f"layer{index}/conv"]
        if kind == "conv"
        else [f"layer{index}/depthwise_conv", f"layer{index}/pointwise_conv"]
    )
)
CLASSIFIER_NAME = "dense"
TAP_NAMES: tuple[str, ...] = tuple(f"layer{i}" for i in range(1, len(LAYER_DEFS) + 1))  # one tap per block

WEIGHT_FORMATS = ("tflite", "h5", "savedmodel")

# Where people get the weights by hand (TF Hub addresses now redirect to Kaggle Models).
MANUAL_SOURCE = (
    "https://tfhub.dev/google/lite-model/yamnet/tflite/1?lite-format=tflite -> yamnet/yamnet.tflite, "
    "or https://storage.googleapis.com/audioset/yamnet.h5 -> yamnet/yamnet.h5, "
    "or the SavedModel of https://www.kaggle.com/models/google/yamnet (TF Hub google/yamnet/1) "
    "extracted into yamnet/"
)


def keras_layer_name(official: str, prefix: str = "yamnet") -> str:
    """Name of the port's layer holding the official layer `official` (e.g. 'layer2/pointwise_conv')."""
    if official == CLASSIFIER_NAME:
        return f"{prefix}_logits"
    return f"{prefix}_{official.replace('/', '_')}"


def yamnet_tower(x, prefix: str = "yamnet", up_to: str | None = None) -> Tower:
    """Add YAMNet's layers to the Keras tensor `x` (`[B, 96, 64]` log-mel patches, offset 0.001).

    `up_to` (a tap name, e.g. ``"layer8"``) stops the tower after that block: a head
    reading a mid-level layer needs nothing above it, and the graph is smaller.
    A truncated tower has no embedding (``None``).

    Returns the tower's last convolution (layer14's pointwise conv after ReLU,
    `[B, 3, 2, 1024]`) for Grad-CAM and its 1024-d embedding (global average pool).
    """
    import keras

    names: list[str] = []
    taps: dict[str, str] = {}
    tap_outputs: dict[str, Any] = {}

    def add(layer, tensor):
        names.append(layer.name)
        return layer(tensor)

    net = add(keras.layers.Reshape((PATCH_FRAMES, PATCH_BANDS, 1), name=f"{prefix}_reshape"), x)
    if up_to is not None and up_to not in TAP_NAMES:
        raise ValueError(f"YAMNet has no layer {up_to!r}; its taps are {', '.join(TAP_NAMES)}")
    for index, (kind, kernel, stride, filters) in enumerate(LAYER_DEFS, start=1):
        if taps and next(reversed(taps)) == up_to:
            break
        if kind == "conv":
            layer = keras.layers.Conv2D(
                filters,
                kernel,
                strides=stride,
                padding="same",
                activation="relu",
                name=keras_layer_name(f"layer{index}/conv", prefix),
            )
            net = add(layer, net)
            taps[f"layer{index}"], tap_outputs[f"layer{index}"] = layer.name, net
            continue
        depthwise = keras.layers.DepthwiseConv2D(
            kernel,
            strides=stride,
            depth_multiplier=1,
            padding="same",
            activation="relu",
            name=keras_layer_name(f"layer{index}/depthwise_conv", prefix),
        )
        pointwise = keras.layers.Conv2D(
            filters,
            1,
            strides=1,
            padding="same",
            activation="relu",
            name=keras_layer_name(f"layer{index}/pointwise_conv", prefix),
        )
        net = add(pointwise, add(depthwise, net))
        taps[f"layer{index}"], tap_outputs[f"layer{index}"] = pointwise.name, net
    last_conv, last_conv_layer = net, names[-1]
    embedding, embedding_name = None, None
    if up_to is None:
        embedding_layer = keras.layers.GlobalAveragePooling2D(name=f"{prefix}_embedding")
        embedding, embedding_name = add(embedding_layer, net), embedding_layer.name
    return Tower(
        inputs=x,
        last_conv=last_conv,
        embedding=embedding,
        last_conv_layer=last_conv_layer,
        embedding_layer=embedding_name,
        prefix=prefix,
        layer_names=names,
        taps=taps,
        tap_outputs=tap_outputs,
    )


def build_yamnet(with_classifier: bool = True, prefix: str = "yamnet"):
    """Stand-alone YAMNet on input "log_mel" `[None, 96, 64]` (untrained until weights are loaded).

    Outputs `[embedding, scores]` (scores: 521 AudioSet sigmoid probabilities
    from the dense classifier `<prefix>_logits`), or the embedding alone
    without the classifier.
    """
    import keras

    inputs = keras.Input(shape=(PATCH_FRAMES, PATCH_BANDS), name="log_mel")
    tower = yamnet_tower(inputs, prefix=prefix)
    if not with_classifier:
        return keras.Model(inputs, tower.embedding, name=prefix)
    logits = keras.layers.Dense(NUM_CLASSES, name=keras_layer_name(CLASSIFIER_NAME, prefix))(tower.embedding)
    scores = keras.layers.Activation("sigmoid", name=f"{prefix}_scores")(logits)
    return keras.Model(inputs, [tower.embedding, scores], name=prefix)


# --------------------------------------------------------------------------- weights


@dataclass(frozen=True)
class LoadedWeights:
    """What `load_yamnet_weights` assigned: the source, its format, and the layers filled."""

    path: Path
    format: str
    layers: tuple[str, ...]
    classifier: bool


def _kernel_shapes() -> dict[str, tuple[int, ...]]:
    """Keras kernel shape of every official layer, to check a source before assigning it."""
    shapes: dict[str, tuple[int, ...]] = {}
    channels = 1
    for index, (kind, kernel, _stride, filters) in enumerate(LAYER_DEFS, start=1):
        if kind == "conv":
            shapes[f"layer{index}/conv"] = (kernel, kernel, channels, filters)
        else:
            shapes[f"layer{index}/depthwise_conv"] = (kernel, kernel, channels, 1)
            shapes[f"layer{index}/pointwise_conv"] = (1, 1, channels, filters)
        channels = filters
    shapes[CLASSIFIER_NAME] = (EMBEDDING_SIZE, NUM_CLASSES)
    return shapes


def _out_channels(official: str, kernel_shape: tuple[int, ...]) -> int:
    """Output channels of a Keras kernel shape (depthwise kernels are [h, w, channels, 1])."""
    return int(kernel_shape[-2] if "depthwise" in official else kernel_shape[-1])


def _from_tflite(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Weights of the TF Hub lite model (batch norm folded, int8 dequantised) in Keras layouts."""
    from seraudit.ensemble.weights.tflite_reader import read_tflite_layers

    layers = read_tflite_layers(path)
    first_conv = next((i for i, layer in enumerate(layers) if layer.op != "FULLY_CONNECTED"), len(layers))
    convs = [layer for layer in layers[first_conv:] if layer.op != "FULLY_CONNECTED"]
    dense = [layer for layer in layers[first_conv:] if layer.op == "FULLY_CONNECTED"]
    if len(convs) != len(CONV_NAMES) or len(dense) > 1:
        raise WeightsError(
            f"{path} does not look like YAMNet: {len(convs)} convolutions and {len(dense)} dense layers "
            f"(expected {len(CONV_NAMES)} and 1); use the TF Hub lite-model/yamnet/tflite/1 file"
        )
    weights: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for official, layer in zip(CONV_NAMES, convs):
        expected_op = "DEPTHWISE_CONV_2D" if "depthwise" in official else "CONV_2D"
        # Google's converter keeps the Keras names in the output tensor ("yamnet_frames/layer3/...").
        named_elsewhere = "layer" in layer.name and f"/{official.split('/')[0]}/" not in f"/{layer.name}"
        if layer.op != expected_op or named_elsewhere:
            raise WeightsError(f"{path}: operator {layer.op} {layer.name!r} does not match YAMNet's {official}")
        if layer.padding not in (None, "SAME"):
            raise WeightsError(f"{path}: {official} uses {layer.padding} padding; YAMNet uses SAME")
        # CONV_2D [out, h, w, in] -> [h, w, in, out]; depthwise [1, h, w, channels] -> [h, w, channels, 1]
        kernel = np.transpose(layer.kernel, (1, 2, 3, 0))
        bias = layer.bias if layer.bias is not None else np.zeros(_out_channels(official, kernel.shape), np.float32)
        weights[official] = (kernel, bias)
    if dense:  # [out, in] -> [in, out]
        bias = dense[0].bias if dense[0].bias is not None else np.zeros(dense[0].kernel.shape[0], np.float32)
        weights[CLASSIFIER_NAME] = (dense[0].kernel.T, bias)
    return weights


# Official Keras variable names: "<layer>/<variable>[:0]", possibly under a model scope.
_VARIABLE = re.compile(
    r"(?P<layer>layer\d+/(?:conv|depthwise_conv|pointwise_conv)(?:/bn)?|dense(?:_\d+)?|logits)"
    r"/(?P<var>kernel|depthwise_kernel|bias|gamma|beta|moving_mean|moving_variance)(?::\d+)?$"
)


def _fold_batch_norm(variables: dict[str, np.ndarray], path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Conv weights with their batch norm folded in, from official Keras variable names."""
    by_layer: dict[str, dict[str, np.ndarray]] = {}
    for name, value in variables.items():
        match = _VARIABLE.search(name)
        if match:
            layer = match["layer"]
            layer = CLASSIFIER_NAME if layer.startswith("dense") or layer == "logits" else layer
            by_layer.setdefault(layer, {})[match["var"]] = np.asarray(value, dtype=np.float32)
    missing = [name for name in CONV_NAMES if name not in by_layer]
    if missing:
        found = sorted(by_layer) or ["none"]
        raise WeightsError(
            f"{path} lacks YAMNet weights for {', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''} "
            f"(found: {', '.join(found[:6])}); use the official yamnet.h5 "
            "(https://storage.googleapis.com/audioset/yamnet.h5) or the TF Hub yamnet/1 SavedModel"
        )
    weights: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name in CONV_NAMES:
        conv = by_layer[name]
        kernel = conv.get("kernel", conv.get("depthwise_kernel"))
        if kernel is None:
            raise WeightsError(f"{path}: {name} has no kernel")
        bn = by_layer.get(f"{name}/bn")
        if bn is None:  # already folded (conv with its own bias)
            bias = conv.get("bias", np.zeros(_out_channels(name, kernel.shape), np.float32))
            weights[name] = (kernel, bias)
            continue
        try:
            scale = bn.get("gamma", 1.0) / np.sqrt(bn["moving_variance"] + BATCHNORM_EPSILON)
            bias = bn.get("beta", 0.0) - bn["moving_mean"] * scale + conv.get("bias", 0.0) * scale
        except KeyError as error:
            raise WeightsError(f"{path}: batch norm of {name} lacks {error.args[0]}") from error
        if "depthwise" in name:  # [h, w, channels, 1]: scale per input channel
            kernel = kernel * scale[None, None, :, None]
        else:  # [h, w, in, out]: scale per output channel
            kernel = kernel * scale[None, None, None, :]
        weights[name] = (kernel.astype(np.float32), np.asarray(bias, np.float32))
    if CLASSIFIER_NAME in by_layer and "kernel" in by_layer[CLASSIFIER_NAME]:
        dense = by_layer[CLASSIFIER_NAME]
        weights[CLASSIFIER_NAME] = (dense["kernel"], dense.get("bias", np.zeros(dense["kernel"].shape[1], np.float32)))
    return weights


def _read_h5(path: Path) -> dict[str, np.ndarray]:
    """Every dataset of a Keras h5 weights file, by its full path (legacy `save_weights` layout)."""
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            variables: dict[str, np.ndarray] = {}
            handle.visititems(
                lambda name, item: variables.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None
            )
    except OSError as error:
        raise WeightsError(
            f"{path} is not a readable HDF5 file ({error}); the file is corrupt: download yamnet.h5 again"
        ) from error
    return variables


def detect_format(path: Path) -> str:
    """'tflite', 'h5' or 'savedmodel', from the file name or folder contents."""
    if path.is_dir():
        if (path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file():
            return "savedmodel"
        raise WeightsError(f"{path} is a folder without saved_model.pb; give a .tflite, .h5 or SavedModel folder")
    suffix = path.suffix.lower()
    if suffix == ".tflite":
        return "tflite"
    if suffix in (".h5", ".hdf5"):
        return "h5"
    raise WeightsError(
        f"cannot tell the weights format of {path} from its name; expected .tflite, .h5 or a SavedModel folder"
    )


def read_yamnet_weights(source: Any, weights_format: str | None = None) -> tuple[Path, str, dict]:
    """Official YAMNet weights from `source` as {official layer: (kernel, bias)} in Keras layouts."""
    if isinstance(source, (str, Path)):
        path = Path(source)
    elif getattr(source, "path", None) is None:  # an untrained WeightsSource: nothing to load
        raise WeightsError("YAMNet has no pretrained weights to load (untrained source); keep its random weights")
    else:  # a WeightsSource (ensemble.weights.official): carries its path and format
        path = Path(source.path)
        weights_format = weights_format or source.format
    if not path.exists():
        raise WeightsError(
            f"YAMNet weights not found: {path}; get them from {MANUAL_SOURCE}, "
            "and point `models_dir` (or SERAUDIT_MODELS_DIR) at the folder holding yamnet/"
        )
    weights_format = weights_format or detect_format(path)
    if weights_format == "tflite":
        return path, weights_format, _from_tflite(path)
    if weights_format == "h5":
        return path, weights_format, _fold_batch_norm(_read_h5(path), path)
    if weights_format == "savedmodel":
        return path, weights_format, _fold_batch_norm(read_savedmodel_variables(path, "yamnet/1"), path)
    raise WeightsError(
        f"{path}: YAMNet weights in format {weights_format!r} are not supported; use one of {WEIGHT_FORMATS}"
    )


def _layers_by_name(model_or_layers: Any) -> dict[str, Any]:
    if hasattr(model_or_layers, "layers"):
        return {layer.name: layer for layer in model_or_layers.layers}
    if isinstance(model_or_layers, dict):
        return dict(model_or_layers)
    return {layer.name: layer for layer in model_or_layers}


def load_yamnet_weights(
    model_or_tower_layers: Any, source: Any, prefix: str = "yamnet", weights_format: str | None = None
) -> LoadedWeights:
    """Fill the YAMNet layers named `<prefix>_...` with official weights, by layer name.

    `model_or_tower_layers` is a Keras model (stand-alone YAMNet or a fused
    ensemble), a list of layers or a {name: layer} dict. `source` is a path (a
    .tflite, an .h5, a SavedModel folder) or a `WeightsSource`; its format is
    taken from `source.format`, `weights_format`, or the path. The classifier is
    filled when the target has `<prefix>_logits`.
    """
    path, fmt, weights = read_yamnet_weights(source, weights_format)
    layers = _layers_by_name(model_or_tower_layers)
    shapes = _kernel_shapes()
    assigned: list[str] = []
    present = [i for i, official in enumerate(CONV_NAMES) if keras_layer_name(official, prefix) in layers]
    top = max(present, default=len(CONV_NAMES) - 1)  # a tower truncated after a mid-level block lacks the rest
    for official, (kernel, bias) in weights.items():
        name = keras_layer_name(official, prefix)
        layer = layers.get(name)
        if layer is None:
            if official == CLASSIFIER_NAME or (official in CONV_NAMES and CONV_NAMES.index(official) > top):
                continue
            raise WeightsError(
                f"the model has no layer {name!r} for {official} from {path}; build it with "
                f"yamnet_tower(x, prefix={prefix!r})"
            )
        if tuple(kernel.shape) != shapes[official] or bias.shape != (_out_channels(official, shapes[official]),):
            raise WeightsError(
                f"{path}: {official} has kernel {tuple(kernel.shape)} / bias {bias.shape}, "
                f"YAMNet needs {shapes[official]}; the file is not the official YAMNet"
            )
        layer.set_weights([np.asarray(kernel, np.float32), np.asarray(bias, np.float32)])
        assigned.append(name)
    return LoadedWeights(
        path=path,
        format=fmt,
        layers=tuple(assigned),
        classifier=keras_layer_name(CLASSIFIER_NAME, prefix) in assigned,
    )


def init_untrained_yamnet(model, seed: int, prefix: str = "yamnet") -> list[str]:
    """Seeded He-uniform kernels and zero biases for every YAMNet layer of `model`: same seed, same weights.

    The random-weight control of probing (``xai.probing.controls``) and a YAMNet run with
    ``allow_untrained=["yamnet"]``. He scaling (fan-in) keeps activations at one scale through
    27 ReLU convolutions, where the published weights carry folded batch norms. Returns the
    names of the filled layers.
    """
    rng = np.random.default_rng([int(seed), 0x59414D4E])  # seed stream private to YAMNet
    filled = []
    for layer in model.layers:
        if not layer.name.startswith(f"{prefix}_") or not layer.weights:
            continue
        depthwise = "depthwise" in type(layer).__name__.lower()
        kernel_var = getattr(layer, "depthwise_kernel", None) if depthwise else None
        kernel_var = kernel_var if kernel_var is not None else getattr(layer, "kernel", None)
        if kernel_var is None:
            continue
        shape = tuple(kernel_var.shape)
        if len(shape) > 2:  # a convolution: receptive field x input channels (one channel per depthwise filter)
            fan_in = int(np.prod(shape[:-2])) * (1 if depthwise else shape[-2])
        else:
            fan_in = shape[0]
        limit = math.sqrt(6.0 / fan_in)
        kernel = rng.random(shape, dtype=np.float32)
        kernel *= np.float32(2 * limit)
        kernel -= np.float32(limit)
        kernel_var.assign(kernel)
        if getattr(layer, "bias", None) is not None:
            layer.bias.assign(np.zeros(tuple(layer.bias.shape), np.float32))
        filled.append(layer.name)
    return filled


def _load_weights(model, source, seed: int, prefix: str) -> None:
    """The registry's weight loader: Google's weights, or seeded random ones (the probing control, "untrained")."""
    if source is None or not source.pretrained:
        init_untrained_yamnet(model, seed, prefix=prefix)
        return
    load_yamnet_weights(model, source, prefix=prefix)


#: YAMNet for the registry (`ensemble.backbones.registry`). Its published files: the TF Hub lite model first (the
#: port reads .tflite weights), then Google's .h5; the AudioSet class map. Google publishes no SHA-256 for either
#: weights file; the int8 lite model of ../shared/models is a known genuine copy.
BACKBONE = Backbone(
    name="yamnet",
    display="YAMNet",
    embedding_size=EMBEDDING_SIZE,
    tower=lambda x, prefix, up_to=None: yamnet_tower(x, prefix=prefix, up_to=up_to),
    weights=_load_weights,
    tap_widths=dict(zip(TAP_NAMES, (filters for *_rest, filters in LAYER_DEFS))),
    fine_tune_layers=4,
    # mid-level blocks hold far more emotion than the embedding (layer14); a fixed set of three is tried too
    candidate_taps=tuple((f"layer{i}",) for i in (5, 6, 7, 8, 9, 10, 14)) + (("layer6", "layer7", "layer8"),),
    weighted_taps=(tuple(f"layer{i}" for i in range(7, 13)),),  # the six 512-wide blocks
    official=OfficialWeights(
        downloads=(
            Asset("yamnet_tflite", "yamnet/yamnet.tflite",
                  "https://tfhub.dev/google/lite-model/yamnet/tflite/1?lite-format=tflite", None, "tflite", "16 MB"),
            Asset("yamnet_h5", "yamnet/yamnet.h5", "https://storage.googleapis.com/audioset/yamnet.h5", None, "h5",
                  "15 MB"),
        ),
        manual_source=MANUAL_SOURCE,
        files=(
            Asset("yamnet_class_map", "yamnet/yamnet_class_map.csv",
                  "https://raw.githubusercontent.com/tensorflow/models/master/research/audioset/yamnet/yamnet_class_map.csv",
                  "cdf24d193e196d9e95912a2667051ae203e92a2ba09449218ccb40ef787c6df2", "csv", "14 kB"),
        ),
        known_local_sha256={
            "yamnet/yamnet.tflite": frozenset({"2d5e1e0577beb1fd3b6ba4cf89a7b8813340added8dae72f64fe8cd18731dd4a"}),
        },
    ),
)
