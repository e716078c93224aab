"""`seraudit train` builds its `TrainSettings` once, from the command line alone, and hands that object on unchanged."""

from __future__ import annotations

import sys

import pytest

from seraudit.cli import build_parser
from seraudit.cli.commands import train
from seraudit.core.errors import CorpusError
from seraudit.ensemble.model.head_layers import HeadConfig
from seraudit.ensemble.training.settings import TrainSettings
from seraudit.preprocessing.gds import GdsSettings

REQUIRED = ["train", "--corpus", "emodb", "--data", "/x/emodb", "--out", "r"]
FINE_TUNING = ["--fine-tune", "--fine-tune-epochs", "5", "--backbone-lr-ratio", "0.2", "--fine-tune-augment", "mild",
               "--mixup", "0.4"]
VARIANTS = ["--layers", "yamnet:layer8,vggish:fc1", "--layer-search", "all", "--multitask", "gender,intensity",
            "--aux-weight", "0.5", "--augment", "2", "--pooling", "stats", "--weights",
            "yamnet=https://tfhub.dev/google/yamnet/1", "--gds-threshold", "0.3", "--max-clips", "40", "--bootstrap",
            "100", "--strict", "--label-map", "m.csv", "--allow-untrained", "vggish", "--no-download", "--models-dir",
            "md", "--cache-dir", "cd", "--fusion", "feature", "--seed", "7", "--quiet", "--models", "yamnet,egemaps"]


def settings_of(argv: list[str], monkeypatch) -> TrainSettings:
    monkeypatch.setattr(sys, "argv", ["seraudit", *argv])
    return train.train_settings(build_parser().parse_args(argv))


def expected(argv: list[str], **fields) -> TrainSettings:
    """What the command built before its settings were frozen (every field named, none left to a default)."""
    defaults = dict(corpus="emodb", data="/x/emodb", models=["ensemble", "yamnet", "vggish", "egemaps"], fusion="late",
                    fine_tune=False, gds=GdsSettings(True, None), head=HeadConfig(), seed=0, max_clips=None,
                    models_dir=None, allow_untrained=(), download=True, cache_dir=None, progress=True, n_boot=2000,
                    command_line=["seraudit", *argv], fine_tune_epochs=20, fine_tune_backbone_lr_ratio=0.1,
                    fine_tune_augment="full", mixup_alpha=0.0, layers=None, weights=None, layer_search="unweighted",
                    aux_tasks=(), aux_weight=0.3, augment_copies=0, tta_copies=0, pooling="mean", strict=False,
                    label_map=None)  # fmt: skip
    return TrainSettings(**{**defaults, **fields})


def test_the_defaults_of_the_command_are_the_settings_defaults(monkeypatch):
    assert settings_of(REQUIRED, monkeypatch) == expected(REQUIRED)


def test_the_fine_tuning_options_enter_the_settings_they_were_built_with(monkeypatch):
    argv = [*REQUIRED, *FINE_TUNING]
    settings = settings_of(argv, monkeypatch)
    assert settings == expected(argv, fine_tune=True, fine_tune_epochs=5, fine_tune_backbone_lr_ratio=0.2,
                                fine_tune_augment="mild", mixup_alpha=0.4)
    assert settings.to_dict()["fine_tuning"]["backbone_lr_ratio"] == 0.2 and settings.to_dict()["fine_tune_epochs"] == 5


def test_every_other_option_enters_the_settings(monkeypatch):
    argv = [*REQUIRED, *VARIANTS]
    assert settings_of(argv, monkeypatch) == expected(
        argv, models=["yamnet", "egemaps"], fusion="feature", gds=GdsSettings(True, 0.3), seed=7, max_clips=40,
        models_dir="md", allow_untrained=("vggish",), download=False, cache_dir="cd", progress=False, n_boot=100,
        layers={"yamnet": ("layer8",), "vggish": ("fc1",)}, weights={"yamnet": "https://tfhub.dev/google/yamnet/1"},
        layer_search="all", aux_tasks=("gender", "intensity"), aux_weight=0.5, augment_copies=2, pooling="stats",
        strict=True, label_map="m.csv",
    )
    assert settings_of([*REQUIRED, "--no-gds"], monkeypatch).gds == GdsSettings(False, None)


def test_fine_tuning_options_without_fine_tune_are_refused(monkeypatch):
    with pytest.raises(CorpusError, match="only apply with --fine-tune"):
        settings_of([*REQUIRED, "--mixup", "0.4"], monkeypatch)


@pytest.mark.parametrize("extra, runner", [([], "run_experiment"),
                                           (["--test-corpus", "ravdess", "--test-data", "d"], "run_cross_corpus")])
def test_the_run_gets_the_settings_the_command_line_built_and_they_stay_frozen(monkeypatch, extra, runner):
    from seraudit.ensemble.training import cross_corpus, experiment

    argv = [*REQUIRED, *FINE_TUNING, *extra]
    handed = []

    class Stop(Exception):
        pass

    def capture(settings, *args, **kwargs):
        handed.append(settings)
        raise Stop

    monkeypatch.setattr(experiment if runner == "run_experiment" else cross_corpus, runner, capture)
    monkeypatch.setattr(sys, "argv", ["seraudit", *argv])
    args = build_parser().parse_args(argv)
    with pytest.raises(Stop):
        train.run(args)
    assert handed == [train.train_settings(args)]
    with pytest.raises(AttributeError):  # dataclasses.FrozenInstanceError
        handed[0].mixup_alpha = 0.0
