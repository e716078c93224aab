"""Grad-CAM and Grad-CAM++ point at the evidence, agree with tf-keras-vis, and fuse branches by the documented rule."""

from __future__ import annotations

import numpy as np
import pytest

from seraudit.xai.explainers.gradcam import GradCAM, GradCAMPlusPlus, fuse_branch_maps

TONE = 1


def inside_over_outside(clip_map, region):
    return clip_map[region].mean() / (np.abs(clip_map[~region]).mean() + 1e-12)


@pytest.fixture(scope="module")
def maps(tone_model, tone_clip):
    return {
        (cls.method, impl): cls(implementation=impl).explain(tone_model, tone_clip, TONE)
        for cls in (GradCAM, GradCAMPlusPlus)
        for impl in ("fast", "tf-keras-vis")
    }


@pytest.mark.parametrize("method", ["gradcam", "gradcam++"])
def test_the_map_points_at_the_tone_not_at_the_clicks(maps, tone_region, method):
    clip_map = maps[(method, "fast")].clip_map
    assert inside_over_outside(clip_map, tone_region) > 2.0
    assert np.unravel_index(np.argmax(clip_map), clip_map.shape) in set(zip(*np.nonzero(tone_region)))


@pytest.mark.parametrize("method", ["gradcam", "gradcam++"])
def test_fast_path_gives_the_tf_keras_vis_map(maps, method):
    fast, reference = maps[(method, "fast")], maps[(method, "tf-keras-vis")]
    assert np.corrcoef(fast.clip_map.ravel(), reference.clip_map.ravel())[0, 1] >= 0.99
    for branch, reference_map in reference.branch_maps.items():
        assert np.corrcoef(fast.branch_maps[branch].ravel(), reference_map.ravel())[0, 1] >= 0.99


def test_maps_live_on_the_clips_grid_with_its_patch_times(maps, tone_clip):
    attribution = maps[("gradcam", "fast")]
    assert attribution.clip_map.shape == tone_clip.log_mel.shape
    assert attribution.patch_maps.shape == tone_clip.patches.data.shape
    np.testing.assert_allclose(attribution.patch_start_s, tone_clip.patches.start_s)
    np.testing.assert_allclose(attribution.patch_end_s, tone_clip.patches.end_s)
    assert attribution.clip_map.min() >= 0.0 and attribution.clip_map.max() == pytest.approx(1.0)
    assert (attribution.target, attribution.target_label, attribution.model) == (TONE, "tone", "ensemble")


def test_ensemble_map_is_the_contribution_weighted_sum_of_branch_maps(maps, tone_model, tone_clip):
    import keras
    import tensorflow as tf

    attribution = maps[("gradcam", "fast")]
    assert set(attribution.branch_maps) == {"alpha", "beta"}
    # Contributions recomputed independently: gradient x activation totals of each branch's last convolution
    # over the kept patches.
    keras_model = tone_model.keras_model
    sub = keras.Model(keras_model.inputs, [keras_model.get_layer(n).output for n in ("alpha_conv", "beta_conv", "logits")])
    kept = tone_clip.selection.keep  # the clip's prediction pools the GDS-kept patches, so they alone contribute
    x = tf.constant(tone_clip.patches.data[kept])
    with tf.GradientTape() as tape:
        tape.watch(x)
        alpha, beta, logits = sub(x)
        score = tf.reduce_sum(logits[:, TONE])
    grads = tape.gradient(score, [alpha, beta])
    contributions = {b: float(tf.reduce_sum(a * g)) for b, a, g in zip(("alpha", "beta"), (alpha, beta), grads)}
    for branch, value in contributions.items():
        assert attribution.params["branch_contributions"][branch] == pytest.approx(value, rel=1e-4, abs=1e-6)

    positive = {b: max(c, 0.0) for b, c in contributions.items()}
    weights = {b: p / sum(positive.values()) for b, p in positive.items()}
    expected = sum(weights[b] * attribution.branch_maps[b] for b in weights)
    np.testing.assert_allclose(attribution.clip_map, expected / expected.max(), atol=1e-5)
    assert attribution.params["branch_weights"] == pytest.approx(weights)


def test_fusion_rule_falls_back_to_equal_weights_when_no_branch_supports_the_target():
    a, b = np.zeros((100, 64), np.float32), np.zeros((100, 64), np.float32)
    a[10, 5], b[50, 7] = 1.0, 1.0
    fused, weights = fuse_branch_maps({"a": a, "b": b}, {"a": -2.0, "b": -0.5})
    assert weights == {"a": 0.5, "b": 0.5}
    assert fused[10, 5] == fused[50, 7] == 1.0


