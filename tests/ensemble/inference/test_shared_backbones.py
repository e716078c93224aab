"""Models with the same frozen tower embed a patch once between them, and still predict exactly what they predict alone."""

from __future__ import annotations

import numpy as np
import pytest

from seraudit.ensemble.inference.shared_backbones import EmbeddingMemo, patch_digests, sharing_backbones


def tiny_model(name: str, tower_layers, seed: int):
    """A flat ``log_mel -> probabilities`` graph on the given tower layers, with its own head."""
    import keras

    from seraudit.ensemble.model.trained import TrainedModel

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((96, 64), name="log_mel")
    x = inputs
    for layer in tower_layers:
        x = layer(x)
    logits = keras.layers.Dense(3, name="logits")(x)
    model = keras.Model(inputs, keras.layers.Activation("softmax", name="probabilities")(logits))
    return TrainedModel(
        name=name, keras_model=model, labels=["a", "b", "c"], conv_layers={"alpha": "alpha_conv"},
        embedding_layers={"alpha": "alpha_embedding"}, branch_untrained={"alpha": False}, fusion=None,
    )  # fmt: skip


def tower(seed: int):
    import keras

    keras.utils.set_random_seed(seed)
    return [
        keras.layers.Reshape((96, 64, 1), name="alpha_image"),
        keras.layers.Conv2D(4, 5, strides=2, activation="relu", name="alpha_conv"),
        keras.layers.GlobalAveragePooling2D(name="alpha_embedding"),
    ]


@pytest.fixture(scope="module")
def models():
    """Two models whose towers hold the same weights (as if both loaded one backbone file), and one that differs."""
    first, second = tiny_model("first", tower(0), 1), tiny_model("second", tower(5), 2)
    conv = second.keras_model.get_layer("alpha_conv")
    conv.set_weights(first.keras_model.get_layer("alpha_conv").get_weights())
    return first, second, tiny_model("other", tower(7), 3)


class CountingTower:
    """Wraps a model's compiled tower functions to count the patches they embed."""

    def __init__(self, model):
        self.patches = 0
        fns, head = model._split()
        self.model, self.original = model, (fns, head)
        counted = {b: self._counted(fn) for b, fn in fns.items()}
        model._split_fns = (counted, head)

    def _counted(self, fn):
        def run(x):
            self.patches += int(x.shape[0])
            return fn(x)

        return run

    def restore(self):
        self.model._split_fns = self.original


def test_shared_predictions_equal_separate_ones_and_the_tower_runs_once_per_patch(models, rng):
    first, second, _ = models
    patches = rng.normal(-3.0, 1.0, (12, 96, 64)).astype(np.float32)
    alone = [first.predict_patches(patches), second.predict_patches(patches)]
    counters = [CountingTower(first), CountingTower(second)]
    try:
        with sharing_backbones([first, second]) as memo:
            together = [first.predict_patches(patches), second.predict_patches(patches)]
            assert counters[0].patches == 12 and counters[1].patches == 0  # the second model only ran its head
            assert memo.misses == 12 and memo.hits == 12
    finally:
        for c in counters:
            c.restore()
    for a, b in zip(alone, together):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert not np.allclose(together[0], together[1])  # different heads, different answers
    assert first.embedding_memo is None and second.embedding_memo is None  # the block leaves nothing behind


def test_a_tower_with_other_weights_is_never_shared(models, rng):
    first, _, other = models
    patches = rng.normal(-3.0, 1.0, (5, 96, 64)).astype(np.float32)
    expected = other.predict_patches(patches)
    with sharing_backbones([first, other]) as memo:
        assert first.tower_digests["alpha"] != other.tower_digests["alpha"]
        first.predict_patches(patches)
        np.testing.assert_allclose(other.predict_patches(patches), expected, rtol=1e-6, atol=1e-7)
        assert memo.hits == 0 and memo.misses == 10


def test_weights_changed_between_blocks_give_a_new_digest(models):
    first, second, _ = models
    with sharing_backbones([first, second]):
        assert first.tower_digests["alpha"] == second.tower_digests["alpha"]
    conv = first.keras_model.get_layer("alpha_conv")
    kernel, bias = conv.get_weights()
    conv.set_weights([kernel, bias + 1.0])  # e.g. fine-tuned, or re-initialised by the sanity check
    try:
        with sharing_backbones([first, second]):
            assert first.tower_digests["alpha"] != second.tower_digests["alpha"]
    finally:
        conv.set_weights([kernel, bias])


def test_repeated_patches_in_one_call_are_embedded_once(rng):
    memo = EmbeddingMemo()
    patches = rng.normal(size=(3, 96, 64)).astype(np.float32)
    stacked = patches[[0, 1, 0, 2, 1]]
    seen = []

    def embed(x):
        seen.append(len(x))
        return x.mean(axis=(1, 2))[:, None]

    out = memo.embed("t", patch_digests(stacked), stacked, embed)
    assert seen == [3]
    np.testing.assert_allclose(out[:, 0], stacked.mean(axis=(1, 2)), rtol=1e-6)
    memo.embed("t", patch_digests(patches), patches, embed)
    assert seen == [3]  # all three were already known


def test_a_full_memo_empties_itself_instead_of_growing(rng):
    memo = EmbeddingMemo(max_entries=4)
    patches = rng.normal(size=(6, 96, 64)).astype(np.float32)
    for part in (patches[:3], patches[3:]):
        out = memo.embed("t", patch_digests(part), part, lambda x: x[:, :1, 0])
        np.testing.assert_array_equal(out, part[:, :1, 0])
    assert len(memo) == 3


def test_a_memo_over_its_byte_budget_empties_itself_and_still_answers_every_patch(rng):
    memo = EmbeddingMemo(max_bytes=4 * 96 * 64 * 4)  # room for four float32 patches
    patches = rng.normal(size=(6, 96, 64)).astype(np.float32)
    memo.embed("t", patch_digests(patches[:3]), patches[:3], lambda x: x)
    mixed = patches[1:6]  # two known, three new: over budget once the new ones come
    out = memo.embed("t", patch_digests(mixed), mixed, lambda x: x)
    np.testing.assert_array_equal(out, mixed)
    assert len(memo) == 3 and memo.misses == 6


def test_a_model_loaded_later_joins_the_memo_and_only_runs_its_head(models, rng):
    from seraudit.ensemble.inference.shared_backbones import EmbeddingMemo, share_towers

    first, second, _ = models
    patches = rng.normal(-3.0, 1.0, (7, 96, 64)).astype(np.float32)
    expected = second.predict_patches(patches)
    memo = EmbeddingMemo()
    counter = CountingTower(second)
    try:
        share_towers(first, memo).predict_patches(patches)  # the first model of a loop
        assert share_towers(second, memo) is second  # a fold's model, loaded when its first clip comes
        np.testing.assert_allclose(second.predict_patches(patches), expected, rtol=1e-6, atol=1e-7)
        assert counter.patches == 0 and memo.hits == 7
    finally:
        counter.restore()
        first.embedding_memo = second.embedding_memo = None
