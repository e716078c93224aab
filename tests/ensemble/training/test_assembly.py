"""Assembly: each model's flat graph, with the fitted heads moved in by layer name, computes what the trainer scored.

The synthetic layers have no audio behind them, so the graphs here are fed each patch's tapped features at the
layer that reads them (the backbone towers below are the backbones' own, checked with real weights by the
end-to-end training test). The synthetic corpus and `fit` come from this folder's conftest.
"""

from types import SimpleNamespace

import numpy as np
import pytest

from seraudit.ensemble.model.clip_pooling import kept_by_clip
from seraudit.ensemble.model.spec import BACKBONES
from seraudit.ensemble.training import assembly
from seraudit.ensemble.training.assembly import ASSEMBLY_TOLERANCE, assemble, model_config, saved_models


class WithoutWeights:
    """A backbone whose weights loader does nothing: the synthetic run has no weights files (its towers keep random
    weights, and the heads read above them)."""

    def __init__(self, backbone):
        self.backbone = backbone

    def load_weights(self, model, source, seed) -> None:
        pass

    def __getattr__(self, name):
        return getattr(self.backbone, name)


@pytest.fixture(autouse=True)
def no_backbone_weights(monkeypatch):
    monkeypatch.setattr(assembly, "BACKBONES", {name: WithoutWeights(b) for name, b in BACKBONES.items()})


def head_graph(built):
    """The assembled graph from each branch's features layer to the model's output."""
    import keras

    model, spec = built.keras_model, built.spec
    return keras.Model([model.get_layer(built.embedding_layers[b]).output for b in spec.branches], model.output)


def graph_patch_probabilities(trainer, name, data, patch_idx):
    """Patch probabilities of model `name`'s assembled graph (mean pooling: the graph scores patch by patch)."""
    built, _ = assemble(trainer, name, data)
    features = [data.head_input((b,), patch_idx, trainer.taps_).astype(np.float32) for b in built.spec.branches]
    return np.asarray(head_graph(built)(features))


def graph_clip_probabilities(trainer, name, data, clips):
    """Clip probabilities of model `name`'s assembled graph (in-graph pooling), fed each clip's kept patches."""
    built, _ = assemble(trainer, name, data)
    graph = head_graph(built)
    kept = kept_by_clip(data.keep, data.patches.clip_index)
    rows = []
    for c in clips:
        idx = np.flatnonzero(kept & (data.patches.clip_index == c))
        out = np.asarray(graph([data.head_input((b,), idx, trainer.taps_).astype(np.float32) for b in built.spec.branches]))
        assert np.allclose(out, out[0], atol=1e-6)  # every row carries the clip's pooled output
        rows.append(out[0])
    return np.asarray(rows)


def test_the_config_records_the_chosen_layers_untrained_branches_and_labels(late, data):
    config = model_config(late, "yamnet", data)
    assert config["taps"] == {"yamnet": ["layer6"]} and config["labels"] == data.labels
    assert config["branch_untrained"] == {"yamnet": False} and config["fine_tune"] is False
    assert "layer_weights" not in config  # a single layer, no learned mix
    ensemble = model_config(late, "ensemble", data)
    assert ensemble["branch_untrained"] == {"yamnet": False, "vggish": True}


def test_feature_fusion_is_recorded_in_the_config(data, fit):
    config = model_config(fit(["ensemble"], data, fusion="feature"), "ensemble", data)
    assert config["fusion"] == "feature" and config["branch_untrained"] == {"yamnet": False, "vggish": True}


def test_a_weighted_mix_of_layers_is_saved_beside_the_layers(spread_data, fit):
    trainer = fit(["yamnet"], spread_data, layer_search="weighted")
    config = model_config(trainer, "yamnet", spread_data)
    assert config["taps"] == {"yamnet": [f"layer{i}" for i in range(7, 13)]}
    assert config["layer_weights"]["yamnet"] == trainer.history_["yamnet"]["layer_weights"]
    assert sum(config["layer_weights"]["yamnet"].values()) == pytest.approx(1.0)


