"""Test-time augmentation: mild seeded copies of a clip, each cut with the run's GDS threshold, pooled as a geometric mean."""

from __future__ import annotations

import numpy as np
import pytest

from seraudit.ensemble.model.trained import ClipPrediction
from seraudit.ensemble.inference.tta import clip_copies, predict_copies
from seraudit.preprocessing.pipeline import clip_features

LABELS = ["neutral", "happy", "sad"]


class LoudnessModel:
    """Stands in for a `TrainedModel`: its distribution follows the clip's mean log-mel, so every copy gets its own."""

    labels = LABELS
    display_name = "Loudness"

    def predict_clip(self, clip) -> ClipPrediction:
        z = float(clip.log_mel.mean()) + 6.0
        logits = np.array([z, -z, 0.5 * z])
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        keep = clip.selection.keep
        return ClipPrediction(label=LABELS[int(np.argmax(probs))], probabilities=probs, labels=LABELS,
                              patch_probabilities=np.tile(probs, (len(keep), 1)), kept=keep, used_all_patches=bool(keep.all()))


@pytest.fixture(scope="module")
def clip(speech_wav):
    return clip_features(speech_wav)


def test_copies_start_with_the_clip_and_add_n_mild_versions_of_its_waveform(clip):
    copies = clip_copies(clip, 3, seed=0, gds_threshold=float("-inf"))
    assert len(copies) == 4 and copies[0] is clip
    original = clip.audio.waveform.astype(np.float64)
    rms = np.sqrt(np.mean(original**2))
    for copy in copies[1:]:
        wave = copy.audio.waveform.astype(np.float64)
        assert wave.shape == original.shape and not np.array_equal(wave, original)
        # gain within ±3 dB and a shift: the level moves by little more than the gain allows
        level_db = 20 * np.log10(np.sqrt(np.mean(wave**2)) / rms)
        assert abs(level_db) < 3.5
        # no noise is added: the silences around the sentence stay digital silence (a shift only zero-fills)
        assert np.count_nonzero(wave) <= np.count_nonzero(original) + 1
        assert len(copy.patches) == len(clip.patches)
        assert copy.selection.keep.all()  # the threshold given (-inf: keep every patch) cuts each copy


def test_the_gds_threshold_given_decides_which_patches_of_a_copy_count(clip):
    strict = clip_copies(clip, 1, seed=0, gds_threshold=0.99)[1]
    loose = clip_copies(clip, 1, seed=0, gds_threshold=float("-inf"))[1]
    np.testing.assert_array_equal(strict.audio.waveform, loose.audio.waveform)
    assert strict.selection.keep.sum() < loose.selection.keep.sum()


def test_copies_are_reproduced_by_their_seed_and_each_copy_depends_only_on_its_index(clip):
    waves = lambda n, seed: [c.audio.waveform for c in clip_copies(clip, n, seed, gds_threshold=0.5)[1:]]  # noqa: E731
    first, again, other = waves(2, 0), waves(2, 0), waves(2, 1)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not any(np.array_equal(a, b) for a, b in zip(first, other))
    np.testing.assert_array_equal(waves(3, 0)[1], first[1])
    assert not np.array_equal(first[0], first[1])


def test_the_pooled_prediction_is_the_renormalised_geometric_mean_of_the_copies(clip):
    model = LoudnessModel()
    copies = clip_copies(clip, 2, seed=0, gds_threshold=0.5)
    each = np.stack([model.predict_clip(c).probabilities for c in copies])
    assert not np.allclose(each[0], each[1])  # the copies do disagree, so pooling has something to do

    record = predict_copies(model, copies)

    geometric = np.prod(each, axis=0) ** (1 / len(each))
    geometric /= geometric.sum()
    assert list(record["probabilities"]) == LABELS
    assert list(record["probabilities"].values()) == pytest.approx(geometric.tolist(), abs=1e-12)
    assert record["label"] == LABELS[int(np.argmax(geometric))]
    assert (record["patches_used"], record["patches_total"]) == (int(clip.selection.keep.sum()), len(clip.patches))


def test_one_copy_only_is_the_clip_as_the_model_predicts_it(clip):
    model = LoudnessModel()
    record = predict_copies(model, clip_copies(clip, 0, seed=0, gds_threshold=0.5))
    plain = model.predict_clip(clip).as_dict()
    assert record["label"] == plain["label"]
    assert list(record["probabilities"].values()) == pytest.approx(list(plain["probabilities"].values()), abs=1e-12)


def test_a_negative_number_of_copies_is_refused(clip):
    with pytest.raises(ValueError, match="must not be negative, got -1"):
        clip_copies(clip, -1, seed=0, gds_threshold=0.5)
