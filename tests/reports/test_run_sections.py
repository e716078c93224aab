"""Run-level sections read from what a run folder saved: the fold spread, recall, provenance and the model card."""

from __future__ import annotations

import pytest

from seraudit.ensemble.run import Run
from seraudit.reports import run_sections
from seraudit.reports.model import display_path
from seraudit.reports.run_reader import run_summary


def test_sections_read_the_saved_run(run_dir, ravdess_dir):
    sections = run_summary(Run.open(run_dir))["sections"]
    corpus = sections["corpus"]
    assert corpus["n_clips"] == 27 and corpus["n_speakers"] == 4 and corpus["patches"]["dropped"] == 27
    assert [f["test_speakers"] for f in sections["folds"]] == [["ravdess_01", "ravdess_02"], ["ravdess_03", "ravdess_04"]]
    assert sum(f["test_clips"] for f in sections["folds"]) == 27
    ensemble = next(r for r in sections["metrics"] if r["model"] == "ensemble")
    uar = ensemble["cells"]["UAR"]
    assert uar["min"] <= uar["mean"] <= uar["max"] and ensemble["n_folds"] == 2
    assert "top-2 accuracy" in sections["metric_names"] and "top-3 accuracy" in sections["metric_names"]
    assert set(sections["recall_labels"]) == {"neutral", "happy", "sad", "angry"}
    weights = {w["backbone"]: w for w in sections["provenance"]["weights"]}
    assert weights["YAMNet"]["pretrained"] and weights["YAMNet"]["sha256"].startswith("2d5e1e05")
    assert not weights["VGGish"]["pretrained"] and weights["VGGish"]["sha256"] == ""
    assert sections["provenance"]["command_line"] == "seraudit audit-all --corpus ravdess --allow-untrained vggish"
    assert sections["provenance"]["seeds"]["global"] == 0
    card = sections["model_card"]
    assert "CC BY-NC-SA 4.0" in card["data"][0]["licence"]
    parts = {m["model"]: " ".join(m["parts"]) for m in card["models"]}
    assert "VGGish: NOT pretrained" in parts["ensemble"] and "YAMNet: pretrained" in parts["ensemble"]
    assert "no pretrained part" in parts["egemaps"]
    assert any("speaker-independent within one corpus" in text for text in card["limitations"])
    assert any("2.389 s" in text for text in card["limitations"]) and card["cross_corpus"] is None


def test_a_cross_corpus_run_gets_its_figures_and_both_corpora_on_the_card():
    results = {"corpus": "ravdess", "test_corpus": "emodb", "cross_corpus": True, "corpus_display": "RAVDESS (2.4 s) -> EmoDB (2 s)",
               "shared_labels": ["neutral", "angry"], "metrics_over": "test speakers (mean ± std) and all test clips (pooled)",
               "models": {"yamnet": {"display_name": "YAMNet", "untrained": [], "uar": {"mean": 40.0, "std": 5.0, "pooled": 41.0}}}}
    provenance = {"weights": {"yamnet": {"pretrained": True, "description": "YAMNet — pretrained"}}}
    card = run_sections.model_card(results, provenance)
    assert [d["licence"] for d in card["data"]] == ["CC BY-NC-SA 4.0 (non-commercial, share alike)", "free for research use"]
    assert card["cross_corpus"]["corpus"] == "RAVDESS (2.4 s) -> EmoDB (2 s)"
    assert card["models"][0]["uar_mean"] == 40.0
    assert any("shared emotions only (neutral, angry)" in text for text in card["limitations"])


@pytest.mark.parametrize(("path", "root", "shown"), [
    ("/data/ravdess/Actor_01/a.flac", "/data/ravdess", "Actor_01/a.flac"),
    ("/data/clips/a.wav", "/data/clips/manifest.csv", "a.wav"),  # a manifest's clips: relative to its folder
    ("/elsewhere/a.wav", "/data/ravdess", "a.wav"),  # never an absolute path of the machine that made the report
    ("/data/a.wav", None, "a.wav"),
])
def test_paths_show_relative_to_the_corpus_folder(path, root, shown):
    assert display_path(path, root) == shown
    assert display_path(path, root, redact=True) == path.rsplit("/", 1)[-1]
