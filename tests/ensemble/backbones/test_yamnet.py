"""YAMNet as a flat Keras tower: names, Grad-CAM handles, and every official weight format loading into it."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from seraudit.ensemble.backbones.yamnet import (
    BATCHNORM_EPSILON,
    CONV_NAMES,
    LAYER_DEFS,
    build_yamnet,
    keras_layer_name,
    load_yamnet_weights,
    read_yamnet_weights,
    yamnet_tower,
)
from seraudit.ensemble.weights.port_check import TfliteYamnet, cosine_similarity, frame_log_mel
from seraudit.core.constants import PATCH_BANDS, PATCH_FRAMES
from seraudit.core.errors import WeightsError

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")


@pytest.fixture(scope="session")
def yamnet(yamnet_tflite):
    """The stand-alone port, filled from Google's int8 TFLite model."""
    model = build_yamnet()
    load_yamnet_weights(model, yamnet_tflite)
    return model


@pytest.fixture(scope="session")
def run_yamnet(yamnet):
    call = tf.function(lambda x: yamnet(x, training=False), reduce_retracing=True)
    return lambda patches: [np.asarray(out) for out in call(tf.constant(patches, tf.float32))]


# --------------------------------------------------------------------------- the graph


def test_layer_names_carry_the_prefix_and_no_slash(yamnet):
    names = [layer.name for layer in yamnet.layers if layer.name != "log_mel"]
    assert all(name.startswith("yamnet_") for name in names), names
    assert not any("/" in name for name in names)
    assert yamnet.input.shape[1:] == (PATCH_FRAMES, PATCH_BANDS)
    assert [tuple(out.shape) for out in yamnet.outputs] == [(None, 1024), (None, 521)]


def test_tower_exposes_last_conv_and_1024_d_embedding():
    x = keras.Input(shape=(PATCH_FRAMES, PATCH_BANDS), name="log_mel")
    tower = yamnet_tower(x, prefix="yam")
    assert tuple(tower.last_conv.shape) == (None, 3, 2, 1024)
    assert tuple(tower.embedding.shape) == (None, 1024)
    assert tower.last_conv_layer == "yam_layer14_pointwise_conv"
    assert tower.prefix == "yam" and tower.inputs is x
    # 1 reshape + 27 convolutions + pooling, all in graph order, all prefixed.
    assert len(tower.layer_names) == 1 + len(CONV_NAMES) + 1
    assert all(name.startswith("yam_") for name in tower.layer_names)
    model = keras.Model(x, [tower.last_conv, tower.embedding])
    assert model.get_layer(tower.last_conv_layer).output is tower.last_conv
    assert model.get_layer(tower.embedding_layer).output is tower.embedding


# --------------------------------------------------------------------------- TFLite weights


def test_tflite_weights_reproduce_googles_interpreter_on_ravdess(run_yamnet, yamnet_tflite, ravdess_clips):
    """Key check: fed the interpreter's own log-mel patches, the port gives its embeddings and top classes."""
    import soundfile as sf

    assert len(ravdess_clips) >= 20
    reference = TfliteYamnet(yamnet_tflite)
    patches, ref_embeddings, ref_scores = [], [], []
    for clip in ravdess_clips:
        waveform, rate = sf.read(clip, dtype="float32")
        assert rate == 16_000
        scores, embeddings, log_mel = reference(waveform)
        clip_patches = frame_log_mel(log_mel)
        assert len(clip_patches) == len(scores)
        patches.append(clip_patches)
        ref_embeddings.append(embeddings)
        ref_scores.append(scores)
    embeddings, scores = run_yamnet(np.concatenate(patches))
    cosine = cosine_similarity(embeddings, np.concatenate(ref_embeddings))
    agreement = np.mean(scores.argmax(1) == np.concatenate(ref_scores).argmax(1))
    assert cosine.mean() >= 0.999, f"mean cosine {cosine.mean():.5f}"
    assert cosine.min() >= 0.99, f"min cosine {cosine.min():.5f}"
    assert agreement == 1.0, f"top-1 agreement {agreement:.3f}"


