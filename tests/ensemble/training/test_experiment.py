"""A run needs the weights of exactly the backbones its models use, records which of them are untrained, and checks
its clips (read with the label map) before any of that."""

from types import SimpleNamespace

import pandas as pd
import pytest

from seraudit.core.errors import CorpusError
from seraudit.ensemble.training.experiment import model_info, read_clips, resolve_sources, trainable_clips
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


def test_a_label_map_with_no_manifest_to_map_is_refused():
    with pytest.raises(CorpusError, match="reads no manifest"):
        read_clips([("ravdess", "x"), ("emodb", "y")], label_map="map.csv")


def test_a_slice_only_warns_about_thin_emotions_of_a_corpus_that_passed():
    table = pd.DataFrame({"path": list("abcdefgh"), "label": ["sad", "angry"] * 4,
                          "speaker": ["s1", "s1", "s2", "s2", "s3", "s3", "s4", "s4"]})
    three = pd.DataFrame({"path": [f"p{i}" for i in range(12)], "label": ["sad", "angry", "happy"] * 4,
                          "speaker": [f"s{i // 3 + 1}" for i in range(12)]})
    settings = TrainSettings(corpus="c", data="d", models=["egemaps"], max_clips=5)
    with pytest.warns(UserWarning, match=r"d \(sliced to 5 clips\): emotion\(s\) spoken by fewer than 2 speakers"):
        sliced = trainable_clips(three, settings, "d")
    assert len(sliced) == 5  # thin, but every fold still trains on two emotions
    settings = TrainSettings(corpus="c", data="d", models=["egemaps"], max_clips=3)
    with pytest.warns(UserWarning), pytest.raises(CorpusError, match=r"d \(sliced to 3 clips\): 3 fold\(s\) cannot be trained"):
        trainable_clips(table, settings, "d")  # one clip per speaker: every fold would train on one emotion
    thin = table.assign(label=["sad", "angry"] + ["sad"] * 6)  # angry spoken by s1 only: the corpus itself fails
    with pytest.raises(CorpusError, match=r"^d: emotion\(s\) spoken by fewer than 2 speakers \('angry': 1\)"):
        trainable_clips(thin, settings, "d")
