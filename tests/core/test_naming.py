"""One file-name rule and one shape of display name (notes in brackets, the "untrained" tag), knowing no model."""

from __future__ import annotations

import pytest

from seraudit.core.naming import UNTRAINED_TAG, untrained_note, with_notes, slug


@pytest.mark.parametrize("text", ["gradcam++", "03-01-05-01-02-01-12", "lime-time", "clip.v2_final"])
def test_readable_names_are_kept(text):
    assert slug(text) == text


@pytest.mark.parametrize(
    "text, expected",
    [("a b/c", "a_b_c"), ("speech <1>.wav", "speech_1_.wav"), ("../../etc/passwd", "etc_passwd"), ("  x  ", "x"),
     (3, "3")],
)  # fmt: skip
def test_other_characters_become_single_underscores_and_edges_are_trimmed(text, expected):
    assert slug(text) == expected


@pytest.mark.parametrize("text", ["", "...", "///", "-_-", "☺"])
def test_a_slug_is_never_empty(text):
    assert slug(text) == "item"
    assert slug(text, fallback="clip") == "clip"


def test_max_length_cuts_before_trimming():
    assert slug("abcdef", max_length=3) == "abc"
    assert slug("ab cdef", max_length=3) == "ab"  # "ab_" loses its trailing underscore
    assert len(slug("x" * 500, max_length=80)) == 80


def test_notes_go_in_brackets_and_a_name_without_notes_has_none():
    assert with_notes("Ensemble", ["late fusion", "Net B untrained"]) == "Ensemble (late fusion; Net B untrained)"
    assert with_notes("Net A", []) == with_notes("Net A", ["", ""]) == "Net A"


def test_the_untrained_note_names_the_parts_unless_the_model_is_that_part():
    assert untrained_note(["Net A", "Net B"]) == f"Net A, Net B {UNTRAINED_TAG}"
    assert untrained_note(["Net B"], alone=True) == UNTRAINED_TAG
    assert untrained_note([]) == ""


def test_core_naming_knows_no_backbone():
    """Backbone names live in the registry (`ensemble.backbones.registry`), never in the lowest layer."""
    import seraudit.core.naming as naming

    source = open(naming.__file__, encoding="utf-8").read().lower()
    assert "yamnet" not in source and "vggish" not in source
