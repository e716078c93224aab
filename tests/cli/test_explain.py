"""`seraudit explain`: by default every neural model of the run; a model the run lacks stops it with the fix."""

from __future__ import annotations

import pandas as pd

from seraudit.cli import build_parser, main
from seraudit.ensemble.run import write_run
from seraudit.ensemble.model.spec import NEURAL_MODELS
from seraudit.xai.audit import plan as audit_plan


class FakeKerasModel:
    def save_weights(self, path) -> None:
        path.write_bytes(b"weights")


def test_explain_defaults_to_the_models_the_main_job_audits():
    args = build_parser().parse_args(["explain", "r", "a.wav", "--out", "o"])
    assert args.models.split(",") == list(NEURAL_MODELS) == list(audit_plan.AUDITED_MODELS)
    assert "egemaps" not in audit_plan.AUDITED_MODELS  # the baseline has no attribution to explain


def test_a_model_the_run_lacks_stops_explain_naming_what_the_run_holds(tmp_path, ravdess_clips, capsys):
    run_dir = write_run(tmp_path / "run", {"labels": ["a"]}, {}, pd.DataFrame({"path": []}), {},
                        {"yamnet": (FakeKerasModel(), {"name": "yamnet"}, {})}, ["a"], None)
    code = main(["explain", str(run_dir), str(ravdess_clips[0]), "--models", "ensemble,yamnet,vggish",
                 "--out", str(tmp_path / "audit"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"seraudit explain: error: {run_dir} has no model(s) ensemble, vggish (it holds: yamnet)" in err
    assert "pass --models with some of those" in err and not (tmp_path / "audit").exists()
