"""What a report reads from a run and an audit folder: saved numbers only, every model named as the rest of the tool names it."""

from __future__ import annotations

import pandas as pd
import pytest

from seraudit.ensemble.model.naming import display_name
from seraudit.ensemble.run import Run, write_run
from seraudit.reports.audit_reader import load_audit
from seraudit.reports.model import ModelInfo
from seraudit.reports.run_reader import run_summary

LABELS = ["neutral", "angry"]


@pytest.fixture()
def run(tmp_path):
    """A run of an ensemble, YAMNet and the eGeMAPS baseline with saved results and four test predictions."""
    predictions = pd.DataFrame({
        "path": ["a", "b", "c", "a"], "model": ["ensemble", "ensemble", "ensemble", "yamnet"],
        "label": ["neutral", "angry", "angry", "neutral"], "prediction": ["neutral", "neutral", "angry", "angry"],
        "speaker": "s1", "fold": 0,
    })
    results = {
        "labels": LABELS, "corpus_display": "RAVDESS (2.4 s)",
        "models": {
            "ensemble": {"display_name": display_name("ensemble", "late", ["vggish"]), "untrained": ["vggish"],
                         "uar": {"mean": 41.5, "std": 3.2, "pooled": 40.0}, "macro_f1": {"mean": 39.0},
                         "top2_accuracy": {"mean": 60.0}, "confusion_matrix": [[1, 0], [1, 1]]},
            "yamnet": {"display_name": "YAMNet", "uar": {"mean": 38.0, "std": 4.1}, "confusion_matrix": [[0, 1], [0, 0]]},
            "egemaps": {"display_name": "eGeMAPS + LR", "uar": {"mean": 30.0, "std": 2.0}},
        },
        "comparisons": [{"a": "ensemble", "b": "yamnet", "uar_difference": 3.5, "ci_low": -1.0, "ci_high": 8.0, "p_value": 0.21}],
    }
    return Run.open(write_run(tmp_path / "run", {"corpus": "ravdess"}, {}, predictions, results, {}, LABELS, None))


def test_run_summary_shows_the_saved_metrics_and_confusion_matrices(run):
    summary = run_summary(run)
    ensemble = summary["models"]["ensemble"]
    assert ensemble["display_name"] == "Ensemble (late fusion; VGGish untrained)"
    assert ensemble["untrained_branches"] == ["vggish"]
    assert (ensemble["uar_mean"], ensemble["uar_std"]) == (41.5, 3.2)
    assert ensemble["extra"] == {"macro-F1 (mean over folds)": 39.0, "top-2 accuracy (mean over folds)": 60.0,
                                 "UAR pooled over folds": 40.0}
    assert ensemble["confusion"] == [[1, 0], [1, 1]]  # rows: true neutral, angry; columns: predicted (as stored)
    assert ensemble["confusion_labels"] == LABELS
    assert summary["models"]["yamnet"]["confusion"] == [[0, 1], [0, 0]]
    assert list(summary["baselines"]) == ["egemaps"] and "egemaps" not in summary["models"]
    assert summary["comparisons"] == [{"model": "ensemble", "other": "yamnet", "uar_difference": 3.5, "ci_low": -1.0,
                                       "ci_high": 8.0, "mcnemar_p": 0.21}]
    assert summary["corpus_note"] == "RAVDESS (2.4 s)"


def test_the_reports_corpus_name_is_the_one_the_run_measured_from_its_clips(run, tmp_path):
    full = {**run.results, "corpus_display": "RAVDESS"}  # a run on the full-length clips
    run_dir = write_run(tmp_path / "full", {"corpus": "ravdess"}, {}, run.predictions, full, {}, LABELS, None)
    assert run_summary(Run.open(run_dir))["corpus_note"] == "RAVDESS"


def test_a_model_is_titled_with_the_tools_display_name_and_never_hides_an_untrained_branch():
    tool_name = display_name("ensemble", "late", ["vggish"])
    assert ModelInfo("ensemble", tool_name, ["vggish"]).title == tool_name
    assert ModelInfo("yamnet", "YAMNet").title == "YAMNet"
    assert ModelInfo("vggish", "VGGish", ["vggish"]).title == "VGGish (untrained)" == display_name("vggish", untrained=["vggish"])
    assert ModelInfo("ensemble", "", ["vggish"]).title == "Ensemble (VGGish untrained)"


def test_an_audit_folder_of_format_version_1_loads(audit_dir, report_clips):
    index, clips = load_audit(audit_dir)
    assert index["format_version"] == 1 and [c.path for c in clips] == [str(p) for p, _ in report_clips]
    assert clips[0].true_label == "neutral" and clips[0].original.endswith("/original.wav")
    assert set(clips[0].methods["ensemble"]) == {"gradcam", "occlusion"}


def test_a_comparison_says_better_only_when_its_interval_excludes_zero():
    from seraudit.reports.model import Comparison

    assert Comparison("yamnet", 0.5, -0.8, 2.0, 0.8).verdict == "no clear difference (interval includes 0)"
    assert Comparison("egemaps", 6.9, 4.2, 9.7, 1e-5).verdict == "better (interval excludes 0)"
    assert Comparison("vggish", -3.0, -5.0, -1.0, 0.01).verdict == "worse (interval excludes 0)"
    assert Comparison("vggish", None, None, None, None).verdict == "no interval"
