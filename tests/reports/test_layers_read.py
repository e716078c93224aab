"""A model page says which layers each head reads, with the learned weights of a weighted sum, from the config `Run` reads."""

from seraudit.core.io import write_json
from seraudit.ensemble.run import Run
from seraudit.reports.run_reader import layers_read


def test_a_weighted_sum_of_layers_is_shown_with_each_layers_weight(tmp_path):
    (tmp_path / "models" / "ensemble").mkdir(parents=True)
    write_json(tmp_path / "models" / "ensemble" / "config.json",
               {"name": "ensemble", "taps": {"yamnet": ["layer7", "layer8"], "vggish": ["conv3"]},
                "layer_weights": {"yamnet": {"layer7": 0.25, "layer8": 0.75}}})
    shown = layers_read(Run(tmp_path, {}).model_config("ensemble"))  # as saved: branches in file order
    assert shown["layers read (chosen on validation speakers)"] == \
        "VGGish conv3; YAMNet weighted sum (layer7 0.25, layer8 0.75)"
    assert shown["clip pooling"].startswith("mean of the kept patches")


def test_a_model_pooling_in_its_graph_says_how():
    shown = layers_read({"name": "yamnet", "taps": {"yamnet": ["layer6"]}, "pooling": "attentive"})
    assert shown["clip pooling"].startswith("attentive statistics pooling") and "'attention'" in shown["clip pooling"]


def test_a_model_saved_before_heads_chose_layers_reads_the_embedding_and_one_without_config_shows_nothing():
    assert layers_read({"name": "yamnet"}) == {"layers read": "the embedding (last layer)"}
    assert layers_read(None) == {}


def test_the_run_reads_a_models_saved_config(tmp_path):
    (tmp_path / "models" / "yamnet").mkdir(parents=True)
    write_json(tmp_path / "models" / "yamnet" / "config.json", {"name": "yamnet", "taps": {"yamnet": ["layer6"]}})
    run = Run(tmp_path, {})
    assert run.model_config("yamnet") == {"name": "yamnet", "taps": {"yamnet": ["layer6"]}}
    assert run.model_config("vggish") is None
