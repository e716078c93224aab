"""`seraudit train --models`: every model a run can hold, by default the same ones the main job trains."""

from __future__ import annotations

import pytest

from seraudit.cli import build_parser
from seraudit.ensemble.model.spec import MODELS
from seraudit.xai.audit import plan as audit_plan

REQUIRED = ["train", "--corpus", "ravdess", "--data", "d", "--out", "r"]


def test_by_default_train_trains_every_neural_model_and_the_egemaps_baseline_like_the_main_job():
    models = build_parser().parse_args(REQUIRED).models
    assert models == [*MODELS, "egemaps"] == list(audit_plan.TRAINED_MODELS)


def test_models_are_lower_cased_without_repeats():
    assert build_parser().parse_args([*REQUIRED, "--models", "YAMNet, egemaps,yamnet"]).models == ["yamnet", "egemaps"]


@pytest.mark.parametrize("value", ["yamnet,resnet", ","])
def test_an_unknown_or_empty_model_list_is_refused_naming_the_choices(value, capsys):
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args([*REQUIRED, "--models", value])
    assert stop.value.code == 2
    error = capsys.readouterr().err
    assert ("resnet" if value != "," else "(none)") in error
    assert f"choose from {', '.join([*MODELS, 'egemaps'])}" in error
