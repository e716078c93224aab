"""`seraudit check-weights`: the user reads whether the YAMNet port agrees with Google's runtime and whether VGGish weights exist."""

from __future__ import annotations

import argparse
import json

from seraudit.cli.commands import check_weights
from seraudit.ensemble.weights.port_check import EMBEDDING_COSINE_BAR

SHARED_YAMNET_SHA256 = "2d5e1e0577beb1fd3b6ba4cf89a7b8813340added8dae72f64fe8cd18731dd4a"


def _run_command(argv: list[str], capsys) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="seraudit")
    check_weights.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["check-weights", *argv])
    code = args.func(args)
    return code, capsys.readouterr().out


def test_check_weights_reports_yamnet_agreement_and_vggish_status(
    models_dir, ravdess_clips, capsys, tmp_path, monkeypatch
):
    monkeypatch.setenv("SERAUDIT_CACHE_DIR", str(tmp_path / "cache"))  # no stray cached weights
    clips = [str(clip) for clip in ravdess_clips[:2]]
    code, out = _run_command(["--json", "--models-dir", str(models_dir), "--clips", *clips], capsys)
    result = json.loads(out)
    yamnet = result["yamnet"]
    assert code == 0 and yamnet["passed"]
    assert yamnet["clips"] == 2 and yamnet["top1_agreement"] == 1.0
    assert yamnet["embedding_cosine_mean"] >= EMBEDDING_COSINE_BAR
    assert yamnet["weights"].endswith("yamnet/yamnet.tflite") and yamnet["sha256"] == SHARED_YAMNET_SHA256
    for key in ("frontend_top1_agreement", "frontend_pearson"):
        assert 0.9 <= yamnet[key] <= 1.0
    # No VGGish network weights exist here: the report says so and where to get them.
    assert result["vggish"]["status"].startswith("missing: ")
    assert "vggish_model.ckpt" in result["vggish"]["status"]
