"""A clip's metric figures come from its per-metric scores, or, for a clip audited before the family, its flat keys."""

from __future__ import annotations

from seraudit.reports.metric_records import clip_scores


def test_per_metric_scores_are_read_as_they_are():
    record = {"scores": {"deletion": {"value": 0.2, "control": 0.3, "threshold": 0.28}}}
    assert clip_scores(record) == {"deletion": {"value": 0.2, "control": 0.3, "threshold": 0.28}}


def test_an_older_clip_record_is_read_through_each_metrics_own_keys():
    record = {"metrics": {"deletion_auc": 0.2, "random_deletion_auc": 0.3, "insertion_auc": 0.6}}
    scores = clip_scores(record)
    assert scores["deletion"] == {"value": 0.2, "control": 0.3}
    assert scores["insertion"]["value"] == 0.6
