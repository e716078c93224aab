"""Occlusion sensitivity: hiding the tone costs the model its "tone" probability, hiding clicks does not."""

from __future__ import annotations

import numpy as np
import pytest

from seraudit.xai.explainers.occlusion import OcclusionExplainer, window_starts

TONE = 1


def test_windows_reach_the_end_of_the_clip():
    assert window_starts(100, 16, 8).tolist() == [0, 8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 84]
    assert window_starts(10, 16, 8).tolist() == [0]


@pytest.fixture(scope="module")
def occlusion(tone_model, tone_clip):
    return OcclusionExplainer(window_frames=20, window_bands=8, stride_frames=10, stride_bands=8).explain(
        tone_model, tone_clip, TONE
    )


def test_hiding_the_tone_drops_the_tone_probability(occlusion, tone_region):
    clip_map = occlusion.clip_map
    assert clip_map[tone_region].mean() > 2.0 * np.abs(clip_map[~tone_region]).mean()
    assert tone_region[np.unravel_index(np.argmax(clip_map), clip_map.shape)]


def test_a_cell_scores_the_mean_drop_of_the_windows_that_hide_it(occlusion, tone_model, tone_clip):
    from seraudit.ensemble.model.clip_pooling import pool_log_probabilities
    from seraudit.preprocessing.segments import make_patches

    original = tone_model.predict_clip(tone_clip).probabilities[TONE]
    drops = []
    for start in (110, 120):  # the two 20-frame windows (stride 10) over frame 125; bands 40-47 are one window
        hidden = tone_clip.log_mel.copy()
        hidden[start : start + 20, 40:48] = np.log(0.001)
        probs = tone_model.predict_patches(make_patches(hidden).data)
        drops.append(original - pool_log_probabilities(probs, tone_clip.selection.keep)[0][TONE])
    assert occlusion.clip_map[125, 44] == pytest.approx(np.mean(drops), abs=1e-5)


def test_occlusion_shapes_and_record(occlusion, tone_clip):
    assert occlusion.clip_map.shape == tone_clip.log_mel.shape
    assert occlusion.patch_maps.shape == tone_clip.patches.data.shape
    np.testing.assert_allclose(occlusion.patch_maps[-1], occlusion.clip_map[-96:])  # last patch is end-aligned
    assert occlusion.params["fill_value"] == pytest.approx(np.log(0.001))
    assert occlusion.params["n_windows"] == 19 * 8
