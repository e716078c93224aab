"""What an audit concludes over its clips: mean metrics, how surely a map beats random, the sanity check per method."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seraudit.xai.audit.summary import metric_rows, summarise, summarise_sanity


def _record(model: str, method: str, deletion: float, random_deletion: float) -> dict:
    metrics = {"deletion_auc": deletion, "random_deletion_auc": random_deletion, "insertion_auc": 0.5,
               "random_insertion_auc": 0.5}
    return {"methods": {model: {method: {"metrics": metrics}}}}


def test_summary_says_how_often_and_how_surely_a_map_beats_random(rng):
    better = 0.05 + 0.02 * rng.standard_normal(40)  # a map that removes evidence faster than random on most clips
    noise = 0.03 * rng.standard_normal(40)  # a map no better than random
    records = [_record("yamnet", "good", 0.2 - g, 0.2) for g in better]
    records += [_record("yamnet", "noise", 0.2 - g, 0.2) for g in noise]
    summary = summarise(records)["yamnet"]
    good, noisy = summary["good"], summary["noise"]
    assert good["deletion_beats_random"] == pytest.approx(np.mean(better > 0))
    low, high = good["deletion_gain_ci"]
    assert 0 < low < better.mean() < high
    low, high = noisy["deletion_gain_ci"]
    assert low < 0 < high  # cannot be told from random
    assert good["insertion_gain_ci"] is None  # no spread: equal to random on every clip
    assert summarise(records[:2])["yamnet"]["good"]["deletion_gain_ci"] is None  # too few clips for an interval


def test_metric_rows_hold_one_row_per_clip_model_and_method():
    records = [{"id": "c1", "path": "/a.wav", **_record("yamnet", "gradcam", 0.1, 0.3)},
               {"id": "c2", "path": "/b.wav", **_record("yamnet", "gradcam", 0.2, 0.3)}]
    rows = metric_rows(records)
    assert [(r["clip"], r["model"], r["method"], r["deletion_auc"]) for r in rows] == [
        ("c1", "yamnet", "gradcam", 0.1), ("c2", "yamnet", "gradcam", 0.2)]


def test_sanity_summary_reports_the_most_randomised_stage_per_method():
    def table(clip: str, last: float) -> pd.DataFrame:
        return pd.DataFrame({"model": "yamnet", "method": "gradcam", "stage": [0, 1, 2],
                             "stage_name": ["original", "head", "all layers"], "similarity": [1.0, 0.5, last],
                             "spearman": [1.0, -0.5, -last], "control": [np.nan, np.nan, 0.2],
                             "threshold": [np.nan, np.nan, 0.6], "clip": clip})

    sanity = summarise_sanity([table("c1", 0.1), table("c2", np.nan)], ["c1", "c2"], seconds=1.5)
    (row,) = sanity["rows"]
    assert row == {"model": "yamnet", "method": "gradcam", "similarity": pytest.approx(0.1),
                   "spearman": pytest.approx(-0.1), "control": pytest.approx(0.2), "threshold": pytest.approx(0.6),
                   "n_clips": 2, "stage_name": "all layers"}
    assert [s["similarity"] for s in sanity["stages"]] == [1.0, 0.5, pytest.approx(0.1)]  # every stage: the cascade
    assert sanity["clips"] == ["c1", "c2"] and sanity["seconds"] == 1.5
    assert sanity["seconds_per_clip_model"] == pytest.approx(0.75)  # 2 clips x 1 model
    assert summarise_sanity([], [], 0.0) == {"rows": [], "stages": [], "seconds": 0.0}


def test_every_metric_is_summarised_from_its_scores_or_from_the_older_flat_keys():
    from seraudit.xai.audit.summary import record_scores, summarise_metrics
    from seraudit.xai.metrics.registry import registered_metrics

    gains = [0.1, 0.2, -0.05, 0.15]
    new = [{"id": f"c{i}", "methods": {"yamnet": {"gradcam": {"scores": {
        "deletion": {"value": 0.4 - g, "control": 0.4}, "method_agreement": {"value": None, "control": None}}}}}}
        for i, g in enumerate(gains[:2])]
    old = [{"id": f"c{i + 2}", **_record("yamnet", "gradcam", 0.4 - g, 0.4)} for i, g in enumerate(gains[2:])]
    metrics = list(registered_metrics().values())
    sections = summarise_metrics(record_scores(new + old, metrics), metrics)
    assert list(sections) == list(registered_metrics())
    cell = sections["deletion"]["summary"]["yamnet"]["gradcam"]
    assert cell["value"] == pytest.approx(0.4 - np.mean(gains)) and cell["control"] == pytest.approx(0.4)
    assert cell["n_clips"] == 4 and cell["beats_control"] == 0.75
    low, high = cell["gain_ci"]
    assert low < np.mean(gains) < high
    assert sections["deletion"]["higher_is_better"] is False and sections["deletion"]["control_name"] == "random orders"
    assert sections["method_agreement"]["summary"]["yamnet"]["gradcam"]["n_clips"] == 0  # null on its one clip
    assert sections["model_randomisation"]["summary"] == {}  # not in clip records: run on a few clips after the loop


def test_an_index_written_before_the_metrics_section_reads_like_a_new_one():
    from seraudit.xai.audit.summary import metric_sections

    old = {"summary": {"yamnet": {"gradcam": {"deletion_auc": 0.2, "random_deletion_auc": 0.3, "n_clips": 5,
                                              "deletion_beats_random": 0.8, "deletion_gain_ci": [0.01, 0.2]}}},
           "sanity": {"rows": [{"model": "yamnet", "method": "gradcam", "spearman": 0.3, "n_clips": 1,
                                "stage_name": "head"}]}}
    sections = metric_sections(old)
    assert sections["deletion"]["summary"]["yamnet"]["gradcam"] == {
        "value": 0.2, "control": 0.3, "n_clips": 5, "beats_control": 0.8, "gain_ci": [0.01, 0.2]}
    assert sections["insertion"]["summary"] == {}
    assert sections["model_randomisation"]["summary"]["yamnet"]["gradcam"]["value"] == 0.3
    assert metric_sections({"metrics": {"x": {"summary": {}}}}) == {"x": {"summary": {}}}
