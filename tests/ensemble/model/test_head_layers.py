"""A head in the graph standardises with the statistics it is given, and training balances the classes."""

import numpy as np
import pytest

from seraudit.ensemble.model.head_layers import HeadConfig, add_head, balanced_class_weights


def head_model(dim: int, config: HeadConfig, features=None):
    """A stand-alone graph ``[B, dim] -> logits`` made of one head, standardised with `features`' statistics."""
    import keras

    inputs = keras.Input((dim,))
    model = keras.Model(inputs, add_head(inputs, 3, config, "probe_head"))
    if features is not None:
        mean, var = features.mean(axis=0), features.var(axis=0)
        model.get_layer("probe_head_standardize").set_weights([np.ones(dim), np.zeros(dim), mean, var])
    return model


def test_balanced_weights_are_inverse_class_frequencies_and_absent_classes_get_none():
    weights = balanced_class_weights(np.array([0, 0, 0, 1]), n_classes=3)
    assert weights[2] == 0.0 and weights[1] == pytest.approx(3 * weights[0])


def test_the_standardisation_layer_holds_the_training_statistics(rng):
    features = rng.normal(5.0, 3.0, (200, 8)).astype(np.float32)
    head = head_model(8, HeadConfig(), features)
    import keras

    standardize = keras.Model(head.inputs, head.get_layer("probe_head_standardize").output)
    out = np.asarray(standardize(features, training=False))
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-3)
    np.testing.assert_allclose(out.std(axis=0), 1.0, atol=1e-3)
    assert [layer.name for layer in head.layers if layer.weights] == ["probe_head_standardize", "probe_head_logits"]
