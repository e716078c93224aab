"""The weighted-layer head: a learned mix of standardised layers, equal to a plain head on their concatenation."""

import numpy as np
import pytest

from seraudit.ensemble.heads.search import LayerSet, fit_layer_set, select_head
from seraudit.ensemble.heads.linear import BN_EPSILON, fit_linear_head
from seraudit.ensemble.heads.layer_mix import AuxTask, fit_weighted_head

N, DIM, CLASSES = 240, 16, 3


def layers_with_signal(rng, y, informative, n_layers=3, noise=1.0):
    """`n_layers` layers of width DIM; the ones in `informative` carry the class, the others are noise."""
    centers = rng.normal(0, 1, (CLASSES, DIM))
    return [(centers[y] if i in informative else 0) + rng.normal(0, noise, (len(y), DIM)) * (1 + i)
            for i in range(n_layers)]


def test_one_layer_is_scikit_learns_balanced_logistic_regression():
    rng = np.random.default_rng(0)
    y = rng.integers(0, CLASSES, N)
    x = layers_with_signal(rng, y, {0}, 1)[0]
    weighted = fit_weighted_head(x, 1, y, CLASSES, C=0.01).head
    plain = fit_linear_head(x, y, CLASSES, C=0.01)
    scale = np.abs(plain.logits(x)).max()
    assert np.abs(weighted.logits(x) - plain.logits(x)).max() < 0.01 * scale


def test_the_mix_goes_to_the_layer_that_carries_the_class_and_is_a_head_on_the_concatenation():
    rng = np.random.default_rng(1)
    y = rng.integers(0, CLASSES, N)
    layers = layers_with_signal(rng, y, {1})
    x = np.concatenate(layers, axis=1)
    fit = fit_weighted_head(x, 3, y, CLASSES, C=0.1)
    assert fit.layer_weights.sum() == pytest.approx(1.0) and fit.layer_weights.argmax() == 1
    assert fit.layer_weights[1] > 0.9
    # the head is an ordinary head on the concatenated layers: sum_l a_l z_l W + b
    z = (x - fit.head.mean) / np.sqrt(fit.head.var + BN_EPSILON)
    w_block = fit.head.coef[DIM:2 * DIM] / fit.layer_weights[1]
    mixed = sum(a * z[:, l * DIM:(l + 1) * DIM] for l, a in enumerate(fit.layer_weights))
    assert np.allclose(mixed @ w_block + fit.head.intercept, fit.head.logits(x), atol=1e-6)


def test_an_absent_class_is_never_predicted():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, N)  # class 2 never occurs in training
    x = np.concatenate(layers_with_signal(rng, y, {0, 1}, 2), axis=1)
    head = fit_weighted_head(x, 2, y, CLASSES, C=0.1).head
    assert head.logits(x).argmax(axis=1).max() < 2


def test_layers_of_unequal_width_are_refused():
    with pytest.raises(ValueError, match="do not split into 4 layers"):
        fit_weighted_head(np.zeros((10, 30)), 4, np.zeros(10, int), 2, C=0.1)


def test_multitask_heads_learn_the_auxiliary_field_from_the_shared_mix():
    rng = np.random.default_rng(3)
    y = rng.integers(0, CLASSES, N)
    gender = rng.integers(0, 2, N)
    layers = layers_with_signal(rng, y, {0})
    layers[2] = layers[2] * 0.1 + 2.0 * gender[:, None] * rng.normal(0, 1, DIM)  # layer 2 carries gender only
    x = np.concatenate(layers, axis=1)
    gender_task = AuxTask("gender", gender, ["female", "male"])
    alone = fit_weighted_head(x, 3, y, CLASSES, C=0.1)
    joint = fit_weighted_head(x, 3, y, CLASSES, C=0.1, aux=[gender_task], aux_weight=1.0)
    assert set(joint.aux_heads) == {"gender"} and alone.aux_heads == {}
    assert (joint.aux_heads["gender"].logits(x).argmax(axis=1) == gender).mean() > 0.9
    assert joint.layer_weights[2] > alone.layer_weights[2] + 0.1  # the shared mix moved towards the gender layer


def test_the_search_prefers_a_weighted_mix_when_the_class_is_spread_over_layers():
    rng = np.random.default_rng(4)
    y_all = np.tile(np.arange(CLASSES), 2 * N // CLASSES)
    centers = rng.normal(0, 0.35, (CLASSES, DIM))
    layers = [centers[y_all] + rng.normal(0, 1, (len(y_all), DIM)) for _ in range(6)]  # each layer alone is weak
    x = np.concatenate(layers, axis=1)
    tr, va = np.arange(N), np.arange(N, 2 * N)
    taps = tuple(f"layer{i}" for i in range(7, 13))
    candidates = {LayerSet(("layer7",)): (x[tr, :DIM], x[va, :DIM]), LayerSet(taps, True): (x[tr], x[va])}
    choice = select_head(candidates, y_all[tr], y_all[va], CLASSES)
    assert choice.layers == LayerSet(taps, True)
    rows = [r for r in choice.table if r["weighted"]]
    assert len(rows) == 3 and all(len(r["layer_weights"]) == 6 for r in rows)
    assert max(r["val_uar"] for r in rows) > max(r["val_uar"] for r in choice.table if not r["weighted"]) + 5


def test_a_plain_layer_set_fits_separate_auxiliary_heads():
    rng = np.random.default_rng(5)
    y, gender = rng.integers(0, CLASSES, N), rng.integers(0, 2, N)
    x = layers_with_signal(rng, y, {0}, 1)[0] + 3.0 * gender[:, None]
    fit = fit_layer_set(LayerSet(("layer6",)), x, y, CLASSES, 0.1, aux=[AuxTask("gender", gender, ["f", "m"])])
    assert (fit.aux_heads["gender"].logits(x).argmax(axis=1) == gender).mean() > 0.9