def test_default_target_is_the_models_clip_prediction(tone_model, tone_clip):
    predicted = int(np.argmax(tone_model.predict_clip(tone_clip).probabilities))
    assert GradCAM().explain(tone_model, tone_clip).target == predicted


def test_an_unknown_implementation_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="tf-keras-vis"):
        GradCAM(implementation="captum")


def tf_keras_vis_raw_cams(model, patches, target, plus_plus):
    """Each branch's raw class-activation maps ``[N, h, w]`` from tf-keras-vis (the reference implementation)."""
    from tf_keras_vis.gradcam import Gradcam, GradcamPlusPlus
    from tf_keras_vis.utils.scores import CategoricalScore

    from seraudit.xai.explainers.gradcam import _logits_submodel

    vis = (GradcamPlusPlus if plus_plus else Gradcam)(_logits_submodel(model.keras_model), model_modifier=None,
                                                       clone=False)
    return {b: np.asarray(vis(CategoricalScore(target), patches, penultimate_layer=layer,
                               seek_penultimate_conv_layer=False, expand_cam=False, normalize_cam=False))
            for b, layer in model.conv_layers.items()}


@pytest.mark.parametrize("target", [0, TONE])
def test_one_pass_gives_both_methods_raw_maps_as_tf_keras_vis_does(tone_model, tone_clip, target):
    from seraudit.xai.explainers.gradcam import gradient_pass

    patches = np.asarray(tone_clip.patches.data, np.float32)
    plain, plus, _ = gradient_pass(tone_model, patches, target, batch_size=256)
    for branch, reference in tf_keras_vis_raw_cams(tone_model, patches, target, plus_plus=False).items():
        np.testing.assert_allclose(plain[branch], reference, rtol=1e-4, atol=1e-5 * reference.max())
    for branch, reference in tf_keras_vis_raw_cams(tone_model, patches, target, plus_plus=True).items():
        # tf-keras-vis weighs by exp(score), the fast path by exp(score - max score): one factor per clip.
        scale = plus[branch].max() / reference.max()
        np.testing.assert_allclose(plus[branch], reference * scale, rtol=1e-4, atol=1e-5 * plus[branch].max())


def test_the_second_method_reuses_the_first_ones_pass_only_for_the_same_clip_and_target(tone_model, tone_clip):
    from seraudit.xai.explainers.gradcam import gradient_pass, sharing_gradient_passes

    alone = {(cls.method, t): cls().explain(tone_model, tone_clip, t) for cls in (GradCAM, GradCAMPlusPlus)
             for t in (0, TONE)}
    with sharing_gradient_passes():
        for target in (0, TONE):  # as an audit asks: Grad-CAM, then Grad-CAM++ on the pass it left, then another target
            for cls in (GradCAM, GradCAMPlusPlus):
                attribution = cls().explain(tone_model, tone_clip, target)
                reference = alone[(cls.method, target)]
                np.testing.assert_array_equal(attribution.clip_map, reference.clip_map)
                assert attribution.params["branch_contributions"] == reference.params["branch_contributions"]
        patches = np.asarray(tone_clip.patches.data, np.float32)
        first, _, _ = gradient_pass(tone_model, patches, TONE, 256)
        reversed_, _, _ = gradient_pass(tone_model, patches[::-1], TONE, 256)  # other patches: never the cached pass
    for branch, cams in first.items():
        np.testing.assert_allclose(reversed_[branch], cams[::-1], rtol=1e-5, atol=1e-6)
        assert not np.allclose(cams, cams[::-1])


def test_a_pass_is_never_reused_outside_a_sharing_block_where_weights_may_change(tone_model, tone_clip):
    """Model randomisation redraws a copy's weights in place between two explanations of the same clip and target."""
    from seraudit.xai.explainers.gradcam import sharing_gradient_passes
    from seraudit.xai.metrics.sanity import model_copy, reinitialise_layers

    copy = model_copy(tone_model)
    before = GradCAMPlusPlus().explain(copy, tone_clip, TONE)
    reinitialise_layers(copy.keras_model, ["logits"], seed=1)
    after = GradCAM().explain(copy, tone_clip, TONE)
    with sharing_gradient_passes():
        expected = GradCAM().explain(copy, tone_clip, TONE)
    np.testing.assert_array_equal(after.clip_map, expected.clip_map)
    assert after.params["branch_contributions"] != before.params["branch_contributions"]
