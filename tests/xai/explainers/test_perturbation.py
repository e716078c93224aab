"""Perturbed clips are scored exactly as the model's own clip prediction of each of them would be."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from seraudit.ensemble.model.clip_pooling import pool_log_probabilities
from seraudit.preprocessing.segments import make_patches
from seraudit.xai.explainers.perturbation import ClipScorer


class PatchModel:
    """Three classes from each patch's energy in three band ranges (numpy only)."""

    def predict_patches(self, patches, batch_size=64):
        logits = np.stack([patches[:, :, a:b].mean(axis=(1, 2)) for a, b in ((0, 20), (20, 40), (40, 64))], axis=1)
        e = np.exp(3.0 * (logits - logits.max(axis=1, keepdims=True)))
        return e / e.sum(axis=1, keepdims=True)


def test_perturbed_clips_score_as_their_own_clip_predictions_over_the_kept_patches(rng):
    log_mel = rng.uniform(-3.0, 0.0, (240, 64)).astype(np.float32)
    patches = make_patches(log_mel)
    keep = np.array([False, True, False, True])
    assert len(keep) == len(patches.data)
    clip = SimpleNamespace(log_mel=log_mel, patches=patches, selection=SimpleNamespace(keep=keep))
    variants = log_mel[None] + rng.normal(0.0, 1.0, (7, *log_mel.shape)).astype(np.float32)
    variants[:, 100:140, 20:40] = -6.9  # a hidden block, as deletion and occlusion hide them
    model = PatchModel()
    scored = ClipScorer(model, clip)(variants)
    for variant, probabilities in zip(variants, scored):
        expected, _ = pool_log_probabilities(model.predict_patches(make_patches(variant).data), keep)
        np.testing.assert_allclose(probabilities, expected, rtol=1e-6, atol=1e-9)
