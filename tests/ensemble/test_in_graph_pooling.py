"""Models that pool a clip inside their flat graph (statistics / attentive pooling): prediction, saving, explainers."""

from types import SimpleNamespace

import numpy as np
import pytest

from seraudit.core.io import write_json

LABELS = ["neutral", "happy", "angry"]
N_FRAMES = 300  # 3 s: 6 patches, the last one end-aligned
KEEP = np.array([True, False, True, True, False, True])


def build(pooling: str):
    """A YAMNet model tapping layer 2 (random, seeded weights) with the given pooling, as a `TrainedModel`."""
    import keras

    from seraudit.ensemble.model.graph import build_model
    from seraudit.ensemble.model.trained import TrainedModel

    keras.utils.set_random_seed(3)
    config = {"name": "yamnet", "fusion": None, "head": {}, "taps": {"yamnet": ["layer2"]}, "pooling": pooling}
    built = build_model(config, len(LABELS))
    model = TrainedModel("yamnet", built.keras_model, LABELS, built.conv_layers, built.embedding_layers,
                         {"yamnet": True}, None, pooling=pooling, attention_layers=built.attention_layers)
    return model, built, config


@pytest.fixture(scope="module")
def attentive():
    return build("attentive")


@pytest.fixture(scope="module")
def clip():
    from seraudit.preprocessing.segments import make_patches

    rng = np.random.default_rng(1)
    log_mel = rng.normal(-4.0, 1.0, (N_FRAMES, 64)).astype(np.float32)
    log_mel[100:160, 20:30] += 4.0  # something for the attention to single out
    patches = make_patches(log_mel)
    assert len(patches.data) == len(KEEP)
    return SimpleNamespace(log_mel=log_mel, patches=patches, selection=SimpleNamespace(keep=KEEP.copy()), path=None)


def test_an_attentive_model_pools_the_kept_patches_in_any_order_and_says_how_it_weighed_them(attentive, clip):
    model, built, _ = attentive
    assert model.pools_in_graph and built.attention_layers == {"yamnet": "yamnet_head_attention"}
    prediction = model.predict_clip(clip)
    kept = clip.patches.data[KEEP]
    np.testing.assert_allclose(prediction.probabilities, model.predict_clips(kept[None])[0], atol=1e-6)
    assert prediction.probabilities.sum() == pytest.approx(1.0)
    weights = prediction.attention["yamnet"]
    assert weights.shape == (len(KEEP),) and np.all(weights[~KEEP] == 0)
    assert weights[KEEP].sum() == pytest.approx(1.0, abs=1e-6) and weights[KEEP].std() > 1e-4
    order = np.array([3, 0, 2, 1])  # the same patches, another order: the same clip, the same weights per patch
    np.testing.assert_allclose(model.predict_clips(kept[order][None])[0], prediction.probabilities, atol=1e-5)
    np.testing.assert_allclose(model.attention(kept[order])["yamnet"], weights[KEEP][order], atol=1e-6)
    record = prediction.as_dict()
    assert len(record["attention"]["yamnet"]) == len(KEEP)


def test_each_patch_alone_is_a_one_patch_clip_and_a_clip_differs_from_its_patches(attentive, clip):
    model, _, _ = attentive
    alone = model.predict_patches(clip.patches.data)
    assert alone.shape == (len(KEEP), len(LABELS))
    for i, patch in enumerate(clip.patches.data):
        np.testing.assert_allclose(alone[i], model.predict_clips(patch[None, None])[0], atol=1e-6)
    with pytest.raises(ValueError, match=r"\[S, K>0, 96, 64\]"):
        model.predict_clips(np.zeros((2, 0, 96, 64), np.float32))


def test_statistics_pooling_weighs_every_kept_patch_alike(clip):
    model, built, _ = build("stats")
    assert built.attention_layers == {} and model.pools_in_graph
    prediction = model.predict_clip(clip)
    assert prediction.attention == {} and "attention" not in prediction.as_dict()
    kept = clip.patches.data[KEEP]
    np.testing.assert_allclose(model.predict_clips(kept[::-1][None])[0], prediction.probabilities, atol=1e-5)


def test_a_saved_attentive_model_loads_with_its_pooling_and_predicts_the_same(attentive, clip, tmp_path):
    from seraudit.ensemble.model.trained import load_trained_model

    model, built, config = attentive
    folder = tmp_path / "models" / "yamnet"
    folder.mkdir(parents=True)
    write_json(folder / "config.json", {**built.spec.to_config(), "branch_untrained": {"yamnet": True}})
    write_json(folder / "labels.json", LABELS)
    write_json(folder / "provenance.json", {})
    built.keras_model.save_weights(folder / "model.weights.h5")
    loaded = load_trained_model(tmp_path, "yamnet")
    assert loaded.pooling == "attentive" and loaded.attention_layers == built.attention_layers
    before, after = model.predict_clip(clip), loaded.predict_clip(clip)
    np.testing.assert_allclose(after.probabilities, before.probabilities, atol=1e-6)
    np.testing.assert_allclose(after.attention["yamnet"], before.attention["yamnet"], atol=1e-6)


