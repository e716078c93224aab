"""Calibrated faithfulness on a planted answer: the tone model's map of the tone passes, random maps fail.

Only the tone (one band, 400 ms) decides the tone model's class, so a map on the tone's cells
is the right answer; a random map is what the threshold is calibrated against.
"""

from __future__ import annotations

import numpy as np
import pytest

from seraudit.xai.audit.checks import metric_status
from seraudit.xai.audit.summary import null_quantile, summary_cell
from seraudit.xai.metrics.base import MetricContext
from seraudit.xai.metrics.faithfulness import Deletion, Insertion

N_FRAMES = 200  # as the tone model's clips (tests/xai/conftest.py): a tone is 40 frames x 3 bands, a click 3 x 40


def add_tone(x: np.ndarray, frame: int, band: int) -> None:
    x[frame : frame + 40, band : band + 3] += 5.0


def add_click(x: np.ndarray, frame: int, band: int) -> None:
    x[frame : frame + 3, band : band + 40] += 5.0

PLACES = ((20, 8), (60, 30), (120, 40), (150, 12), (90, 50), (40, 20))  # (first frame, first band) of each clip's tone


def tone_clips():
    from seraudit.core.constants import SAMPLE_RATE, STFT_HOP_SAMPLES, STFT_WINDOW_SAMPLES
    from seraudit.preprocessing.audio import audio_from_array
    from seraudit.preprocessing.gds import select_segments
    from seraudit.preprocessing.pipeline import ClipFeatures
    from seraudit.preprocessing.segments import make_patches

    clips = []
    for i, (frame, band) in enumerate(PLACES):
        rng = np.random.default_rng(100 + i)
        log_mel = rng.normal(-4.0, 0.5, (N_FRAMES, 64)).astype(np.float32)
        add_click(log_mel, (frame + 80) % 190, 10)
        add_tone(log_mel, frame, band)
        region = np.zeros_like(log_mel, dtype=bool)
        region[frame : frame + 40, band : band + 3] = True
        patches = make_patches(log_mel)
        audio = audio_from_array(rng.normal(0.0, 0.01, (N_FRAMES - 1) * STFT_HOP_SAMPLES + STFT_WINDOW_SAMPLES),
                                 SAMPLE_RATE)
        clips.append((ClipFeatures(path=None, audio=audio, log_mel=log_mel, patches=patches,
                                   selection=select_segments(patches.data)), region))
    return clips


def _results(tone_model, make_attribution, kind):
    metric = kind(steps=10, n_random=5, seed=0)
    planted, random_maps = [], []
    for i, (clip, region) in enumerate(tone_clips()):
        for maps, clip_map in ((planted, region.astype(np.float64)),
                               (random_maps, np.random.default_rng(i).normal(size=region.shape))):
            attribution = make_attribution(clip_map, "map", model="ensemble", target=1, target_label="tone")
            maps.append(metric(MetricContext(tone_model, clip, attribution)))
    return summary_cell(kind, planted), summary_cell(kind, random_maps), planted


def test_the_planted_map_passes_and_random_maps_fail_on_the_tone_model(tone_model, make_attribution):
    planted, random_maps, results = _results(tone_model, make_attribution, Deletion)
    assert all(len(r.null_gains) == 5 for r in results)  # one null gain per random order
    assert metric_status(Deletion, planted) == "pass", planted
    assert metric_status(Deletion, random_maps) == "fail", random_maps
    # the threshold lies past the control by what random maps gain at the 95th percentile
    assert planted["control"] - planted["threshold"] == pytest.approx(planted["null_gain_q95"])
    assert planted["null_gain_q95"] > 0


class BandEnergyModel:
    """Class 1 grows with the energy of mel bands 10-19 only (the planted answer of insertion and deletion)."""

    name = "band"

    def predict_patches(self, patches: np.ndarray, batch_size: int = 64) -> np.ndarray:
        evidence = patches[:, :, 10:20].mean(axis=(1, 2))
        p1 = 1.0 / (1.0 + np.exp(-(evidence + 3.5) * 2.0))
        return np.stack([1.0 - p1, p1], axis=1)


@pytest.mark.parametrize("kind", [Deletion, Insertion])
def test_the_planted_band_passes_and_random_maps_fail_on_both_curves(make_attribution, kind):
    from types import SimpleNamespace

    from seraudit.preprocessing.segments import make_patches

    metric, planted, random_maps = kind(steps=10, n_random=5, seed=0), [], []
    for i in range(6):
        rng = np.random.default_rng(i)
        log_mel = rng.uniform(-1.0, 0.0, size=(240, 64)).astype(np.float32)
        patches = make_patches(log_mel, hop_frames=48)
        clip = SimpleNamespace(log_mel=log_mel, patches=patches,
                               selection=SimpleNamespace(keep=np.ones(len(patches), bool)))
        band = np.zeros(log_mel.shape)
        band[:, 10:20] = 1.0
        for maps, clip_map in ((planted, band + 0.01 * rng.random(band.shape)), (random_maps, rng.normal(size=band.shape))):
            attribution = make_attribution(clip_map, "map", model="band", target=1, target_label="angry")
            maps.append(metric(MetricContext(BandEnergyModel(), clip, attribution)))
    assert metric_status(kind, summary_cell(kind, planted)) == "pass"
    assert metric_status(kind, summary_cell(kind, random_maps)) == "fail"


def test_the_null_threshold_is_what_random_maps_beat_one_time_in_twenty():
    rng = np.random.default_rng(0)
    nulls = [rng.normal(0.0, 0.05, 5) for _ in range(8)]
    q = null_quantile(nulls)
    # random maps: draw one more null gain per clip, average over the 8 clips, many times
    draws = np.mean([[rng.choice(g) for g in nulls] for _ in range(4000)], axis=1)
    assert np.mean(draws > q) == pytest.approx(0.05, abs=0.02)
    assert null_quantile([]) is None


def test_each_random_order_is_scored_as_a_random_map_against_the_others(make_attribution):
    from types import SimpleNamespace

    from seraudit.preprocessing.segments import make_patches
    from seraudit.xai.metrics.faithfulness import deletion_insertion

    log_mel = np.random.default_rng(3).uniform(-1.0, 0.0, size=(240, 64)).astype(np.float32)
    patches = make_patches(log_mel, hop_frames=48)
    clip = SimpleNamespace(log_mel=log_mel, patches=patches, selection=SimpleNamespace(keep=np.ones(len(patches), bool)))
    attribution = make_attribution(np.zeros(log_mel.shape), "map", model="band", target=1, target_label="angry")
    result = deletion_insertion(BandEnergyModel(), clip, attribution, steps=5, n_random=5, seed=1)
    for kind, best in (("deletion", np.argmin), ("insertion", np.argmax)):
        aucs, gains = getattr(result, f"random_{kind}_aucs"), result.null_gains(kind)
        assert len(gains) == 5 and np.sum(gains) == pytest.approx(0.0, abs=1e-12)
        assert np.argmax(gains) == best(aucs)  # the order that removes (reveals) evidence fastest gains the most
        assert np.mean(aucs) == pytest.approx(getattr(result, f"random_{kind}_auc"))
