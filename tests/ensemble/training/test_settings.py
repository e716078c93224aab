"""Training settings: frozen once built, and recorded in a run exactly as runs before this module recorded them."""

import dataclasses

import pytest

from seraudit.ensemble.data.augmented_copies import TRAIN_AUGMENTATION
from seraudit.ensemble.model.head_layers import HeadConfig
from seraudit.ensemble.model.spec import BACKBONES
from seraudit.ensemble.training.fine_tune_batches import fine_tune_augmentation, fine_tune_augmentation_seed
from seraudit.ensemble.training.settings import FINE_TUNE_LAYERS, TrainSettings, parse_layers
from seraudit.preprocessing.gds import GdsSettings

HEAD = {"hidden": 0, "dropout": 0.0, "l2": 0.03, "learning_rate": 0.001, "epochs": 150, "batch_size": 128, "patience": 10}


def plain() -> TrainSettings:
    return TrainSettings(corpus="ravdess", data="/data/ravdess", models=["ensemble", "yamnet", "vggish", "egemaps"],
                         command_line=["seraudit", "train"])


def every_variant() -> TrainSettings:
    return TrainSettings(
        corpus="emodb", data="/data/emodb", models=["yamnet", "egemaps"], fusion="feature", fine_tune=True,
        gds=GdsSettings(True, 0.4), head=HeadConfig(epochs=3), seed=7, max_clips=40, allow_untrained=("vggish",),
        n_boot=100, command_line=["x"], fine_tune_epochs=5, fine_tune_backbone_lr_ratio=0.2, fine_tune_augment="mild",
        mixup_alpha=0.4, layers={"yamnet": ("layer8",), "vggish": ("fc1",)},
        weights={"yamnet": "https://tfhub.dev/google/yamnet/1"}, layer_search="all", aux_tasks=("gender",),
        aux_weight=0.5, augment_copies=2, tta_copies=3, pooling="stats",
    )


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(TrainSettings)])
def test_no_setting_can_be_changed_after_construction(field):
    settings = every_variant()
    before = settings.to_dict()
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(settings, field, getattr(plain(), field))
    assert settings.to_dict() == before


@pytest.mark.parametrize("part, field", [("head", "epochs"), ("gds", "threshold")])
def test_nor_can_the_settings_parts(part, field):
    settings = every_variant()
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(getattr(settings, part), field, 1)


def test_a_variant_is_a_new_settings_object_and_leaves_the_original_as_it_was():
    settings = plain()
    tuned = dataclasses.replace(settings, fine_tune=True, mixup_alpha=0.3)
    assert tuned.fine_tune and tuned.fine_tune_config().mixup_alpha == 0.3
    assert not settings.fine_tune and settings.to_dict() == plain().to_dict()


def test_default_settings_are_recorded_as_before_without_the_settings_added_since():
    """Saved runs compare this record to decide reuse (`Run.reusable`): a changed key would retrain every run."""
    assert plain().to_dict() == {
        "corpus": "ravdess", "data": "/data/ravdess", "models": ["ensemble", "yamnet", "vggish", "egemaps"],
        "fusion": "late", "fine_tune": False, "fine_tune_layers": None, "fine_tune_epochs": None,
        "gds": {"enabled": True, "threshold": 0.4}, "head": HEAD, "seed": 0, "max_clips": None, "allow_untrained": [],
        "n_boot": 2000, "command_line": ["seraudit", "train"], "layers": "searched on validation speakers",
    }