def test_the_same_loader_fills_a_tower_inside_a_fused_graph(yamnet, run_yamnet, yamnet_tflite, rng):
    x = keras.Input(shape=(PATCH_FRAMES, PATCH_BANDS), name="log_mel")
    tower = yamnet_tower(x, prefix="yamnet")
    other = keras.layers.Dense(8, name="other_head")(keras.layers.Flatten(name="other_flat")(x))
    fused = keras.Model(x, [tower.embedding, other])
    loaded = load_yamnet_weights([fused.get_layer(name) for name in tower.layer_names], yamnet_tflite)
    assert not loaded.classifier  # a tower has no AudioSet classifier: it is skipped
    patches = rng.normal(-4.0, 2.0, size=(3, PATCH_FRAMES, PATCH_BANDS)).astype(np.float32)
    expected, _ = run_yamnet(patches)
    np.testing.assert_allclose(fused.predict_on_batch(patches)[0], expected, rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------- official h5 / SavedModel


def _official_variables(rng) -> dict[str, np.ndarray]:
    """Random values under the official Keras names and shapes of yamnet.py (batch norm separate)."""
    variables: dict[str, np.ndarray] = {}
    channels = 1
    for index, (kind, kernel, _stride, filters) in enumerate(LAYER_DEFS, start=1):
        convs = (
            [(f"layer{index}/conv", "kernel", (kernel, kernel, channels, filters), kernel * kernel * channels)]
            if kind == "conv"
            else [
                (f"layer{index}/depthwise_conv", "depthwise_kernel", (kernel, kernel, channels, 1), kernel * kernel),
                (f"layer{index}/pointwise_conv", "kernel", (1, 1, channels, filters), channels),
            ]
        )
        for name, var, shape, fan_in in convs:
            width = shape[-2] if var == "depthwise_kernel" else shape[-1]
            variables[f"{name}/{var}:0"] = rng.normal(0, np.sqrt(2.0 / fan_in), shape).astype(np.float32)
            variables[f"{name}/bn/beta:0"] = rng.normal(0, 0.1, width).astype(np.float32)
            variables[f"{name}/bn/moving_mean:0"] = rng.normal(0, 0.2, width).astype(np.float32)
            variables[f"{name}/bn/moving_variance:0"] = rng.uniform(0.5, 2.0, width).astype(np.float32)
        channels = filters
    variables["dense/kernel:0"] = rng.normal(0, 0.05, (1024, 521)).astype(np.float32)
    variables["dense/bias:0"] = rng.normal(0, 0.1, 521).astype(np.float32)
    return variables


def _write_official_h5(path, variables: dict[str, np.ndarray]) -> None:
    """A Keras `save_weights` h5 laid out like Google's yamnet.h5 (layer groups, weight_names attributes)."""
    by_layer: dict[str, list[str]] = {}
    for name in variables:
        by_layer.setdefault(name.rsplit("/", 1)[0], []).append(name)
    layer_names = ["reshape"]
    for index, (kind, *_rest) in enumerate(LAYER_DEFS, start=1):
        if kind == "conv":
            layer_names += [f"layer{index}/conv", f"layer{index}/conv/bn", f"layer{index}/relu"]
        else:
            for part in ("depthwise_conv", "pointwise_conv"):
                layer_names += [f"layer{index}/{part}", f"layer{index}/{part}/bn", f"layer{index}/{part}/relu"]
    layer_names += ["global_average_pooling2d", "dense", "activation"]
    with h5py.File(path, "w") as handle:
        handle.attrs["layer_names"] = [name.encode() for name in layer_names]
        handle.attrs["backend"] = b"tensorflow"
        handle.attrs["keras_version"] = b"2.2.4-tf"
        for layer in layer_names:
            group = handle.require_group(layer)
            weight_names = by_layer.get(layer, [])
            group.attrs["weight_names"] = [name.encode() for name in weight_names]
            for name in weight_names:
                group.create_dataset(name, data=variables[name])


def _official_reference(variables: dict[str, np.ndarray]):
    """YAMNet exactly as yamnet.py builds it (conv without bias, separate batch norm), names with '_'."""
    x = keras.Input(shape=(PATCH_FRAMES, PATCH_BANDS))
    net = keras.layers.Reshape((PATCH_FRAMES, PATCH_BANDS, 1))(x)
    assignments = []
    for index, (kind, kernel, stride, filters) in enumerate(LAYER_DEFS, start=1):
        parts = [("conv", stride)] if kind == "conv" else [("depthwise_conv", stride), ("pointwise_conv", 1)]
        for part, part_stride in parts:
            name = f"layer{index}/{part}"
            if part == "depthwise_conv":
                conv = keras.layers.DepthwiseConv2D(kernel, part_stride, padding="same", use_bias=False)
                weight = variables[f"{name}/depthwise_kernel:0"]
            else:
                size = kernel if part == "conv" else 1
                conv = keras.layers.Conv2D(filters, size, part_stride, padding="same", use_bias=False)
                weight = variables[f"{name}/kernel:0"]
            bn = keras.layers.BatchNormalization(center=True, scale=False, epsilon=BATCHNORM_EPSILON)
            net = keras.layers.ReLU()(bn(conv(net)))
            assignments.append((conv, [weight]))
            assignments.append(
                (bn, [variables[f"{name}/bn/{v}:0"] for v in ("beta", "moving_mean", "moving_variance")])
            )
    embedding = keras.layers.GlobalAveragePooling2D()(net)
    dense = keras.layers.Dense(521)
    scores = keras.layers.Activation("sigmoid")(dense(embedding))
    assignments.append((dense, [variables["dense/kernel:0"], variables["dense/bias:0"]]))
    model = keras.Model(x, [embedding, scores])
    for layer, values in assignments:
        layer.set_weights(values)
    return model


@pytest.fixture(scope="module")
def official_variables():
    return _official_variables(np.random.default_rng(7))


@pytest.fixture(scope="module")
def port_from_h5(tmp_path_factory, official_variables):
    h5_path = tmp_path_factory.mktemp("official") / "yamnet.h5"
    _write_official_h5(h5_path, official_variables)
    port = build_yamnet()
    loaded = load_yamnet_weights(port, h5_path)
    assert loaded.format == "h5" and loaded.classifier and len(loaded.layers) == len(CONV_NAMES) + 1
    return port


def test_official_h5_loads_with_batch_norm_folded(port_from_h5, official_variables, rng):
    patches = rng.normal(-4.0, 2.0, size=(4, PATCH_FRAMES, PATCH_BANDS)).astype(np.float32)
    expected_embedding, expected_scores = _official_reference(official_variables).predict_on_batch(patches)
    embedding, scores = port_from_h5.predict_on_batch(patches)
    np.testing.assert_allclose(embedding, expected_embedding, rtol=1e-3, atol=1e-4 * np.abs(expected_embedding).max())
    np.testing.assert_allclose(scores, expected_scores, atol=1e-4)


def test_savedmodel_with_official_variable_names_loads(tmp_path, official_variables, port_from_h5):
    module = tf.Module()
    module.weights_list = [
        tf.Variable(value, name=name.removesuffix(":0")) for name, value in official_variables.items()
    ]
    saved = tmp_path / "yamnet_savedmodel"
    tf.saved_model.save(module, str(saved))

    from_saved = build_yamnet()
    assert load_yamnet_weights(from_saved, saved).format == "savedmodel"
    for official in (*CONV_NAMES, "dense"):
        name = keras_layer_name(official)
        for a, b in zip(from_saved.get_layer(name).get_weights(), port_from_h5.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------- bad files


def test_missing_weights_file_is_named(tmp_path):
    missing = tmp_path / "nowhere" / "yamnet.tflite"
    with pytest.raises(WeightsError, match="nowhere/yamnet.tflite"):
        read_yamnet_weights(missing)


@pytest.mark.parametrize("name", ["yamnet.tflite", "yamnet.h5"])
def test_corrupt_weights_file_is_named(tmp_path, name):
    corrupt = tmp_path / name
    corrupt.write_bytes(b"<html>404 not found</html>" * 10)
    with pytest.raises(WeightsError, match=f"{name}.*(corrupt|download)"):
        read_yamnet_weights(corrupt)


def test_h5_without_yamnet_layers_names_what_is_missing(tmp_path):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as handle:
        handle.create_dataset("conv1/kernel:0", data=np.zeros((3, 3, 1, 8), np.float32))
    with pytest.raises(WeightsError, match=r"other\.h5 lacks YAMNet weights for layer1/conv"):
        read_yamnet_weights(other)


def test_random_weights_are_seeded_fill_every_layer_and_keep_an_informative_embedding(rng):
    """The random-weight YAMNet that probing's control needs: same seed, same network; another seed, another;
    every layer filled; activations neither vanish nor saturate through the 27 convolutions."""
    from seraudit.ensemble.backbones.registry import BACKBONES
    from seraudit.ensemble.backbones.yamnet import init_untrained_yamnet

    patches = rng.normal(-3.0, 1.5, size=(6, PATCH_FRAMES, PATCH_BANDS)).astype(np.float32)
    embeddings, filled = [], None
    for seed in (7, 7, 8):
        model = build_yamnet(with_classifier=False)
        BACKBONES["yamnet"].load_weights(model, None, seed)  # no pretrained source: seeded random weights
        filled = init_untrained_yamnet(model, seed)
        embeddings.append(np.asarray(model(patches)))
    np.testing.assert_array_equal(embeddings[0], embeddings[1])
    assert not np.allclose(embeddings[0], embeddings[2])
    assert len(filled) == 27  # layer1's conv, then a depthwise and a pointwise conv in each of 13 blocks
    e = embeddings[0]
    assert np.isfinite(e).all() and (e > 0).mean() > 0.1 and e.std(axis=0).mean() > 1e-3 * np.abs(e).mean()
