"""VGGish as a Keras tower: Google's checkpoint layouts load unchanged and reproduce the official graph."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from seraudit.ensemble.backbones.log_offset import LogOffsetShift  # noqa: E402
from seraudit.ensemble.backbones.vggish import (  # noqa: E402
    build_vggish,
    init_untrained_vggish,
    load_vggish_weights,
    vggish_postprocess,
    vggish_tower,
)
from seraudit.ensemble.weights.official import resolve_weights, vggish_pca_params  # noqa: E402
from seraudit.core.errors import WeightsError  # noqa: E402

# Variable names and shapes of Google's vggish_model.ckpt (vggish_slim.py scopes).
OFFICIAL_SHAPES = {
    "vggish/conv1": (3, 3, 1, 64),
    "vggish/conv2": (3, 3, 64, 128),
    "vggish/conv3/conv3_1": (3, 3, 128, 256),
    "vggish/conv3/conv3_2": (3, 3, 256, 256),
    "vggish/conv4/conv4_1": (3, 3, 256, 512),
    "vggish/conv4/conv4_2": (3, 3, 512, 512),
    "vggish/fc1/fc1_1": (6 * 4 * 512, 4096),
    "vggish/fc1/fc1_2": (4096, 4096),
    "vggish/fc2": (4096, 128),
}


@pytest.fixture(scope="session")
def official_weights() -> dict[str, np.ndarray]:
    """Random values under the official names; He-scaled so activations neither vanish nor explode."""
    rng = np.random.default_rng(2017)
    weights = {}
    for scope, shape in OFFICIAL_SHAPES.items():
        fan_in = int(np.prod(shape[:-1]))
        weights[f"{scope}/weights"] = rng.standard_normal(shape, dtype=np.float32) * np.float32(np.sqrt(2.0 / fan_in))
        weights[f"{scope}/biases"] = rng.standard_normal(shape[-1], dtype=np.float32) * np.float32(0.05)
    return weights


def write_tf1_checkpoint(prefix, weights: dict[str, np.ndarray]) -> None:
    """Write a TF1 Saver checkpoint (single-file V1 format, like vggish_model.ckpt) keyed by plain names."""
    graph = tf.Graph()
    with graph.as_default():
        assigns, feeds = [], {}
        for name, value in weights.items():
            variable = tf.compat.v1.get_variable(name, shape=value.shape, dtype=tf.float32)
            placeholder = tf.compat.v1.placeholder(tf.float32, value.shape)
            assigns.append(variable.assign(placeholder))
            feeds[placeholder] = value
        saver = tf.compat.v1.train.Saver(write_version=tf.compat.v1.train.SaverDef.V1)
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(assigns, feed_dict=feeds)
            saver.save(session, str(prefix), write_meta_graph=False, write_state=False)


@pytest.fixture(scope="session")
def tf1_checkpoint(tmp_path_factory, official_weights):
    path = tmp_path_factory.mktemp("models") / "vggish" / "vggish_model.ckpt"
    path.parent.mkdir()
    write_tf1_checkpoint(path, official_weights)
    return path


@pytest.fixture(scope="session")
def vggish_model():
    return build_vggish()


def official_vggish(features: np.ndarray, w: dict[str, np.ndarray]) -> np.ndarray:
    """Google's vggish_slim graph in plain TF ops: 3x3 SAME conv + ReLU, 2x2 SAME max-pool, NHWC flatten."""

    def conv(net, scope):
        return tf.nn.relu(tf.nn.conv2d(net, w[f"{scope}/weights"], strides=1, padding="SAME") + w[f"{scope}/biases"])

    def pool(net):
        return tf.nn.max_pool2d(net, ksize=2, strides=2, padding="SAME")

    net = tf.reshape(tf.constant(features), [-1, 96, 64, 1])
    net = pool(conv(net, "vggish/conv1"))
    net = pool(conv(net, "vggish/conv2"))
    net = pool(conv(conv(net, "vggish/conv3/conv3_1"), "vggish/conv3/conv3_2"))
    net = pool(conv(conv(net, "vggish/conv4/conv4_1"), "vggish/conv4/conv4_2"))
    net = tf.reshape(net, [features.shape[0], -1])
    for scope in ("vggish/fc1/fc1_1", "vggish/fc1/fc1_2"):
        net = tf.nn.relu(tf.matmul(net, w[f"{scope}/weights"]) + w[f"{scope}/biases"])
    return (tf.matmul(net, w["vggish/fc2/weights"]) + w["vggish/fc2/biases"]).numpy()