def test_every_variant_is_recorded_as_before():
    record = every_variant().to_dict()
    fine_tuning = record.pop("fine_tuning")
    assert record == {
        "corpus": "emodb", "data": "/data/emodb", "models": ["yamnet", "egemaps"], "fusion": "feature",
        "fine_tune": True, "fine_tune_layers": FINE_TUNE_LAYERS, "fine_tune_epochs": 5,
        "gds": {"enabled": True, "threshold": 0.4}, "head": {**HEAD, "epochs": 3}, "seed": 7, "max_clips": 40,
        "allow_untrained": ["vggish"], "n_boot": 100, "command_line": ["x"],
        "layers": {"yamnet": ["layer8"], "vggish": ["fc1"]}, "weights": {"yamnet": "https://tfhub.dev/google/yamnet/1"},
        "layer_search": "all", "aux_tasks": ["gender"], "aux_weight": 0.5, "augment_copies": 2,
        "augmentation": TRAIN_AUGMENTATION.to_dict(), "tta_copies": 3, "pooling": "stats",
    }
    assert list(record) == ["corpus", "data", "models", "fusion", "fine_tune", "fine_tune_layers", "fine_tune_epochs",
                            "gds", "head", "seed", "max_clips", "allow_untrained", "n_boot", "command_line", "layers",
                            "weights", "layer_search", "aux_tasks", "aux_weight", "augment_copies", "augmentation",
                            "tta_copies", "pooling"]  # fmt: skip
    assert fine_tuning == {
        "head_lr": 0.0001, "backbone_lr_ratio": 0.2, "epochs": 5, "patience": 3, "batch_size": 32, "augment": "mild",
        "mixup_alpha": 0.4, "backbone_lr": pytest.approx(2e-05),
        "augmentation": fine_tune_augmentation("mild", 0.4).to_dict(), "augmentation_seed": fine_tune_augmentation_seed(7),
    }


def test_fine_tuning_settings_enter_the_provenance_only_when_fine_tuning():
    plain = TrainSettings(corpus="emodb", data="x", models=["yamnet"], command_line=[])
    assert "fine_tuning" not in plain.to_dict()
    assert TrainSettings(corpus="emodb", data="x", models=["yamnet"], command_line=[], mixup_alpha=0.3,
                         fine_tune_backbone_lr_ratio=0.5).to_dict() == plain.to_dict()
    tuned = TrainSettings(corpus="emodb", data="x", models=["yamnet"], command_line=[], fine_tune=True, mixup_alpha=0.3,
                          fine_tune_backbone_lr_ratio=0.05, seed=4).to_dict()["fine_tuning"]
    assert tuned["backbone_lr"] == pytest.approx(tuned["head_lr"] * 0.05) and tuned["mixup_alpha"] == 0.3
    assert tuned["augmentation"]["mixup_alpha"] == 0.3
    assert tuned["augmentation_seed"] == fine_tune_augmentation_seed(4) != fine_tune_augmentation_seed(5)
    clean = TrainSettings(corpus="emodb", data="x", models=["yamnet"], command_line=[], fine_tune=True,
                          fine_tune_augment="off").to_dict()["fine_tuning"]
    assert clean["augment"] == "off" and "augmentation" not in clean and "augmentation_seed" not in clean


def test_specs_name_the_neural_models_in_order_with_the_settings_fusion_and_pooling():
    settings = dataclasses.replace(plain(), models=["egemaps", "yamnet", "ensemble"], fusion="feature", pooling="stats")
    specs = settings.specs()
    assert list(specs) == ["yamnet", "ensemble"]  # the eGeMAPS baseline has no graph
    assert specs["ensemble"].fusion == "feature" and all(s.pooling == "stats" for s in specs.values())


def test_layers_are_searched_the_embeddings_or_named_ones_and_unknown_names_are_refused():
    assert parse_layers("search") is None and parse_layers("  ") is None
    assert parse_layers("last") == {name: (backbone.embedding_tap,) for name, backbone in BACKBONES.items()}
    assert parse_layers("yamnet:layer6+layer8,vggish:fc1") == {"yamnet": ("layer6", "layer8"), "vggish": ("fc1",)}
    for text in ("resnet:layer1", "yamnet", "yamnet:"):
        with pytest.raises(ValueError, match="BACKBONE:LAYER"):
            parse_layers(text)
    with pytest.raises(ValueError, match="yamnet has no layer"):
        parse_layers("yamnet:layer99")
