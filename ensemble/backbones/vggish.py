"""VGGish (Hershey et al., 2017) as layers of a flat Keras graph, with loaders for Google's weights.

The layers follow Google's `vggish_slim.py`: four groups of 3x3 ReLU convolutions
(64, 128, 2x256, 2x512) each followed by a 2x2 max-pool, an NHWC flatten, two
4096-wide ReLU layers and a 128-wide embedding without activation. Patches keep
VGGish's orientation (rows = 96 frames, columns = 64 mel bands), so the official
kernels apply unchanged. The project's input carries YAMNet's log offset (0.001);
the tower's first layer turns it into VGGish's (0.01) exactly.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from seraudit.core.constants import LOG_OFFSET, PATCH_BANDS, PATCH_FRAMES
from seraudit.core.errors import WeightsError
from seraudit.ensemble.backbones.backbone import Asset, Backbone, OfficialWeights
from seraudit.ensemble.backbones.tower import Tower
from seraudit.ensemble.weights.savedmodel_reader import read_savedmodel_variables

EMBEDDING_SIZE = 128

# Name scope of every variable in Google's checkpoint and SavedModel.
CHECKPOINT_SCOPE = "vggish"

# (layer suffix, scope in the official checkpoint, output channels); a 2x2 max-pool follows the
# convolutions listed in POOL_AFTER.
CONV_LAYERS = (
    ("conv1", "conv1", 64),
    ("conv2", "conv2", 128),
    ("conv3_1", "conv3/conv3_1", 256),
    ("conv3_2", "conv3/conv3_2", 256),
    ("conv4_1", "conv4/conv4_1", 512),
    ("conv4_2", "conv4/conv4_2", 512),
)
POOL_AFTER = {"conv1": "pool1", "conv2": "pool2", "conv3_2": "pool3", "conv4_2": "pool4"}
# (layer suffix, scope, units, activation): fc2 is the embedding, a pre-activation value.
DENSE_LAYERS = (
    ("fc1_1", "fc1/fc1_1", 4096, "relu"),
    ("fc1_2", "fc1/fc1_2", 4096, "relu"),
    ("fc2", "fc2", EMBEDDING_SIZE, None),
)
TAPPED_DENSE = {"fc1_2": "fc1", "fc2": "fc2"}  # dense layers a head may read, by tap name
TAP_NAMES = ("conv1", "conv2", "conv3", "conv4", "fc1", "fc2")
EMBEDDING = "fc2"

# Google's post-processing (vggish_params.py): PCA, then 8-bit quantisation of [-2, 2].
QUANTIZE_MIN_VAL = -2.0
QUANTIZE_MAX_VAL = 2.0


def layer_name(suffix: str, prefix: str = "vggish") -> str:
    """Keras name of a VGGish layer, e.g. 'vggish_conv4_2' (no '/', which Keras 3 rejects)."""
    return f"{prefix}_{suffix}"


def weighted_layers() -> list[tuple[str, str]]:
    """(layer suffix, checkpoint scope) of every layer with weights, in graph order."""
    return [(suffix, scope) for suffix, scope, *_ in (*CONV_LAYERS, *DENSE_LAYERS)]


def vggish_tower(x, prefix: str = "vggish", up_to: str | None = None) -> Tower:
    """Add VGGish's layers to the Keras tensor `x` (`[B, 96, 64]` log-mel patches, offset 0.001).

    `up_to` (a tap name: ``"conv1"`` ... ``"conv4"``, ``"fc1"``, ``"fc2"``) stops the tower
    at that layer; a truncated tower has no embedding (``None``).

    Returns the tower's last convolution (`<prefix>_conv4_2` after ReLU,
    `[B, 12, 8, 512]`, or the deepest one a truncated tower has) for Grad-CAM and
    its 128-d embedding (`<prefix>_fc2`).
    """
    import keras

    from seraudit.ensemble.backbones.log_offset import LogOffsetShift

    names: list[str] = []

    def add(layer, tensor):
        names.append(layer.name)
        return layer(tensor)

    net = add(LogOffsetShift(LOG_OFFSET["yamnet"], LOG_OFFSET["vggish"], name=layer_name("log_offset", prefix)), x)
    net = add(keras.layers.Reshape((PATCH_FRAMES, PATCH_BANDS, 1), name=layer_name("reshape", prefix)), net)
    if up_to is not None and up_to not in TAP_NAMES:
        raise ValueError(f"VGGish has no layer {up_to!r}; its taps are {', '.join(TAP_NAMES)}")
    last_conv = None
    taps: dict[str, str] = {}
    tap_outputs: dict[str, Any] = {}
    for suffix, _, filters in CONV_LAYERS:
        if taps and next(reversed(taps)) == up_to:
            break
        conv = keras.layers.Conv2D(
            filters, 3, strides=1, padding="same", activation="relu", name=layer_name(suffix, prefix)
        )
        net = add(conv, net)
        last_conv, last_conv_suffix = net, suffix  # the deepest convolution so far: Grad-CAM's target
        if suffix in POOL_AFTER:  # a conv group ends: its last convolution is the group's tap
            taps[suffix.split("_")[0]], tap_outputs[suffix.split("_")[0]] = layer_name(suffix, prefix), net
            pool = keras.layers.MaxPooling2D(2, strides=2, padding="same", name=layer_name(POOL_AFTER[suffix], prefix))
            net = add(pool, net)
    if up_to is None or up_to.startswith("fc"):
        net = add(keras.layers.Flatten(name=layer_name("flatten", prefix)), net)  # NHWC order, as slim.flatten
        for suffix, _, units, activation in DENSE_LAYERS:
            net = add(keras.layers.Dense(units, activation=activation, name=layer_name(suffix, prefix)), net)
            if suffix in TAPPED_DENSE:
                taps[TAPPED_DENSE[suffix]], tap_outputs[TAPPED_DENSE[suffix]] = layer_name(suffix, prefix), net
                if TAPPED_DENSE[suffix] == up_to:
                    break
    whole = up_to in (None, "fc2")
    return Tower(
        inputs=x,
        last_conv=last_conv,
        embedding=net if whole else None,
        last_conv_layer=layer_name(last_conv_suffix, prefix),
        embedding_layer=layer_name(EMBEDDING, prefix) if whole else None,
        prefix=prefix,
        layer_names=names,
        taps=taps,
        tap_outputs=tap_outputs,
    )


def build_vggish(prefix: str = "vggish"):
    """Stand-alone VGGish: input "log_mel" `[None, 96, 64]` (offset 0.001) -> 128-d embedding (a `keras.Model`).

    Weights are Keras's random defaults until `load_vggish_weights` or
    `init_untrained_vggish` fills them.
    """
    import keras

    inputs = keras.Input(shape=(PATCH_FRAMES, PATCH_BANDS), name="log_mel")
    tower = vggish_tower(inputs, prefix=prefix)
    return keras.Model(inputs, tower.embedding, name=prefix)


# --------------------------------------------------------------------------- weights


def _official_names() -> list[str]:
    return [f"{CHECKPOINT_SCOPE}/{scope}/{part}" for _, scope in weighted_layers() for part in ("weights", "biases")]


def _read_checkpoint(path: Path) -> dict[str, np.ndarray]:
    """Official variables of a TF1 checkpoint (single file or .index/.data pair), by name."""
    import tensorflow as tf

    try:
        reader = tf.train.load_checkpoint(str(path))
    except Exception as error:  # NotFoundError, DataLossError, ...: all mean "not a readable checkpoint"
        raise WeightsError(
            f"{path} is not a readable TensorFlow checkpoint ({type(error).__name__}); download "
            "https://storage.googleapis.com/audioset/vggish_model.ckpt again"
        ) from error
    available = reader.get_variable_to_shape_map()
    missing = [name for name in _official_names() if name not in available]
    if missing:
        raise WeightsError(
            f"{path} lacks VGGish variables {', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}; "
            "it is not the official vggish_model.ckpt"
        )
    return {name: reader.get_tensor(name) for name in _official_names()}


def _read_savedmodel(path: Path) -> dict[str, np.ndarray]:
    """Official variables of the TF Hub / Kaggle VGGish SavedModel, by name."""
    variables = read_savedmodel_variables(path, "google/vggish/1")
    missing = [name for name in _official_names() if name not in variables]
    if missing:
        raise WeightsError(
            f"the SavedModel {path} lacks VGGish variables {', '.join(missing[:4])}"
            f"{' ...' if len(missing) > 4 else ''}; it is not TF Hub's google/vggish/1"
        )
    return {name: variables[name] for name in _official_names()}


def _source_path_and_format(source: Any) -> tuple[Path, str]:
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            return path, "savedmodel"
        index = path.with_name(path.name + ".index")
        if not path.is_file() and not index.is_file():
            raise WeightsError(
                f"VGGish checkpoint not found: {path}. Download "
                "https://storage.googleapis.com/audioset/vggish_model.ckpt into FOLDER/vggish/vggish_model.ckpt "
                "and pass `models_dir=FOLDER` (or set SERAUDIT_MODELS_DIR), or pass `allow_untrained=['vggish']` "
                'for seeded random weights marked "untrained"'
            )
        return path, "ckpt"
    if not source.pretrained or source.path is None:
        raise WeightsError(
            f"{source.describe()}: there are no weights to load; use init_untrained_vggish for seeded random weights"
        )
    return Path(source.path), source.format


def load_vggish_weights(model, source: Any, prefix: str = "vggish") -> list[str]:
    """Fill the layers `<prefix>_conv1` ... `<prefix>_fc2` of `model` with Google's VGGish weights.

    `source` is a `WeightsSource` (ensemble.weights.official) or a path: the TF1 checkpoint
    `vggish_model.ckpt` (one file, or the prefix of an .index/.data pair) or the TF
    Hub SavedModel folder. Layers are found by name, so a stand-alone VGGish and
    a fused ensemble load the same way. Returns the names of the filled layers.
    """
    path, fmt = _source_path_and_format(source)
    if fmt == "ckpt":
        variables = _read_checkpoint(path)
    elif fmt == "savedmodel":
        variables = _read_savedmodel(path)
    else:
        raise WeightsError(f"{path}: VGGish weights in format {fmt!r} are not supported; use ckpt or savedmodel")
    assigned = []
    for suffix, scope in _built_layers(model, prefix):
        layer = _layer(model, suffix, prefix)
        kernel = variables[f"{CHECKPOINT_SCOPE}/{scope}/weights"]
        bias = variables[f"{CHECKPOINT_SCOPE}/{scope}/biases"]
        expected = tuple(layer.kernel.shape)
        if tuple(kernel.shape) != expected or tuple(bias.shape) != (expected[-1],):
            raise WeightsError(
                f"{path}: {CHECKPOINT_SCOPE}/{scope} has weights {tuple(kernel.shape)} / biases {tuple(bias.shape)}, "
                f"VGGish needs {expected} / ({expected[-1]},); the file is not the official VGGish"
            )
        layer.kernel.assign(np.asarray(kernel, np.float32))
        layer.bias.assign(np.asarray(bias, np.float32))
        assigned.append(layer.name)
    return assigned


def _built_layers(model, prefix: str) -> list[tuple[str, str]]:
    """The weighted layers `model` holds, in graph order: all of them, or the bottom ones of a truncated tower.

    A missing layer below a present one is a broken model and is left for `_layer` to report.
    """
    names = {layer.name for layer in getattr(model, "layers", [])}
    ordered = weighted_layers()
    if not names:
        return ordered
    present = [i for i, (suffix, _) in enumerate(ordered) if layer_name(suffix, prefix) in names]
    return ordered[: max(present) + 1] if present else ordered


def init_untrained_vggish(model, seed: int, prefix: str = "vggish") -> list[str]:
    """Seeded Glorot-uniform kernels and zero biases for the VGGish layers: same seed, same weights.

    Used when no pretrained VGGish exists (`--allow-untrained vggish`); every
    output of such a model is marked "untrained".
    """
    rng = np.random.default_rng([int(seed), 0x56474753])  # seed stream private to VGGish
    filled = []
    for suffix, _ in _built_layers(model, prefix):
        layer = _layer(model, suffix, prefix)
        shape = tuple(layer.kernel.shape)
        receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
        fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        kernel = rng.random(shape, dtype=np.float32)
        kernel *= np.float32(2 * limit)
        kernel -= np.float32(limit)
        layer.kernel.assign(kernel)
        layer.bias.assign(np.zeros(shape[-1], np.float32))
        filled.append(layer.name)
    return filled


def _layer(model, suffix: str, prefix: str):
    name = layer_name(suffix, prefix)
    try:
        return model.get_layer(name)
    except ValueError as error:
        raise ValueError(f"model {model.name!r} has no layer {name!r}; build it with vggish_tower(x, prefix={prefix!r})") from error


# --------------------------------------------------------------------------- post-processing


def vggish_postprocess(embeddings, pca_means, pca_eigen_vectors) -> np.ndarray:
    """Google's optional post-processing of raw VGGish embeddings: PCA (with whitening), then 8 bits.

    The released AudioSet embeddings were made this way. Returns uint8 `[N, 128]`:
    PCA-projected values clipped to [-2, 2] and mapped onto 0..255.

    Parameters
    ----------
    embeddings : array [N, 128] (or [128]) of raw `<prefix>_fc2` outputs.
    pca_means : array [128]; pca_eigen_vectors : array [128, 128] (rows are components),
        e.g. from `ensemble.weights.official.vggish_pca_params()`.
    """
    embeddings = np.atleast_2d(np.asarray(embeddings, dtype=np.float64))
    size = EMBEDDING_SIZE
    if embeddings.shape[1:] != (size,):
        raise ValueError(f"expected VGGish embeddings of shape [N, {size}], got {embeddings.shape}")
    projected = (embeddings - np.asarray(pca_means).reshape(1, -1)) @ np.asarray(pca_eigen_vectors).T
    clipped = np.clip(projected, QUANTIZE_MIN_VAL, QUANTIZE_MAX_VAL)
    scaled = (clipped - QUANTIZE_MIN_VAL) * (255.0 / (QUANTIZE_MAX_VAL - QUANTIZE_MIN_VAL))
    return scaled.astype(np.uint8)


def _load_weights(model, source, seed: int, prefix: str) -> None:
    """The registry's weight loader: Google's weights when found, else seeded random weights (marked "untrained")."""
    if source is not None and source.pretrained:
        load_vggish_weights(model, source, prefix=prefix)
    else:
        init_untrained_vggish(model, seed, prefix=prefix)


#: VGGish for the registry (`ensemble.backbones.registry`). Google publishes the TF1 checkpoint (no SHA-256) and
#: the PCA parameters of its post-processing (hash known).
BACKBONE = Backbone(
    name="vggish",
    display="VGGish",
    embedding_size=EMBEDDING_SIZE,
    tower=lambda x, prefix, up_to=None: vggish_tower(x, prefix=prefix, up_to=up_to),
    weights=_load_weights,
    tap_widths={"conv1": 64, "conv2": 128, "conv3": 256, "conv4": 512, "fc1": 4096, "fc2": EMBEDDING_SIZE},
    fine_tune_layers=3,
    candidate_taps=(("conv3",), ("conv4",), ("fc2",)),  # fc1 (4096-d) costs ten times more to fit for no gain measured
    official=OfficialWeights(
        downloads=(
            Asset("vggish_ckpt", "vggish/vggish_model.ckpt", "https://storage.googleapis.com/audioset/vggish_model.ckpt",
                  None, "ckpt", "288 MB"),
        ),
        manual_source=(
            "https://storage.googleapis.com/audioset/vggish_model.ckpt (288 MB) -> vggish/vggish_model.ckpt, "
            "or the SavedModel of TF Hub google/vggish/1 (https://tfhub.dev/google/vggish/1, now on Kaggle Models) "
            "extracted into vggish/"
        ),
        files=(
            Asset("vggish_pca", "vggish/vggish_pca_params.npz",
                  "https://storage.googleapis.com/audioset/vggish_pca_params.npz",
                  "4d878af3e306defbfb37095365aa7e5a6cecb86bad13e859e626151c4e6a8b9d", "npz", "73 kB"),
        ),
    ),
)
