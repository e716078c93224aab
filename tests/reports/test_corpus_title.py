"""The model card's clip-length note belongs to the cut copies only: a run on full-length clips does not carry it."""

from __future__ import annotations

import pytest

from seraudit.reports.run_sections import model_card

RESULTS = {"corpus": "ravdess", "models": {"yamnet": {"display_name": "YAMNet", "uar": {"mean": 50.0}}}}


@pytest.mark.parametrize("title, noted", [("RAVDESS (2.4 s)", True), ("RAVDESS", False), (None, True)])
def test_the_truncation_note_follows_the_runs_measured_title(title, noted):
    results = {**RESULTS, **({"corpus_display": title} if title else {})}  # runs before titles: the cut copy
    card = model_card(results, {"corpus": "ravdess"})
    assert any("2.389 s" in text for text in card["limitations"]) == noted
    assert "CC BY-NC-SA 4.0" in card["data"][0]["licence"]  # the corpus's licence whatever its clip lengths
