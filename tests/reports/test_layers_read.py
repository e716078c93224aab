"""A model page says which layers each head reads, with the learned weights of a weighted sum."""

from types import SimpleNamespace

from seraudit.core.io import write_json
from seraudit.reports.model import _layers_read


def test_a_weighted_sum_of_layers_is_shown_with_each_layers_weight(tmp_path):
    (tmp_path / "models" / "ensemble").mkdir(parents=True)
    write_json(tmp_path / "models" / "ensemble" / "config.json",
               {"name": "ensemble", "taps": {"yamnet": ["layer7", "layer8"], "vggish": ["conv3"]},
                "layer_weights": {"yamnet": {"layer7": 0.25, "layer8": 0.75}}})
    shown = _layers_read(SimpleNamespace(path=tmp_path), "ensemble")
    assert shown["layers read (chosen on validation speakers)"] == \
        "VGGish conv3; YAMNet weighted sum (layer7 0.25, layer8 0.75)"
    assert shown["clip pooling"].startswith("mean of the kept patches")


def test_a_model_pooling_in_its_graph_says_how(tmp_path):
    (tmp_path / "models" / "yamnet").mkdir(parents=True)
    write_json(tmp_path / "models" / "yamnet" / "config.json",
               {"name": "yamnet", "taps": {"yamnet": ["layer6"]}, "pooling": "attentive"})
    shown = _layers_read(SimpleNamespace(path=tmp_path), "yamnet")
    assert shown["clip pooling"].startswith("attentive statistics pooling") and "'attention'" in shown["clip pooling"]