def random_mel(rng, n: int) -> np.ndarray:
    """Mel energies spanning silence to loud speech (1e-5 .. 1e3)."""
    return np.exp(rng.uniform(np.log(1e-5), np.log(1e3), size=(n, 96, 64))).astype(np.float32)


def assert_close(actual, expected, rel=1e-4):
    scale = float(np.max(np.abs(expected)))
    assert scale > 0
    np.testing.assert_allclose(actual, expected, rtol=rel, atol=rel * scale)


def test_the_test_checkpoint_has_googles_variable_names(tf1_checkpoint):
    shapes = tf.train.load_checkpoint(str(tf1_checkpoint)).get_variable_to_shape_map()

    assert tf1_checkpoint.is_file()  # one file, like the published vggish_model.ckpt
    for scope, shape in OFFICIAL_SHAPES.items():
        assert shapes[f"{scope}/weights"] == list(shape)
        assert shapes[f"{scope}/biases"] == [shape[-1]]


def test_checkpoint_weights_reproduce_the_official_graph(vggish_model, tf1_checkpoint, official_weights, rng):
    source = resolve_weights("vggish", models_dir=tf1_checkpoint.parents[1], download=False)
    mel = random_mel(rng, 3)

    filled = load_vggish_weights(vggish_model, source)
    ours = vggish_model.predict_on_batch(np.log(mel + 0.001))  # the project's input: YAMNet offset
    reference = official_vggish(np.log(mel + 0.01), official_weights)  # VGGish's own offset

    assert (source.format, source.origin) == ("ckpt", "models_dir")
    assert len(filled) == 9 and filled[-1] == "vggish_fc2"
    assert ours.shape == (3, 128)
    assert_close(ours, reference)


@pytest.fixture(scope="module")
def fused():
    """VGGish as one tower of a larger flat graph: prefixed layers, a head on its embedding."""
    inputs = keras.Input((96, 64), name="log_mel")
    tower = vggish_tower(inputs, prefix="ens_vggish")
    head = keras.layers.Dense(4, name="head")(keras.layers.ReLU(name="relu")(tower.embedding))
    return tower, keras.Model(inputs, [tower.embedding, head])


def test_the_tower_exposes_its_last_convolution_and_embedding(fused):
    tower, model = fused

    assert tower.last_conv_layer == "ens_vggish_conv4_2" and tower.embedding_layer == "ens_vggish_fc2"
    assert tuple(tower.last_conv.shape) == (None, 12, 8, 512)
    assert tuple(tower.embedding.shape) == (None, 128)
    assert model.get_layer(tower.last_conv_layer).output is tower.last_conv
    assert tower.layer_names[0] == "ens_vggish_log_offset" and tower.layer_names[-1] == "ens_vggish_fc2"
    assert all(name.startswith("ens_vggish_") and "/" not in name for name in tower.layer_names)


def test_the_tf_hub_savedmodel_loads_into_a_prefixed_tower(fused, tmp_path, official_weights, rng):
    module = tf.Module()
    module._variables = [tf.Variable(value, name=name) for name, value in official_weights.items()]
    tf.saved_model.save(module, str(tmp_path / "vggish"))
    del module
    _, model = fused
    mel = random_mel(rng, 2)

    filled = load_vggish_weights(model, tmp_path / "vggish", prefix="ens_vggish")
    embedding, _ = model.predict_on_batch(np.log(mel + 0.001))

    assert filled[0] == "ens_vggish_conv1"
    assert_close(embedding, official_vggish(np.log(mel + 0.01), official_weights))


