"""A trained model is one flat graph from log-mel patches to probabilities, pooled per clip over GDS-kept patches."""

import numpy as np
import pytest

from seraudit.ensemble.trained import display_name, pool_by_clip, pool_log_probabilities


def test_clip_pooling_is_the_renormalised_mean_log_probability_of_kept_patches():
    patches = np.array([[0.7, 0.2, 0.1], [0.5, 0.4, 0.1], [0.0, 0.0, 1.0]])
    probs, used_all = pool_log_probabilities(patches, keep=np.array([True, True, False]))
    expected = np.sqrt(patches[0] * patches[1])
    np.testing.assert_allclose(probs, expected / expected.sum())
    assert not used_all


def test_a_clip_with_no_kept_patch_falls_back_to_all_patches():
    patches = np.array([[0.6, 0.4], [0.2, 0.8]])
    probs, used_all = pool_log_probabilities(patches, keep=np.array([False, False]))
    assert used_all and probs.argmax() == 1


def test_vectorised_pooling_matches_per_clip_pooling(rng):
    probs = rng.dirichlet(np.ones(4), size=9)
    clip = np.array([0, 0, 1, 1, 1, 2, 3, 3, 3])
    pooled = pool_by_clip(probs, clip)
    for c in range(4):
        np.testing.assert_allclose(pooled[c], pool_log_probabilities(probs[clip == c])[0])


def test_display_names_mark_untrained_backbones():
    assert display_name("vggish", None, ["vggish"]) == "VGGish (untrained)"
    assert display_name("ensemble", "late", ["vggish"]) == "Ensemble (late fusion; VGGish untrained)"
    assert display_name("yamnet") == "YAMNet"


@pytest.fixture(scope="module")
def fused_graphs():
    from seraudit.ensemble.fusion import build_model

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
