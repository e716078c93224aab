"""A run needs the weights of exactly the backbones its models use, and records which of them are untrained."""

from types import SimpleNamespace

from seraudit.ensemble.training.experiment import model_info, resolve_sources
from seraudit.ensemble.training.settings import TrainSettings


def test_only_the_backbones_of_the_chosen_models_are_resolved(models_dir):
    assert resolve_sources(["egemaps"], str(models_dir), ()) == {}
    sources = resolve_sources(["yamnet", "egemaps"], str(models_dir), (), download=False)
    assert list(sources) == ["yamnet"] and sources["yamnet"].pretrained


def test_model_info_marks_untrained_backbones_and_the_ensembles_fusion():
    settings = TrainSettings(corpus="c", data="d", models=["ensemble", "vggish", "yamnet", "egemaps"], fusion="feature")
    sources = {"yamnet": SimpleNamespace(pretrained=True), "vggish": SimpleNamespace(pretrained=False)}
    assert model_info(settings, sources) == {
        "ensemble": {"fusion": "feature", "untrained": ["vggish"]},
        "vggish": {"fusion": None, "untrained": ["vggish"]},
        "yamnet": {"fusion": None, "untrained": []},
        "egemaps": {"fusion": None, "untrained": []},
    }
