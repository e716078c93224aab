"""A model spec says everything a model is made of, and the config.json of a saved model is a spec."""

import pytest

from seraudit.ensemble.model.head_layers import HeadConfig
from seraudit.ensemble.model.spec import BACKBONES, FUSIONS, LOGITS_NAME, MODELS, ModelSpec

# config.json of a late-fused ensemble as `seraudit train` writes it.
SAVED_CONFIG = {
    "name": "ensemble",
    "fusion": "late",
    "head": {"hidden": 0, "dropout": 0.0, "l2": 0.03, "learning_rate": 0.001, "epochs": 3, "batch_size": 128, "patience": 10},
    "branch_untrained": {"yamnet": False, "vggish": True},
    "labels": ["neutral", "happy", "sad", "angry"],
    "fine_tune": False,
    "late_fusion_weights": {"yamnet": 0.35, "vggish": 0.65},
    "assembly_check_max_abs_diff": 2.9e-07,
    "reference_prediction": {"path": "a.flac", "probabilities": [0.1, 0.2, 0.3, 0.4], "label": "angry"},
}


def test_a_saved_config_round_trips_through_the_spec():
    spec = ModelSpec.from_config(SAVED_CONFIG)
    assert spec.name == "ensemble" and spec.branches == ("yamnet", "vggish") and spec.fusion == "late"
    assert spec.head == HeadConfig(epochs=3)
    assert spec.to_config() == {k: SAVED_CONFIG[k] for k in ("name", "fusion", "head")}
    assert {**SAVED_CONFIG, **spec.to_config()} == SAVED_CONFIG
    assert ModelSpec.from_config(spec.to_config()) == spec


def test_late_fusion_gives_each_branch_its_own_head_joined_by_weights():
    spec = ModelSpec.named("ensemble", "late")
    assert [(h.key, h.branches) for h in spec.heads] == [("yamnet", ("yamnet",)), ("vggish", ("vggish",))]
    assert spec.weighs_heads
    assert [spec.graph_logits(h) for h in spec.heads] == ["yamnet_head_logits", "vggish_head_logits"]
    assert spec.keras_name == "ensemble_late"


def test_feature_fusion_puts_one_head_on_the_concatenated_embeddings():
    spec = ModelSpec.named("ensemble", "feature")
    (head,) = spec.heads
    assert head.prefix == "fused_head" and head.branches == ("yamnet", "vggish")
    assert spec.input_size(head) == 1024 + 128 and head.embedding_layer == "fused_embedding"
    assert not spec.weighs_heads and spec.graph_logits(head) == LOGITS_NAME


def test_a_single_backbone_model_has_one_head_whose_logits_are_the_models():
    spec = ModelSpec.named("vggish", "late")  # the fusion setting applies to the ensemble only
    assert spec.fusion is None and spec.branches == ("vggish",)
    (head,) = spec.heads
    assert head.prefix == "vggish_head" and head.logits_layer == "vggish_head_logits"
    assert spec.graph_logits(head) == "logits" and spec.keras_name == "vggish"
    assert head == ModelSpec.named("ensemble", "late").heads[1]  # the same head the late ensemble uses


def test_every_backbone_is_a_model_and_a_branch_of_the_ensemble():
    assert set(BACKBONES) <= set(MODELS) and MODELS["ensemble"] == tuple(BACKBONES)
    assert set(FUSIONS) == {"late", "feature"}


def test_unknown_models_and_missing_fusions_are_refused():
    with pytest.raises(ValueError, match="unknown model"):
        ModelSpec.named("wav2vec")
    with pytest.raises(ValueError, match="needs fusion"):
        ModelSpec.from_config({"name": "ensemble"})
    with pytest.raises(ValueError, match="unknown backbone"):
        ModelSpec("mine", ("wav2vec",), None)


def test_chosen_layers_travel_in_the_config_and_old_configs_read_the_embedding():
    spec = ModelSpec.named("ensemble", "late", taps={"yamnet": ("layer8", "layer6"), "vggish": ("fc1",)})
    assert spec.taps_of("yamnet") == ("layer6", "layer8")  # ordered shallow to deep
    config = spec.to_config()
    assert config["taps"] == {"yamnet": ["layer6", "layer8"], "vggish": ["fc1"]}
    assert ModelSpec.from_config(config) == spec
    assert spec.input_size(spec.heads[0]) == 256 + 512 and spec.features_layer("yamnet") == "yamnet_features"
    old = ModelSpec.from_config({"name": "yamnet", "fusion": None, "head": {}})
    assert old.reads_embedding("yamnet") and old.taps_of("yamnet") == ("layer14",) and "taps" not in old.to_config()


def test_an_unknown_layer_is_refused_naming_the_backbone_s_layers():
    with pytest.raises(ValueError, match="yamnet has no layer.*layer15.*its taps are layer1, layer2"):
        ModelSpec.named("yamnet", taps={"yamnet": ("layer15",)})


def test_the_registered_layer_widths_are_the_towers_own():
    """The spec's tap widths (used to size heads without building a graph) match what each tower outputs."""
    import keras

    x = keras.Input((96, 64))
    for name, backbone in BACKBONES.items():
        tower = backbone.add_tower(x)
        assert tuple(tower.taps) == backbone.tap_names
        assert {t: int(out.shape[-1]) for t, out in tower.tap_outputs.items()} == backbone.tap_widths
        short = backbone.add_tower(keras.Input((96, 64)), up_to=backbone.candidate_taps[0][-1])
        assert list(short.taps)[-1] == backbone.candidate_taps[0][-1] and short.embedding is None


def test_a_saved_ensemble_keeps_the_registry_order_of_its_branches():
    """config.json stores branch_untrained as a sorted mapping; the graph's branch order must not follow it."""
    config = ModelSpec.named("ensemble").to_config()
    config["branch_untrained"] = {"vggish": True, "yamnet": False}
    assert ModelSpec.from_config(config).branches == ("yamnet", "vggish")