def test_the_perturbation_scorer_scores_a_clip_as_the_model_predicts_it(attentive, clip):
    from seraudit.xai.explainers.perturbation import ClipScorer

    model, _, _ = attentive
    scorer = ClipScorer(model, clip)
    expected = model.predict_clip(clip).probabilities
    np.testing.assert_allclose(scorer.original(), expected, atol=1e-6)
    np.testing.assert_allclose(scorer(np.stack([clip.log_mel, clip.log_mel])), [expected, expected], atol=1e-6)


def test_whole_clip_occlusion_matches_the_changed_patch_shortcut_on_a_patch_wise_model(clip):
    """The whole-clip path (needed when the graph pools) must agree with the shortcut it replaces."""
    from seraudit.core.constants import NUM_MEL_BANDS
    from seraudit.xai.explainers.occlusion import OcclusionExplainer, window_starts
    from seraudit.xai.explainers.perturbation import ClipScorer

    model, _, _ = build("mean")
    scorer = ClipScorer(model, clip)
    t0s, f0s = window_starts(N_FRAMES, 16, 8), window_starts(NUM_MEL_BANDS, 16, 8)
    band_cover = (np.arange(NUM_MEL_BANDS)[None, :] >= f0s[:, None]) & (np.arange(NUM_MEL_BANDS)[None, :] < f0s[:, None] + 16)
    fill = float(np.log(1e-3))
    shortcut, original = OcclusionExplainer._changed_patch_windows(scorer, clip, t0s, f0s, 16, band_cover, fill)
    whole, original_whole = OcclusionExplainer._whole_clip_windows(scorer, clip, t0s, f0s, 16, 16, fill)
    np.testing.assert_allclose(whole, shortcut, atol=1e-5)
    np.testing.assert_allclose(original_whole, original, atol=1e-6)


def test_occlusion_and_lime_explain_an_attentive_model(attentive, clip):
    from seraudit.xai.explainers.registry import explain_clip

    model, _, _ = attentive
    occlusion, lime = explain_clip([model], clip, ["occlusion", "lime"], params={"lime": {"num_samples": 60}})
    for attribution in (occlusion, lime):
        assert attribution.clip_map.shape == (N_FRAMES, 64) and np.isfinite(attribution.clip_map).all()
        assert np.abs(attribution.clip_map).max() > 0
    assert occlusion.params["original_probability"] == pytest.approx(
        float(model.predict_clip(clip).probabilities[occlusion.target]), abs=1e-6)


def test_gradcam_on_an_attentive_graph_reads_the_kept_patches_and_agrees_with_tf_keras_vis(attentive, clip):
    from seraudit.xai.explainers.gradcam import GradCAM

    model, _, _ = attentive
    fast = GradCAM("fast").explain(model, clip, 0)
    library = GradCAM("tf-keras-vis").explain(model, clip, 0)
    np.testing.assert_allclose(fast.patch_maps, library.patch_maps, atol=1e-4)
    assert np.all(fast.patch_maps[~KEEP] == 0)  # patches the clip does not pool get no credit
    assert fast.patch_maps[KEEP].max() > 0
    assert fast.params["cam_shapes"]["yamnet"] == [48, 32]  # layer 2: a 48 x 32 map per patch


def test_the_attention_method_draws_the_models_patch_weights_over_time(attentive, clip):
    from seraudit.core.constants import PATCH_FRAMES
    from seraudit.xai.explainers.registry import with_pooling_attention
    from seraudit.xai.explainers.perturbation import patch_start_frames
    from seraudit.xai.explainers.pooling_attention import PoolingAttention

    model, _, _ = attentive
    assert with_pooling_attention(("gradcam",), [model]) == ("gradcam", "attention")
    attribution = PoolingAttention().explain(model, clip)
    weights = model.predict_clip(clip).attention["yamnet"]
    expected = np.zeros(N_FRAMES)
    for start, w in zip(patch_start_frames(clip), weights):
        expected[start : start + PATCH_FRAMES] += w
    np.testing.assert_allclose(attribution.time_profile(), expected / expected.max(), atol=1e-6)

    mean_model, _, _ = build("mean")
    assert with_pooling_attention(("gradcam",), [mean_model]) == ("gradcam",)
    uniform = PoolingAttention().explain(mean_model, clip)
    assert "equal weights" in uniform.params["weights"]
    np.testing.assert_allclose(uniform.params["patch_weights"]["pooling"], KEEP / KEEP.sum())


def test_through_the_shared_tower_memo_an_attentive_model_predicts_the_same(attentive, clip):
    """The audit runs every model through shared frozen towers: the head must still read one clip per call."""
    from seraudit.ensemble.inference.shared_backbones import sharing_backbones

    model, _, _ = attentive
    stack = np.stack([clip.patches.data[KEEP], clip.patches.data[KEEP][::-1], clip.patches.data[:4]])
    direct = model.predict_clips(stack)
    with sharing_backbones([model]) as memo:
        shared = model.predict_clips(stack)
        assert len(memo) == 5  # the distinct patches, each through the tower once
    np.testing.assert_allclose(shared, direct, atol=1e-6)
