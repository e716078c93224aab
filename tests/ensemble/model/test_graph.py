"""The graph a spec builds, and late fusion's numpy twin, which must score exactly like the graph."""

import numpy as np
import pytest

from seraudit.ensemble.model.graph import (
    build_model,
    combine_late,
    FUSION_SHRINKAGE,
    fit_late_fusion_weights,
    log_softmax,
    set_late_fusion_weights,
    weight_grid,
)
from seraudit.ensemble.model.spec import BACKBONES


@pytest.fixture(scope="module")
def late_graph():
    return build_model({"name": "ensemble", "fusion": "late", "head": {"hidden": 16}}, n_classes=4)


def test_the_graph_has_every_layer_the_spec_names(late_graph):
    """Layer names are how trained heads move into the graph and how explainers find their targets."""
    model, spec = late_graph.keras_model, late_graph.spec
    for head in spec.heads:
        for suffix in ("standardize", "dense"):
            assert model.get_layer(f"{head.prefix}_{suffix}")
        assert model.get_layer(spec.graph_logits(head)).output.shape[-1] == 4
    for b, layer in late_graph.embedding_layers.items():
        assert model.get_layer(layer).output.shape[-1] == BACKBONES[b].embedding_size
    assert model.input.name.startswith(spec.input_name) and model.layers[-1].name == spec.output_name


def test_numpy_late_fusion_equals_the_graphs(late_graph, rng):
    import keras

    model, spec = late_graph.keras_model, late_graph.spec
    weights = np.array([0.3, 0.7])
    set_late_fusion_weights(model, weights)
    heads = keras.Model(model.inputs, [model.get_layer(spec.graph_logits(h)).output for h in spec.heads] + [model.output])
    *branch_logits, probs = heads(rng.normal(-4.0, 1.0, (3, 96, 64)).astype(np.float32))
    branch_logp = [log_softmax(np.asarray(z, np.float64)) for z in branch_logits]
    np.testing.assert_allclose(np.exp(combine_late(branch_logp, weights)), np.asarray(probs), rtol=1e-4, atol=1e-6)


def test_combined_log_probabilities_are_normalised_and_follow_the_weights(rng):
    branch_logp = [log_softmax(rng.normal(size=(5, 3))) for _ in range(2)]
    combined = combine_late(branch_logp, [0.25, 0.75])
    np.testing.assert_allclose(np.exp(combined).sum(axis=1), 1.0)
    np.testing.assert_allclose(combine_late(branch_logp, [1.0, 0.0]), branch_logp[0], atol=1e-12)


def test_the_weight_grid_covers_the_simplex():
    grid = weight_grid(2)
    assert len(grid) == 21 and grid[0].tolist() == [0.0, 1.0] and grid[-1].tolist() == [1.0, 0.0]
    three = weight_grid(3, step=0.25)
    assert len(three) == 15 and all(abs(w.sum() - 1.0) < 1e-9 and (w >= -1e-12).all() for w in three)


def test_fitted_weights_favour_the_branch_that_knows_the_emotion_but_are_shrunk_toward_equal(rng):
    clips = np.repeat(np.arange(12), 3)
    y = np.repeat(rng.integers(0, 3, 12), 3)
    informed = log_softmax(3.0 * np.eye(3)[y] + rng.normal(0, 0.5, (36, 3)))
    noise = log_softmax(rng.normal(0, 2.0, (36, 3)))
    weights, fit = fit_late_fusion_weights([noise, informed], y, clips)
    assert weights.sum() == pytest.approx(1.0) and weights[1] > weights[0]
    assert len(fit["grid"]) == 21 and "log-loss" in fit["criterion"] and fit["n_clips"] == 12
    # the best grid point gives the noise nothing; halfway to equal weights it keeps a quarter, never more than half
    assert fit["fitted"] == [0.0, 1.0] and fit["shrinkage"] == FUSION_SHRINKAGE == 0.5
    assert weights.tolist() == pytest.approx([0.25, 0.75])


def test_a_lucky_branch_cannot_take_all_the_weight(rng):
    """Two branches that know nothing: whatever the grid picks, both weights stay within [0.25, 0.75]."""
    clips = np.repeat(np.arange(10), 2)
    y = np.repeat(rng.integers(0, 3, 10), 2)
    for seed in range(5):
        noise = np.random.default_rng(seed)
        weights, _ = fit_late_fusion_weights([log_softmax(noise.normal(0, 3.0, (20, 3))) for _ in range(2)], y, clips)
        assert 0.25 - 1e-9 <= weights.min() and weights.max() <= 0.75 + 1e-9


def test_a_config_temperature_scales_the_graphs_probabilities_and_keeps_its_logits_and_argmax():
    from seraudit.ensemble.evaluation.calibration import scale_probabilities

    config = {"name": "yamnet", "fusion": "late", "head": {"hidden": 0}, "taps": {"yamnet": ["layer1"]}}
    plain, scaled = build_model(config, n_classes=3), build_model({**config, "temperature": 2.0}, n_classes=3)
    scaled.keras_model.set_weights(plain.keras_model.get_weights())
    x = np.random.default_rng(0).normal(-4, 1, (2, 96, 64)).astype("float32")
    p, q = np.asarray(plain.keras_model(x), np.float64), np.asarray(scaled.keras_model(x), np.float64)
    np.testing.assert_allclose(q, scale_probabilities(p, 2.0), atol=1e-5)
    assert (q.argmax(1) == p.argmax(1)).all() and q.max(1).max() < p.max(1).max()
