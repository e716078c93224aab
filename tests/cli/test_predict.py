"""`seraudit predict --tta N`: the same clips, distributions that still sum to 1, numbers a rerun with the same seed repeats."""

from __future__ import annotations

import argparse
import json

import pandas as pd
import pytest

from seraudit.cli.commands import predict

LABELS = ["neutral", "happy", "sad"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    predict.add_parser(parser.add_subparsers())
    return parser


def _predict(argv, capsys) -> list[dict]:
    args = _parser().parse_args(["predict", *argv])
    capsys.readouterr()
    assert args.func(args) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("value", ["-1", "two", "1.5"])
def test_tta_takes_a_whole_number_of_copies_and_nothing_else(value, capsys):
    with pytest.raises(SystemExit):
        _parser().parse_args(["predict", "RUN", "a.wav", "--tta", value])
    assert f"--tta: expected a number of copies, 0 or more (0: off), got '{value}'" in capsys.readouterr().err


def test_tta_is_off_and_the_seed_zero_unless_asked():
    args = _parser().parse_args(["predict", "RUN", "a.wav"])
    assert (args.tta, args.seed) == (0, 0)


@pytest.fixture(scope="module")
def yamnet_run(tmp_path_factory):
    """A run holding one real (untrained) YAMNet Keras model, trained with GDS at 0.9.

    Its head reads YAMNet's second block: deeper in a random tower the activations
    vanish and every clip gets the uniform distribution, which TTA could not change.
    """
    from seraudit.ensemble.model.graph import build_model
    from seraudit.ensemble.run import write_run

    config = {"name": "yamnet", "head": {}, "branch_untrained": {"yamnet": True}, "taps": {"yamnet": ["layer2"]}}
    built = build_model(config, n_classes=len(LABELS))
    out = tmp_path_factory.mktemp("runs") / "yamnet"
    info = {"labels": LABELS, "gds": {"enabled": True, "threshold": 0.9}}
    return write_run(out, info, {}, pd.DataFrame({"path": []}), {}, {"yamnet": (built.keras_model, config, {})}, LABELS, None)


@pytest.mark.slow
def test_predict_with_tta_2_gives_the_same_clips_with_pooled_distributions_a_rerun_repeats(yamnet_run, ravdess_clips, capsys):
    clips = [str(p) for p in ravdess_clips[:2]]
    base = [str(yamnet_run), *clips, "--format", "json", "--quiet"]
    plain = _predict(base, capsys)
    augmented = _predict([*base, "--tta", "2"], capsys)

    assert [(r["path"], r["model"]) for r in augmented] == [(r["path"], r["model"]) for r in plain] == [(c, "yamnet") for c in clips]
    for with_tta, without in zip(augmented, plain):
        assert set(with_tta["probabilities"]) == set(LABELS)
        assert sum(with_tta["probabilities"].values()) == pytest.approx(1.0, abs=1e-6)
        assert with_tta["label"] == max(with_tta["probabilities"], key=with_tta["probabilities"].get)
        assert (with_tta["tta"], with_tta["tta_seed"]) == (2, 0)
        assert with_tta["probabilities"] != without["probabilities"]
        assert "tta" not in without and "tta_seed" not in without
    assert _predict([*base, "--tta", "2", "--seed", "0"], capsys) == augmented
    assert _predict([*base, "--tta", "2", "--seed", "5"], capsys) != augmented


@pytest.mark.slow
def test_predict_csv_with_tta_has_the_tta_columns_and_rows_that_sum_to_1(yamnet_run, ravdess_clips, capsys):
    import io

    clips = [str(p) for p in ravdess_clips[:2]]
    args = _parser().parse_args(["predict", str(yamnet_run), *clips, "--quiet", "--tta", "1", "--seed", "3"])
    capsys.readouterr()
    assert args.func(args) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    p_cols = [f"p_{label}" for label in LABELS]
    assert table["path"].tolist() == clips and table["tta"].tolist() == [1, 1] and table["tta_seed"].tolist() == [3, 3]
    assert table[p_cols].sum(axis=1).tolist() == pytest.approx([1.0, 1.0], abs=1e-3)
