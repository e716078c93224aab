"""A trained model is one flat graph from log-mel patches to probabilities, pooled per clip over GDS-kept patches."""

import numpy as np
import pytest

from seraudit.ensemble.model.trained import TrainedModel, load_trained_model


def tiny_model(branch_untrained=None, name="vggish", fusion=None):
    """A flat graph ``log_mel -> probabilities`` whose class scores follow the mean level of the patch."""
    import keras

    inputs = keras.Input((96, 64), name="log_mel")
    level = keras.layers.GlobalAveragePooling1D()(inputs)
    logits = keras.layers.Dense(3, name="logits")(level)
    model = keras.Model(inputs, keras.layers.Activation("softmax", name="probabilities")(logits))
    model.get_layer("logits").set_weights([np.tile(np.array([[-1.0, 0.0, 1.0]]) / 64, (64, 1)), np.zeros(3)])
    return TrainedModel(name, model, ["a", "b", "c"], {}, {}, branch_untrained or {}, fusion)


def test_display_names_mark_untrained_backbones():
    assert tiny_model({"vggish": True}).display_name == "VGGish (untrained)"
    ensemble = tiny_model({"yamnet": False, "vggish": True}, "ensemble", "late")
    assert ensemble.display_name == "Ensemble (late fusion; VGGish untrained)" and ensemble.is_untrained
    assert tiny_model({"yamnet": False}, "yamnet").display_name == "YAMNet"


def test_a_clip_prediction_pools_only_the_patches_gds_kept(rng):
    from types import SimpleNamespace

    model = tiny_model()
    patches = np.stack([np.full((96, 64), v, np.float32) for v in (-3.0, 2.0, 2.5)])
    quiet_dropped = SimpleNamespace(patches=SimpleNamespace(data=patches), selection=SimpleNamespace(keep=np.array([False, True, True])))
    pred = model.predict_clip(quiet_dropped)
    assert pred.label == "c" and pred.kept.tolist() == [False, True, True] and not pred.used_all_patches
    assert pred.as_dict()["patches_used"] == 2 and pred.as_dict()["patches_total"] == 3
    everything = model.predict_clip(SimpleNamespace(patches=SimpleNamespace(data=patches), selection=None))
    assert everything.used_all_patches and everything.kept.all()
    assert everything.probabilities[2] < pred.probabilities[2]  # the quiet patch pulls towards "a"


def test_a_saved_model_reloads_from_its_config_and_predicts_the_same(tmp_path, rng):
    import json

    from seraudit.ensemble.model.graph import build_model

    config = {"name": "yamnet", "fusion": None, "head": {"hidden": 0}, "branch_untrained": {"yamnet": False}, "labels": ["a", "b"]}
    built = build_model(config, n_classes=2)
    folder = tmp_path / "models" / "yamnet"
    folder.mkdir(parents=True)
    built.keras_model.save_weights(folder / "model.weights.h5")
    for name, data in (("config.json", config), ("labels.json", ["a", "b"]), ("provenance.json", {"seeds": {"global": 0}})):
        (folder / name).write_text(json.dumps(data))
    model = load_trained_model(tmp_path, "yamnet")
    patches = rng.normal(-4.0, 1.0, (3, 96, 64)).astype(np.float32)
    expected = np.asarray(built.keras_model(patches))
    np.testing.assert_allclose(model.predict_patches(patches), expected, rtol=1e-5, atol=1e-6)
    assert model.conv_layers == built.conv_layers and model.fusion is None and model.display_name == "YAMNet"


@pytest.fixture(scope="module")
def fused_graphs():
    from seraudit.ensemble.model.graph import build_model

    return {f: build_model({"name": "ensemble", "fusion": f}, n_classes=5) for f in ("late", "feature")}


@pytest.mark.parametrize("fusion", ["late", "feature"])
def test_ensemble_is_one_flat_graph_with_both_conv_layers_reachable(fused_graphs, fusion):
    import keras

    built = fused_graphs[fusion]
    model = built.keras_model
    assert not [layer.name for layer in model.layers if isinstance(layer, keras.Model)]
    assert model.input_shape == (None, 96, 64) and model.inputs[0].name.startswith("log_mel")
    assert model.get_layer("logits").output.shape[-1] == 5
    cams = keras.Model(model.inputs, [model.get_layer(n).output for n in built.conv_layers.values()] + [model.output])
    outs = cams(np.zeros((2, 96, 64), np.float32) - 5.0)
    assert len(outs) == 3 and outs[-1].shape == (2, 5)
    np.testing.assert_allclose(np.asarray(outs[-1]).sum(axis=1), 1.0, rtol=1e-5)
    assert set(built.conv_layers) == {"yamnet", "vggish"}