def test_the_late_ensemble_graph_scores_patches_as_the_weighted_heads(late, data):
    idx = np.arange(30)
    for name in ("ensemble", "yamnet", "vggish"):
        np.testing.assert_allclose(graph_patch_probabilities(late, name, data, idx),
                                   np.exp(late.patch_log_probabilities(data, name, idx)), atol=2e-5)
    _, config = assemble(late, "ensemble", data)
    assert config["late_fusion_weights"] == {"yamnet": float(late.late_weights_[0]), "vggish": float(late.late_weights_[1])}


def test_statistics_pooling_graph_pools_as_the_trainer_scored(data, fit, test_clips):
    stats = fit(["ensemble", "yamnet", "vggish"], data, pooling="stats")
    for name in ("yamnet", "ensemble"):
        assert model_config(stats, name, data)["pooling"] == "stats"
        np.testing.assert_allclose(graph_clip_probabilities(stats, name, data, test_clips),
                                   stats.clip_probabilities(data, name, test_clips), atol=2e-5)


def test_statistics_pooling_of_several_layers_keeps_each_weight_on_its_statistic(data, fit, test_clips):
    """The cache alternates mean and std per layer, the graph pools all layers at once: weights must follow."""
    trainer = fit(["yamnet"], data, pooling="stats", layers={"yamnet": ("layer6", "layer14")})
    assert trainer.heads_["yamnet"].coef.shape[0] == 2 * (256 + 1024)
    np.testing.assert_allclose(graph_clip_probabilities(trainer, "yamnet", data, test_clips),
                               trainer.clip_probabilities(data, "yamnet", test_clips), atol=2e-5)


def test_attentive_pooling_graph_listens_and_scores_as_the_trainer(data, fit, test_clips):
    attentive = fit(["ensemble", "yamnet", "vggish"], data, pooling="attentive")
    for name in ("yamnet", "ensemble"):
        np.testing.assert_allclose(graph_clip_probabilities(attentive, name, data, test_clips),
                                   attentive.clip_probabilities(data, name, test_clips), atol=2e-5)


def test_start_heads_replace_the_refitted_ones(late, data):
    """Fine-tuning starts from heads fitted on the training speakers only, not from the refitted ones."""
    other = {key: SimpleNamespace(standardize_weights=head.standardize_weights,
                                  dense_weights=lambda head=head: [2 * w for w in head.dense_weights()])
             for key, head in late.heads_.items()}
    built, _ = assemble(late, "yamnet", data, start_heads=other)
    logits = built.spec.graph_logits(built.spec.heads[0])
    np.testing.assert_allclose(built.keras_model.get_layer(logits).get_weights()[0], 2 * late.heads_["yamnet"].coef)


@pytest.mark.parametrize("gap, refused", [(ASSEMBLY_TOLERANCE / 10, False), (ASSEMBLY_TOLERANCE * 10, True)])
def test_a_graph_that_drifts_from_its_heads_is_never_saved(late, data, monkeypatch, gap, refused):
    monkeypatch.setattr(assembly, "assembly_gap", lambda trainer, model, name, data: gap)
    monkeypatch.setattr(assembly, "reference_prediction", lambda model, name, data, settings: {"label": "sad"})
    if refused:
        with pytest.raises(RuntimeError, match="the assembled ensemble graph differs from its trained heads by 1.00e-02"):
            saved_models(late, data)
        return
    saved = saved_models(late, data)
    assert list(saved) == ["ensemble", "yamnet", "vggish"]  # the neural models, in the run's order
    for _, config in saved.values():
        assert config["assembly_check_max_abs_diff"] == gap and config["reference_prediction"] == {"label": "sad"}
    assert all("assembly_check_max_abs_diff" not in c for _, c in saved_models(late, data, check=False).values())
