"""LIME on a time-frequency grid (and on time slices) finds the tone, and every perturbation is scored at clip level."""

from __future__ import annotations

import numpy as np
import pytest

from seraudit.xai.explainers.lime_explainer import LimeExplainer, LimeTimeExplainer, grid_segments

TONE = 1


def test_a_grid_covers_the_whole_utterance_in_numbered_cells():
    segments = grid_segments(205, cell_frames=20, cell_bands=16)
    assert segments.shape == (205, 64)
    assert np.array_equal(np.unique(segments), np.arange(11 * 4))  # the 5-frame tail is a cell of its own
    assert len(np.unique(segments[:20, :16])) == 1


@pytest.fixture(scope="module")
def lime_map(tone_model, tone_clip):
    return LimeExplainer(cell_frames=20, cell_bands=8, num_samples=120, random_state=3).explain(tone_model, tone_clip, TONE)


def test_lime_puts_its_weight_on_the_tone(lime_map, tone_region):
    inside = lime_map.clip_map[tone_region].mean()
    assert inside > 2.0 * np.abs(lime_map.clip_map[~tone_region]).mean()
    assert tone_region[np.unravel_index(np.argmax(lime_map.clip_map), lime_map.clip_map.shape)]


def test_lime_records_how_it_hid_cells_and_how_many_cells_it_used(lime_map, tone_clip):
    assert lime_map.params["fill_value"] == pytest.approx(np.log(0.001))
    assert lime_map.params["n_segments"] == 10 * 8
    assert lime_map.params["num_samples"] == 120
    assert lime_map.patch_maps.shape == tone_clip.patches.data.shape
    # every perturbed clip is re-cut into its patches; only those GDS kept count, so only they are predicted
    assert lime_map.params["patch_predictions"] == 120 * int(tone_clip.selection.keep.sum())


def test_lime_time_explains_listenable_time_slices(tone_model, tone_clip):
    attribution = LimeTimeExplainer(slice_frames=20, num_samples=80, random_state=3).explain(tone_model, tone_clip, TONE)
    assert attribution.method == "lime-time"
    assert np.all(attribution.clip_map == attribution.clip_map[:, :1])  # one weight per slice, all bands alike
    profile = attribution.time_profile()
    best = np.argsort(profile[::20])[::-1][:2] * 20  # the two strongest slices
    assert set(best) == {120, 140}  # the tone lasts from frame 120 to 160


def test_the_vectorised_sampler_draws_the_same_samples_images_and_calls_as_lime():
    from lime import lime_image

    from seraudit.xai.explainers.lime_explainer import vectorised_lime_explainer

    rng = np.random.default_rng(0)
    image = np.repeat(rng.normal(size=(45, 64, 1)).astype(np.float32), 3, axis=2)
    fudged = np.full_like(image, -6.9)
    segments = grid_segments(45, cell_frames=20, cell_bands=16)
    seen: dict[str, list[np.ndarray]] = {"lime": [], "vectorised": []}

    def classifier(key):
        def classify(images):
            seen[key].append(np.array(images))
            hidden = (images[..., 0] == fudged[0, 0, 0]).sum(axis=(1, 2))  # exact, whatever the memory layout
            return np.stack([hidden, images[:, 0, 0, 0], images[:, -1, -1, 0]], axis=1)
        return classify

    lime_data, lime_labels = lime_image.LimeImageExplainer(random_state=5).data_labels(
        image, fudged, segments, classifier("lime"), num_samples=23, batch_size=10)
    data, labels = vectorised_lime_explainer()(random_state=5).data_labels(
        image, fudged, segments, classifier("vectorised"), num_samples=23, batch_size=10)
    assert np.array_equal(data, lime_data) and data[0].all()
    assert [len(batch) for batch in seen["vectorised"]] == [10, 10, 3]
    for ours, theirs in zip(seen["vectorised"], seen["lime"], strict=True):
        assert np.array_equal(ours, theirs)
    assert np.array_equal(labels, lime_labels)
