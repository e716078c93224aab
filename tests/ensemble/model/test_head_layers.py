"""A head in the graph standardises with the statistics it is given, and training balances the classes."""

import numpy as np
import pytest

from seraudit.ensemble.model.head_layers import HeadConfig, add_head, balanced_class_weights


def head_model(dim: int, config: HeadConfig):
    """A stand-alone graph ``[B, dim] -> logits`` made of one head."""
    import keras

    inputs = keras.Input((dim,))
    return keras.Model(inputs, add_head(inputs, 3, config, "probe_head"))


def test_balanced_weights_are_inverse_class_frequencies_and_absent_classes_get_none():
    weights = balanced_class_weights(np.array([0, 0, 0, 1]), n_classes=3)
    assert weights[2] == 0.0 and weights[1] == pytest.approx(3 * weights[0])


def test_the_graph_standardises_with_the_fitted_heads_epsilon_where_the_variance_is_tiny():
    """Feature variances of 4, eps and 0 with offsets 2, sqrt(eps) and sqrt(eps) standardise to 1, 1/sqrt(2) and 1
    (by hand: offset / sqrt(var + eps)); another epsilon in the graph moves the last two far off."""
    from seraudit.ensemble.heads.linear import BN_EPSILON, LinearHead

    root = np.sqrt(BN_EPSILON)
    mean, var = np.array([5.0, 0.0, 0.0]), np.array([4.0, BN_EPSILON, 0.0])
    coef, intercept = np.eye(3), np.array([0.0, 0.5, -0.5])
    head = head_model(3, HeadConfig())
    head.get_layer("probe_head_standardize").set_weights([np.ones(3), np.zeros(3), mean, var])
    head.get_layer("probe_head_logits").set_weights([coef, intercept])
    x = np.array([[7.0, root, root]], np.float32)

    logits = np.asarray(head(x, training=False))[0]

    np.testing.assert_allclose(logits, [1.0, 1 / np.sqrt(2) + 0.5, 1.0 - 0.5], rtol=1e-4)
    np.testing.assert_allclose(logits, LinearHead(mean, var, coef, intercept, C=1.0).logits(x)[0], rtol=1e-4)
    assert [layer.name for layer in head.layers if layer.weights] == ["probe_head_standardize", "probe_head_logits"]
