"""An explanation that depends on the learned weights changes when they are destroyed; the model itself never does."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from seraudit.ensemble.model.trained import TrainedModel
from seraudit.preprocessing.segments import make_patches, merge_patch_maps
from seraudit.xai.metrics.sanity import model_randomisation, randomisation_stages


def tiny_model() -> TrainedModel:
    """A flat graph laid out like the real ones: tower (convs + BN) -> embedding -> dense head -> logits."""
    import keras

    keras.utils.set_random_seed(7)
    L = keras.layers
    x_in = keras.Input((96, 64), name="log_mel")
    x = L.Reshape((96, 64, 1), name="tiny_reshape")(x_in)
    x = L.Conv2D(4, 3, strides=2, activation="relu", name="tiny_conv1")(x)
    x = L.BatchNormalization(name="tiny_bn1")(x)
    x = L.DepthwiseConv2D(3, strides=2, activation="relu", name="tiny_dw2")(x)
    x = L.Conv2D(8, 1, activation="relu", name="tiny_pw2")(x)
    x = L.Conv2D(8, 3, strides=2, activation="relu", name="tiny_conv3")(x)
    emb = L.GlobalAveragePooling2D(name="tiny_embedding")(x)
    h = L.BatchNormalization(name="tiny_head_standardize", trainable=False)(emb)
    h = L.Dense(16, activation="relu", name="tiny_head_dense")(h)
    logits = L.Dense(3, name="logits")(h)
    probs = L.Activation("softmax", name="probabilities")(logits)
    return TrainedModel(
        name="tiny", keras_model=keras.Model(x_in, probs), labels=["neutral", "happy", "angry"],
        conv_layers={"tiny": "tiny_conv3"}, embedding_layers={"tiny": "tiny_embedding"},
        branch_untrained={"tiny": False}, fusion=None,
    )  # fmt: skip


class Saliency:
    """Gradient of the target logit with respect to the log-mel (Simonyan et al. 2014), merged on the clip grid."""

    method = "saliency"

    def __init__(self, make_attribution) -> None:
        self.make_attribution = make_attribution

    def explain(self, model, clip, target):
        import keras
        import tensorflow as tf

        km = model.keras_model
        logits_model = keras.Model(km.inputs, km.get_layer("logits").output)
        x = tf.constant(clip.patches.data)
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = tf.reduce_sum(logits_model(x, training=False)[:, target])
        grads = np.abs(tape.gradient(score, x).numpy())
        clip_map = merge_patch_maps(grads, clip.patches.hop_frames, clip.patches.n_frames)
        return self.make_attribution(
            clip_map, self.method, model=model.name, target=target, target_label=model.labels[target],
            patch_maps=grads, patch_start_s=clip.patches.start_s, patch_end_s=clip.patches.end_s,
        )  # fmt: skip


@pytest.fixture(scope="module")
def model():
    return tiny_model()


@pytest.fixture(scope="module")
def clip():
    log_mel = np.random.default_rng(3).normal(-3.0, 1.0, size=(200, 64)).astype(np.float32)
    patches = make_patches(log_mel)
    return SimpleNamespace(log_mel=log_mel, patches=patches, selection=SimpleNamespace(keep=np.ones(len(patches), bool)))


def test_cascade_goes_from_the_head_down_one_block_at_a_time(model):
    stages = randomisation_stages(model, n_blocks=5)
    assert stages[0] == ("head", ["tiny_head_dense", "logits"])  # the frozen standardisation is data, not learned
    added = [sorted(set(b) - set(a)) for (_, a), (_, b) in zip(stages, stages[1:])]
    assert added == [["tiny_conv3"], ["tiny_dw2", "tiny_pw2"], ["tiny_bn1", "tiny_conv1"]]


def test_saliency_decorrelates_as_weights_are_randomised_and_the_model_is_untouched(model, clip, make_attribution):
    before = [w.copy() for w in model.keras_model.get_weights()]
    prediction_before = model.predict_clip(clip).probabilities

    table = model_randomisation(model, [Saliency(make_attribution)], clip, target=2, n_blocks=3, seed=0)

    assert list(table.stage_name) == ["head", "head + top 1 block", "head + top 2 blocks", "head + top 3 blocks"]
    rho = table.similarity.to_numpy()
    assert rho[-1] < 0.5  # the fully randomised model gets a different explanation
    assert rho[-1] < rho[0] - 0.2  # and it drifts away as more layers are randomised
    assert (table.method == "saliency").all() and (table.model == "tiny").all()
    after = model.keras_model.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(before, after))
    np.testing.assert_allclose(model.predict_clip(clip).probabilities, prediction_before)


def test_the_model_randomisation_member_reads_the_last_stage_of_one_shared_cascade(model, clip, make_attribution):
    from seraudit.xai.metrics.base import MetricContext
    from seraudit.xai.metrics.sanity import ModelRandomisation

    explainer = Saliency(make_attribution)
    original = explainer.explain(model, clip, 2)
    context = MetricContext(model, clip, original, {"saliency": original}, {"saliency": explainer})
    result = ModelRandomisation(n_blocks=2, seed=0)(context)
    table = model_randomisation(model, [explainer], clip, target=2, n_blocks=2, seed=0)
    assert result.value == pytest.approx(table.similarity.iloc[-1])
    assert result.control == pytest.approx(table.control.iloc[-1])  # two independently randomised models
    assert result.threshold == pytest.approx((1 + result.control) / 2)
    assert result.details["stage_name"] == "head + top 2 blocks" and not result.higher_is_better
    assert [row["similarity"] for row in result.details["rows"]] == pytest.approx(table.similarity.tolist())
    cascades = [key for key in context.shared if key[0] == "model_randomisation"]
    assert len(cascades) == 1  # one cascade for every method of this clip and model


def test_the_similarity_is_sign_free(rng):
    from seraudit.xai.metrics.sanity import map_similarity

    a, b = rng.normal(size=(50, 64)), rng.normal(size=(50, 64))
    b = b + 2 * np.abs(a)  # shares the importance pattern of |a|
    assert map_similarity(a, b) == pytest.approx(map_similarity(-a, b)) == pytest.approx(map_similarity(a, -b))
    assert map_similarity(a, -a) == pytest.approx(1.0)  # a negated map has not changed its importance pattern
    assert map_similarity(np.zeros((4, 4)), np.zeros((4, 4))) == 1.0  # nothing ranked on either side
    assert map_similarity(np.zeros((4, 4)), a[:4, :4]) == 0.0  # the pattern is gone


class Negating(Saliency):
    """Saliency whose sign flips with the model's head: the signed correlation would call it changed."""

    method = "negating"

    def explain(self, model, clip, target):
        attribution = super().explain(model, clip, target)
        changed = not np.isclose(np.sum(model.keras_model.get_layer("logits").get_weights()[0]), self.reference)
        flip = -1.0 if changed else 1.0
        return self.make_attribution(flip * attribution.clip_map, self.method, model=model.name, target=target,
                                     target_label=attribution.target_label)


