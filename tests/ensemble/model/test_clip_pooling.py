"""A clip's output pools over the patches GDS kept (geometric mean of their distributions); a clip that kept none uses all."""

import numpy as np

from seraudit.ensemble.model.clip_pooling import kept_by_clip, kept_mask, pool_by_clip, pool_embeddings, pool_log_probabilities


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
    mask, used_all = kept_mask(np.array([False, False]), 2)
    assert mask.all() and used_all


def test_vectorised_pooling_matches_per_clip_pooling(rng):
    probs = rng.dirichlet(np.ones(4), size=9)
    clip = np.array([0, 0, 1, 1, 1, 2, 3, 3, 3])
    pooled = pool_by_clip(probs, clip)
    for c in range(4):
        np.testing.assert_allclose(pooled[c], pool_log_probabilities(probs[clip == c])[0])


def test_corpus_wide_keep_applies_the_fallback_per_clip(rng):
    clip = np.array([0, 0, 1, 1, 2])
    keep = np.array([True, False, False, False, True])
    counted = kept_by_clip(keep, clip, 3)
    assert counted.tolist() == [True, False, True, True, True]
    probs = rng.dirichlet(np.ones(3), size=5)
    pooled = pool_by_clip(probs[counted], clip[counted], 3)
    for c in range(3):
        expected, _ = pool_log_probabilities(probs[clip == c], keep[clip == c])
        np.testing.assert_allclose(pooled[c], expected)


def test_embeddings_pool_as_their_mean_over_kept_patches():
    emb = np.array([[1.0, 0.0], [3.0, 2.0], [5.0, 5.0], [7.0, 1.0]])
    clip = np.array([0, 0, 1, 1])
    keep = np.array([True, True, False, False])
    pooled = pool_embeddings(emb, clip, keep, 2)
    np.testing.assert_allclose(pooled, [[2.0, 1.0], [6.0, 3.0]])  # clip 1 kept nothing: all of its patches
