"""An attribution is saved and read back intact, refuses malformed maps, and every method returns one."""

from __future__ import annotations

import numpy as np
import pytest

from seraudit.core.errors import RunError, SerauditError
from seraudit.xai.attribution import Attribution
from seraudit.xai.explainers.registry import EXPLAINERS, explain_clip, make_explainer


@pytest.fixture()
def fields(rng) -> dict:
    """Every field of an attribution set, none left at its default, so a round trip that drops one shows."""
    return dict(
        method="gradcam",
        model="ensemble",
        target=4,
        target_label="angry",
        clip_map=rng.random((240, 64)),
        patch_maps=rng.random((4, 96, 64)),
        patch_start_s=[0.0, 0.48, 0.96, 1.44],
        patch_end_s=[0.96, 1.44, 1.92, 2.40],
        params={"implementation": "fast", "branch_weights": {"yamnet": 0.7, "vggish": 0.3}, "n": np.int64(3)},
        seconds=0.25,
        branch_maps={"yamnet": rng.random((240, 64)), "vggish": rng.random((240, 64))},
        clip_path="/data/03-01-05-01-01-01-01.flac",
    )


def test_save_and_load_round_trip(tmp_path, make_attribution, fields):
    original = make_attribution(**fields)
    path = original.save(tmp_path / "clip_gradcam")
    assert path.name == "clip_gradcam.npz"
    loaded = Attribution.load(path)
    for name in ("method", "model", "target", "target_label", "seconds", "frame_hop_s", "clip_path"):
        assert getattr(loaded, name) == getattr(original, name)
    assert loaded.params == {"implementation": "fast", "branch_weights": {"yamnet": 0.7, "vggish": 0.3}, "n": 3}
    for name in ("clip_map", "patch_maps", "patch_start_s", "patch_end_s"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(original, name))
    assert set(loaded.branch_maps) == {"yamnet", "vggish"}
    np.testing.assert_array_equal(loaded.branch_maps["vggish"], original.branch_maps["vggish"])


def test_time_profile_follows_the_clip_grid(make_attribution, fields):
    attribution = make_attribution(**fields)
    np.testing.assert_allclose(attribution.time_profile(), attribution.clip_map.mean(axis=1), rtol=1e-6)
    assert attribution.frame_times()[100] == pytest.approx(1.0)
    assert attribution.duration_s == pytest.approx(2.4)


def test_a_map_off_the_log_mel_grid_is_refused(rng, make_attribution, fields):
    with pytest.raises(ValueError, match=r"clip_map must be \[n_frames, 64\]"):
        make_attribution(**{**fields, "clip_map": rng.random((240, 32))})
    with pytest.raises(ValueError, match="one entry per patch"):
        make_attribution(**{**fields, "patch_start_s": [0.0, 0.48]})


def test_a_missing_or_broken_file_names_the_file(tmp_path):
    with pytest.raises(RunError, match="nowhere.npz does not exist"):
        Attribution.load(tmp_path / "nowhere.npz")
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip")
    with pytest.raises(RunError, match="broken.npz is not a readable"):
        Attribution.load(broken)


def test_an_unknown_method_lists_the_known_ones():
    with pytest.raises(SerauditError, match="gradcam, gradcam\\+\\+, lime, lime-time, occlusion"):
        make_explainer("shap")


def test_every_method_explains_the_same_clip_on_the_same_grid(tone_model, tone_clip, tmp_path):
    params = {"lime": {"num_samples": 40}, "lime-time": {"num_samples": 40}, "occlusion": {"stride_frames": 16}}
    attributions = explain_clip([tone_model], tone_clip, list(EXPLAINERS), target="tone", params=params)
    assert [a.method for a in attributions] == list(EXPLAINERS)
    for attribution in attributions:
        assert attribution.clip_map.shape == tone_clip.log_mel.shape
        assert attribution.target_label == "tone" and attribution.seconds > 0
        assert Attribution.load(attribution.save(tmp_path / attribution.method)).method == attribution.method
