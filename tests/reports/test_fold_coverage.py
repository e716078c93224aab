"""The folds section and the metrics table say which emotions a test fold lacks and what its UAR is taken over."""

from __future__ import annotations

import dataclasses

import pandas as pd

from seraudit.reports import run_sections
from seraudit.reports.build import build_report

PLAN = {"folds": [{"index": 0, "train_speakers": ["c"], "val_speakers": ["b"], "test_speakers": ["a"]},
                  {"index": 1, "train_speakers": ["a"], "val_speakers": ["c"], "test_speakers": ["b"]}]}


def _predictions() -> pd.DataFrame:
    """Fold 0 tests angry and sad clips only; fold 1 tests neutral, angry and sad; two models score the same clips."""
    rows = [(0, "a", "angry")] * 3 + [(0, "a", "sad")] * 2 + [(1, "b", "neutral")] * 4 + [(1, "b", "angry"), (1, "b", "sad")]
    frame = pd.DataFrame([{"fold": f, "speaker": s, "label": lab, "prediction": lab, "path": f"/c/{i}.wav"}
                          for i, (f, s, lab) in enumerate(rows)])
    return pd.concat([frame.assign(model="yamnet"), frame.assign(model="egemaps")], ignore_index=True)


def test_each_fold_row_names_the_emotions_its_test_clips_lack_and_how_many_clips_they_have():
    rows = run_sections.folds_section(PLAN, _predictions())
    assert [r["test_clips"] for r in rows] == [5, 6]  # each clip once, not once per model
    assert rows[0]["missing"] == ["neutral"] and rows[1]["missing"] == []
    assert rows[0]["clips_per_emotion"] == {"neutral": 0, "sad": 2, "angry": 3}  # canonical emotion order
    assert rows[0]["missing_text"] == "fold 0 (5 test clips) lacks 'neutral' (4 clips in the corpus)"


def test_the_index_shows_the_missing_emotions_and_labels_the_per_fold_uar(report, tmp_path):
    folds = run_sections.folds_section(PLAN, _predictions())
    lacking = dataclasses.replace(report, sections={**report.sections, "folds": folds})
    index = (build_report(lacking, tmp_path / "r").parent / "index.html").read_text(encoding="utf-8")
    folds_html = index.split('<section id="folds">', 1)[1].split("</section>", 1)[0]
    assert "1 of 2 test folds lack an emotion" in folds_html
    assert '<span class="fold-missing">neutral</span>' in folds_html and "(4 clips in the corpus)" in folds_html
    metrics_html = index.split('<section id="metrics">', 1)[1].split("</section>", 1)[0]
    assert "1 test fold(s) lack an emotion (fold 0: neutral)" in metrics_html
    assert "UAR (per fold: emotions present)" in metrics_html and "pooled: every emotion" in metrics_html

    full = dataclasses.replace(report, sections={**report.sections, "folds": run_sections.folds_section(
        PLAN, _predictions()[lambda p: p["label"] != "neutral"])})
    index = (build_report(full, tmp_path / "s").parent / "index.html").read_text(encoding="utf-8")
    assert "lack an emotion" not in index  # every fold holds every emotion the corpus has: nothing to say