def test_the_log_offset_conversion_is_exact(rng):
    mel = random_mel(rng, 4).astype(np.float64)
    shift = LogOffsetShift(0.001, 0.01)

    converted = keras.ops.convert_to_numpy(shift(np.log(mel + 0.001).astype(np.float32)))

    np.testing.assert_allclose(converted, np.log(mel + 0.01), rtol=0, atol=2e-6)


def test_pca_postprocessing_matches_googles_formula(models_dir, rng):
    means, eigen = vggish_pca_params(models_dir, download=False)
    embeddings = rng.normal(0.0, 0.5, size=(16, 128)) + means

    quantised = vggish_postprocess(embeddings, means, eigen)

    pca = np.dot(eigen, (embeddings.T - means.reshape(-1, 1))).T
    expected = ((np.clip(pca, -2.0, 2.0) + 2.0) * (255.0 / 4.0)).astype(np.uint8)
    assert quantised.dtype == np.uint8 and quantised.shape == (16, 128)
    np.testing.assert_array_equal(quantised, expected)
    extremes = vggish_postprocess(np.stack([means + 1e3 * eigen[0], means - 1e3 * eigen[0]]), means, eigen)
    assert (extremes[0, 0], extremes[1, 0]) == (255, 0)  # clipped to [-2, 2], not wrapped


def test_a_missing_checkpoint_says_where_to_get_it(vggish_model, tmp_path):
    missing = tmp_path / "vggish" / "vggish_model.ckpt"

    with pytest.raises(WeightsError) as caught:
        load_vggish_weights(vggish_model, missing)

    message = str(caught.value)
    for needed in (str(missing), "storage.googleapis.com/audioset/vggish_model.ckpt", "`models_dir=FOLDER`", "`allow_untrained=['vggish']`"):
        assert needed in message


def test_a_checkpoint_without_vggish_variables_is_refused(vggish_model, tmp_path):
    stray = tmp_path / "other.ckpt"
    write_tf1_checkpoint(stray, {"resnet/conv1/weights": np.zeros((3, 3, 1, 8), np.float32)})

    with pytest.raises(WeightsError, match=r"lacks VGGish variables vggish/conv1/weights"):
        load_vggish_weights(vggish_model, stray)


def test_an_untrained_source_is_not_loaded_as_pretrained(vggish_model, models_dir):
    untrained = resolve_weights("vggish", models_dir=models_dir, allow_untrained=True, download=False)

    with pytest.raises(WeightsError, match="init_untrained_vggish"):
        load_vggish_weights(vggish_model, untrained)


def test_untrained_weights_are_the_same_for_the_same_seed(vggish_model, fused, rng):
    x = np.log(random_mel(rng, 2) + 0.001)
    _, fused_model = fused

    init_untrained_vggish(vggish_model, seed=7)
    alone = vggish_model.predict_on_batch(x)
    fc1 = vggish_model.get_layer("vggish_fc1_1").kernel.numpy()
    init_untrained_vggish(fused_model, seed=7, prefix="ens_vggish")
    in_ensemble, _ = fused_model.predict_on_batch(x)
    init_untrained_vggish(vggish_model, seed=8)
    other_seed = vggish_model.predict_on_batch(x)

    np.testing.assert_array_equal(in_ensemble, alone)  # same seed, same weights, whatever the graph
    assert not np.allclose(other_seed, alone)
    limit = np.float32(np.sqrt(6.0 / (12288 + 4096)))  # Glorot-uniform bound of fc1_1
    assert 0.99 * limit < np.abs(fc1).max() <= limit * (1 + 1e-6)