class Fixed:
    """A map that ignores the model (seeded noise of the clip, or the input's energy): it must fail."""

    method = "fixed"

    def __init__(self, make_attribution) -> None:
        self.make_attribution = make_attribution

    def explain(self, model, clip, target):
        noise = np.random.default_rng(11).normal(size=np.shape(clip.log_mel))
        return self.make_attribution(noise, self.method, model=model.name, target=target,
                                     target_label=model.labels[target])


def test_a_map_that_ignores_the_weights_fails_and_one_that_follows_them_passes(model, clip, make_attribution):
    from seraudit.xai.audit.checks import metric_status
    from seraudit.xai.audit.summary import summary_cell
    from seraudit.xai.metrics.base import MetricContext
    from seraudit.xai.metrics.sanity import ModelRandomisation

    explainers = {"saliency": Saliency(make_attribution), "fixed": Fixed(make_attribution)}
    results = {name: [] for name in explainers}
    for target in (0, 1, 2):  # three questions asked of the model: three calibrated clips
        originals = {name: e.explain(model, clip, target) for name, e in explainers.items()}
        shared = {}
        for name, original in originals.items():
            context = MetricContext(model, clip, original, originals, explainers, shared)
            results[name].append(ModelRandomisation(n_blocks=2, seed=target)(context))
    fixed = summary_cell(ModelRandomisation, results["fixed"])
    assert fixed["value"] == pytest.approx(1.0) and fixed["threshold"] == pytest.approx(1.0)
    assert metric_status(ModelRandomisation, fixed) == "fail"
    follows = summary_cell(ModelRandomisation, results["saliency"])
    assert follows["value"] < follows["threshold"] and follows["margin_ci"][0] > 0
    assert metric_status(ModelRandomisation, follows) == "pass"


