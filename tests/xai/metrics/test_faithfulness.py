"""A map that points at the evidence the model uses beats random orders on deletion and insertion."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from seraudit.ensemble.model.clip_pooling import pool_log_probabilities
from seraudit.preprocessing.segments import make_patches
from seraudit.xai.metrics.faithfulness import LOG_FLOOR, block_index, deletion_insertion, removal_masks

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


TOY = {"model": "toy", "target": 1, "target_label": "angry"}  # the explained class is the banded one


def test_the_right_map_beats_random_and_the_wrong_one_does_not(clip, rng, make_attribution):
    right = np.zeros((240, 64))
    right[:, BANDS] = 1.0
    right += 0.01 * rng.random(right.shape)
    model = BandEnergyModel()
    good = deletion_insertion(model, clip, make_attribution(right, "good", **TOY), steps=20, n_random=3)
    assert model.calls == 1  # every step of every order in one batched call
    assert good.deletion_auc < good.random_deletion_auc - 0.2
    assert good.insertion_auc > good.random_insertion_auc + 0.2
    assert good.deletion_gain > 0.2 and good.insertion_gain > 0.2

    wrong = deletion_insertion(BandEnergyModel(), clip, make_attribution(-right, "wrong", **TOY), steps=20, n_random=3)
    assert wrong.deletion_auc > wrong.random_deletion_auc
    assert wrong.insertion_auc < wrong.random_insertion_auc


def test_curves_start_and_end_where_they_must(clip, make_attribution):
    result = deletion_insertion(BandEnergyModel(), clip, make_attribution(np.ones((240, 64)), "flat", **TOY), steps=10)
    original, _ = pool_log_probabilities(BandEnergyModel().predict_patches(clip.patches.data), clip.selection.keep)
    assert result.fractions.tolist() == pytest.approx(np.linspace(0, 1, 11).tolist())
    assert result.deletion[0] == pytest.approx(original[1])  # nothing removed yet
    assert result.insertion[-1] == pytest.approx(original[1])  # everything revealed
    assert result.deletion[-1] == pytest.approx(result.insertion[0])  # the empty (all log-floor) clip
    silence = BandEnergyModel().predict_patches(np.full((1, 96, 64), LOG_FLOOR, np.float32))[0, 1]
    assert result.insertion[0] == pytest.approx(silence)
    summary = result.as_dict()
    assert len(summary["deletion"]) == 11 and summary["fill_value"] == pytest.approx(np.log(0.001))


def test_only_gds_kept_patches_count(clip, make_attribution):
    """A patch that GDS dropped cannot move the clip-level probability."""
    keep = np.zeros(len(clip.patches), bool)
    keep[0] = True  # only frames 0-95 count
    kept_clip = SimpleNamespace(log_mel=clip.log_mel, patches=clip.patches, selection=SimpleNamespace(keep=keep))
    late = np.zeros((240, 64))
    late[150:] = 1.0  # 5760 cells after the kept patch: the first steps only delete there
    result = deletion_insertion(BandEnergyModel(), kept_clip, make_attribution(late, "late", **TOY), steps=10)
    assert result.deletion[1] == pytest.approx(result.deletion[0])
    assert result.deletion[3] == pytest.approx(result.deletion[0])
    assert result.deletion[-1] < result.deletion[0] - 0.3  # deleting the kept patch does move it


def test_a_map_of_another_clip_is_refused(clip, make_attribution):
    with pytest.raises(ValueError, match="pass the clip the attribution was computed on"):
        deletion_insertion(BandEnergyModel(), clip, make_attribution(np.ones((300, 64)), "x", **TOY))


def test_gradcam_on_the_tone_model_is_more_faithful_than_random(tone_model, tone_clip):
    from seraudit.xai.explainers.gradcam import GradCAM

    attribution = GradCAM().explain(tone_model, tone_clip, "tone")
    result = deletion_insertion(tone_model, tone_clip, attribution, steps=20, n_random=3)
    assert result.deletion_auc < result.random_deletion_auc
    assert result.insertion_auc > result.random_insertion_auc


def test_random_orders_remove_the_same_kind_of_region_as_the_map(rng):
    """Method and baseline differ only in which 16 x 16 blocks go, never in the shape of what is removed."""
    clip_map = rng.normal(size=(100, 64))  # 7 x 4 blocks, the last row of blocks 4 frames high
    gone, fractions = removal_masks(clip_map, steps=7, n_random=3, seed=0, block=(16, 16))
    blocks, n_blocks = block_index(clip_map.shape, (16, 16))
    assert gone.shape == (4, 8, 100, 64) and n_blocks == 28
    cells = [gone[..., blocks == b] for b in range(n_blocks)]  # each [orders, steps, cells of block b]
    assert all((c.all(axis=-1) == c.any(axis=-1)).all() for c in cells)  # a block goes whole or not at all
    whole = np.stack([c.all(axis=-1) for c in cells], axis=-1)  # [orders, steps, blocks]
    assert (whole.sum(axis=-1) == np.round(fractions * n_blocks)[None]).all()  # same count in every order and step
    means = np.array([clip_map[blocks == b].mean() for b in range(n_blocks)])
    first = np.flatnonzero(whole[0, 1])
    assert set(first) == set(np.argsort(-means)[:4])  # the map's order starts with its strongest blocks
    assert not np.array_equal(gone[1], gone[2])  # the random orders are different orders


def test_single_cell_blocks_rank_cells_by_the_map(rng):
    clip_map = rng.normal(size=(30, 64))
    gone, _ = removal_masks(clip_map, steps=4, n_random=1, seed=0, block=(1, 1))
    top_quarter = clip_map >= np.quantile(clip_map, 0.75)
    np.testing.assert_array_equal(gone[0, 1], top_quarter)


def test_nan_cells_do_not_poison_a_block(clip):
    """A block with a few NaN cells is ranked by its finite cells; a map of another grid is still refused."""
    clip_map = np.zeros((240, 64))
    clip_map[0:16, 16:32] = 1.0
    clip_map[0, 16] = np.nan
    gone, _ = removal_masks(clip_map, steps=60, n_random=1, seed=0, block=(16, 16))
    assert gone[0, 1, 1:16, 16:32].all() and not gone[0, 1, :, :16].any()


def test_deletion_and_insertion_members_score_one_shared_pass_with_its_numbers(clip, rng, make_attribution):
    from seraudit.xai.metrics.base import MetricContext
    from seraudit.xai.metrics.faithfulness import Deletion, Insertion

    right = np.zeros((240, 64))
    right[:, BANDS] = 1.0
    attribution = make_attribution(right + 0.01 * rng.random(right.shape), "good", **TOY)
    model = BandEnergyModel()
    model.name = "toy"
    context = MetricContext(model, clip, attribution, {"good": attribution})
    deletion = Deletion(steps=10, n_random=2)(context)
    insertion = Insertion(steps=10, n_random=2)(context)
    assert model.calls == 1  # insertion reuses deletion's pass through the context's memo
    direct = deletion_insertion(BandEnergyModel(), clip, attribution, steps=10, n_random=2)
    assert (deletion.value, deletion.control) == (direct.deletion_auc, direct.random_deletion_auc)
    assert (insertion.value, insertion.control) == (direct.insertion_auc, direct.random_insertion_auc)
    assert not deletion.higher_is_better and insertion.higher_is_better
    assert deletion.gain == pytest.approx(direct.deletion_gain) and insertion.gain == pytest.approx(direct.insertion_gain)
    assert deletion.details["curves"]["deletion"] == pytest.approx(direct.deletion.tolist())
