"""Attentive statistics pooling: the head learns which patches of a clip to listen to."""

import numpy as np
import pytest

from seraudit.ensemble.heads.attentive import fit_attentive_head

N_CLIPS, PATCHES, DIM, CLASSES = 120, 4, 8, 3


@pytest.fixture(scope="module")
def clips():
    """Each clip: one marked patch (feature 0 high) that carries the class, three noise patches."""
    rng = np.random.default_rng(0)
    y = np.arange(N_CLIPS) % CLASSES
    centers = rng.normal(0, 1.5, (CLASSES, DIM))
    patches, marked = [], []
    for label in y:
        for p in range(PATCHES):
            x = rng.normal(0, 2.0, DIM)
            if p == 0:
                x = centers[label] + rng.normal(0, 0.3, DIM)
            x[0] = 4.0 if p == 0 else -4.0
            patches.append(x)
            marked.append(p == 0)
    return np.array(patches), np.repeat(np.arange(N_CLIPS), PATCHES), y, np.array(marked)


def test_attention_goes_to_the_patch_that_carries_the_class_and_sums_to_one_per_clip(clips):
    patches, clip_of, y, marked = clips
    head = fit_attentive_head(patches, clip_of, y, CLASSES, C=1.0)
    logits, weights = head.clip_logits(patches, clip_of, N_CLIPS)
    assert logits.shape == (N_CLIPS, CLASSES)
    np.testing.assert_allclose(np.bincount(clip_of, weights=weights), 1.0, atol=1e-9)
    assert weights[marked].mean() > 0.8  # the head listens to the marked patches
    assert (logits.argmax(axis=1) == y).mean() > 0.95


def test_an_absent_class_is_never_predicted(clips):
    patches, clip_of, y, _ = clips
    keep = np.isin(clip_of, np.flatnonzero(y < 2))
    clips_kept = np.unique(clip_of[keep])
    remap = np.searchsorted(clips_kept, clip_of[keep])
    head = fit_attentive_head(patches[keep], remap, y[clips_kept], CLASSES, C=1.0)
    logits, _ = head.clip_logits(patches, clip_of, N_CLIPS)
    assert logits.argmax(axis=1).max() < 2
