"""A map that points at the evidence the model uses beats random orders on deletion and insertion."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from ensemble.trained import pool_log_probabilities
from preprocessing.segments import make_patches
from xai.attribution import Attribution
from xai.faithfulness import LOG_FLOOR, deletion_insertion

BANDS = slice(10, 20)  # the only evidence the model uses for class 1


class BandEnergyModel:
    """Class 1 grows with the energy of mel bands 10-19; counts its batched calls."""

    def __init__(self) -> None:
        self.calls = 0

    def predict_patches(self, patches: np.ndarray, batch_size: int = 64) -> np.ndarray:
        self.calls += 1
        evidence = patches[:, :, BANDS].mean(axis=(1, 2))  # log floor (-6.9) .. ~0
        p1 = 1.0 / (1.0 + np.exp(-(evidence + 3.5) * 2.0))
        return np.stack([1.0 - p1, p1], axis=1)


@pytest.fixture()
def clip(rng):
    log_mel = rng.uniform(-1.0, 0.0, size=(240, 64)).astype(np.float32)
    patches = make_patches(log_mel, hop_frames=48)
    return SimpleNamespace(log_mel=log_mel, patches=patches, selection=SimpleNamespace(keep=np.ones(len(patches), bool)))


def attribution_for(clip_map: np.ndarray, method: str) -> Attribution:
    patches = make_patches(clip_map)
    return Attribution(
        method=method, model="toy", target=1, target_label="angry", clip_map=clip_map,
        patch_maps=patches.data, patch_start_s=patches.start_s, patch_end_s=patches.end_s, params={}, seconds=0.0,
    )  # fmt: skip


def test_the_right_map_beats_random_and_the_wrong_one_does_not(clip, rng):
    right = np.zeros((240, 64))
    right[:, BANDS] = 1.0
    right += 0.01 * rng.random(right.shape)
    model = BandEnergyModel()
    good = deletion_insertion(model, clip, attribution_for(right, "good"), steps=20, n_random=3)
    assert model.calls == 1  # every step of every order in one batched call
    assert good.deletion_auc < good.random_deletion_auc - 0.2
    assert good.insertion_auc > good.random_insertion_auc + 0.2
    assert good.deletion_gain > 0.2 and good.insertion_gain > 0.2

    wrong = deletion_insertion(BandEnergyModel(), clip, attribution_for(-right, "wrong"), steps=20, n_random=3)
    assert wrong.deletion_auc > wrong.random_deletion_auc
    assert wrong.insertion_auc < wrong.random_insertion_auc


def test_curves_start_and_end_where_they_must(clip):
    result = deletion_insertion(BandEnergyModel(), clip, attribution_for(np.ones((240, 64)), "flat"), steps=10)
    original, _ = pool_log_probabilities(BandEnergyModel().predict_patches(clip.patches.data), clip.selection.keep)
    assert result.fractions.tolist() == pytest.approx(np.linspace(0, 1, 11).tolist())
    assert result.deletion[0] == pytest.approx(original[1])  # nothing removed yet
    assert result.insertion[-1] == pytest.approx(original[1])  # everything revealed
    assert result.deletion[-1] == pytest.approx(result.insertion[0])  # the empty (all log-floor) clip
    silence = BandEnergyModel().predict_patches(np.full((1, 96, 64), LOG_FLOOR, np.float32))[0, 1]
    assert result.insertion[0] == pytest.approx(silence)
    summary = result.as_dict()
    assert len(summary["deletion"]) == 11 and summary["fill_value"] == pytest.approx(np.log(0.001))


def test_only_gds_kept_patches_count(clip):
    """A patch that GDS dropped cannot move the clip-level probability."""
    keep = np.zeros(len(clip.patches), bool)
    keep[0] = True  # only frames 0-95 count
    kept_clip = SimpleNamespace(log_mel=clip.log_mel, patches=clip.patches, selection=SimpleNamespace(keep=keep))
    late = np.zeros((240, 64))
    late[150:] = 1.0  # 5760 cells after the kept patch: the first steps only delete there
    result = deletion_insertion(BandEnergyModel(), kept_clip, attribution_for(late, "late"), steps=10)
    assert result.deletion[1] == pytest.approx(result.deletion[0])
    assert result.deletion[3] == pytest.approx(result.deletion[0])
    assert result.deletion[-1] < result.deletion[0] - 0.3  # deleting the kept patch does move it


def test_a_map_of_another_clip_is_refused(clip):
    with pytest.raises(ValueError, match="pass the clip the attribution was computed on"):
        deletion_insertion(BandEnergyModel(), clip, attribution_for(np.ones((300, 64)), "x"))


def test_gradcam_on_the_tone_model_is_more_faithful_than_random(tone_model, tone_clip):
    from xai.gradcam import GradCAM

    attribution = GradCAM().explain(tone_model, tone_clip, "tone")
    result = deletion_insertion(tone_model, tone_clip, attribution, steps=20, n_random=3)
    assert result.deletion_auc < result.random_deletion_auc
    assert result.insertion_auc > result.random_insertion_auc