def test_a_negated_map_is_not_a_changed_map(model, clip, make_attribution):
    explainer = Negating(make_attribution)
    explainer.reference = float(np.sum(model.keras_model.get_layer("logits").get_weights()[0]))  # randomised: negated
    negated = model_randomisation(model, {"negating": explainer}, clip, target=2, n_blocks=1, seed=0, control=False)
    plain = model_randomisation(model, {"saliency": Saliency(make_attribution)}, clip, target=2, n_blocks=1, seed=0,
                                control=False)
    assert negated.similarity.tolist() == pytest.approx(plain.similarity.tolist())  # sign-free: the same figure
    assert negated.spearman.tolist() == pytest.approx((-plain.spearman).tolist())  # the signed one would "pass" it


def test_the_frontier_is_where_the_unchanged_graph_ends(model):
    from seraudit.xai.metrics.sanity import frontier_layers

    stages = dict(randomisation_stages(model, n_blocks=2))
    assert frontier_layers(model.keras_model, stages["head"]) == ["tiny_head_standardize"]
    assert frontier_layers(model.keras_model, stages["head + top 1 block"]) == ["tiny_pw2"]
    assert frontier_layers(model.keras_model, stages["head + top 2 blocks"]) == ["tiny_bn1"]


def test_perturbation_maps_are_the_same_whether_the_frozen_part_is_shared_or_recomputed(model, clip, monkeypatch):
    """Taking the unchanged layers' outputs from the trained graph must not change any stage's map."""
    from seraudit.xai.explainers.registry import make_explainer
    from seraudit.xai.metrics import sanity

    occlusion = {"occlusion": make_explainer("occlusion")}
    shared = model_randomisation(model, occlusion, clip, target=1, n_blocks=2, seed=0)
    monkeypatch.setattr(sanity, "FrozenBelow", lambda *args: None)
    recomputed = model_randomisation(model, occlusion, clip, target=1, n_blocks=2, seed=0)
    np.testing.assert_allclose(shared.similarity, recomputed.similarity, atol=1e-6)
    np.testing.assert_allclose(shared.control, recomputed.control, atol=1e-6, equal_nan=True)
    np.testing.assert_allclose(shared.target_probability, recomputed.target_probability, rtol=1e-5)
    assert shared.similarity.iloc[0] > shared.similarity.iloc[-1]  # the stages did change the model


def test_models_of_one_clip_that_share_a_tower_run_its_frozen_part_once(model, clip):
    """The second model's cascade finds the shared tower's outputs in the clip's memo and its maps do not change."""
    from seraudit.ensemble.inference.shared_backbones import EmbeddingMemo
    from seraudit.xai.explainers.registry import make_explainer

    import dataclasses

    other = dataclasses.replace(tiny_model(), name="other")  # the same tower weights, another head
    dense = other.keras_model.get_layer("tiny_head_dense")
    dense.set_weights([w[::-1] + 0.3 for w in dense.get_weights()])
    occlusion = {"occlusion": make_explainer("occlusion")}
    alone = model_randomisation(other, occlusion, clip, target=1, n_blocks=2, seed=0, frozen_memo=EmbeddingMemo())
    memo = EmbeddingMemo()
    model_randomisation(model, occlusion, clip, target=1, n_blocks=2, seed=0, frozen_memo=memo)
    computed = memo.misses
    shared = model_randomisation(other, occlusion, clip, target=1, n_blocks=2, seed=0, frozen_memo=memo)
    assert computed > 0 and memo.misses == computed  # every frozen output came from the first model's pass
    np.testing.assert_allclose(shared.similarity, alone.similarity, atol=1e-6)
    np.testing.assert_allclose(shared.target_probability, alone.target_probability, rtol=1e-5)


def test_the_frozen_part_of_a_two_branch_graph_splits_by_branch():
    import keras

    from seraudit.xai.metrics.sanity import branch_parts

    L = keras.layers
    x_in = keras.Input((96, 64), name="log_mel")
    image = L.Reshape((96, 64, 1), name="shared_reshape")(x_in)
    a1 = L.Conv2D(2, 3, name="a_conv1")(image)
    a2 = L.Conv2D(2, 3, name="a_conv2")(a1)
    b1 = L.Conv2D(2, 3, name="b_conv1")(x_in[..., None])
    b2 = L.Conv2D(2, 3, name="b_conv2")(b1)
    pooled = [L.GlobalAveragePooling2D(name=f"{n}_embedding")(t) for n, t in (("a", a2), ("b", b2))]
    graph = keras.Model(x_in, L.Concatenate(name="both")(pooled))
    parts = branch_parts(graph, ["a_embedding", "b_conv1", "a_conv1", "b_embedding"])
    assert parts == [["a_conv1", "a_embedding"], ["b_conv1", "b_embedding"]]
