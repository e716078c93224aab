"""One file-name rule and one display name, so a file or a page never hides what a model is."""

from __future__ import annotations

import pytest

from seraudit.core.naming import display_name, slug


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


@pytest.mark.parametrize(
    "name, fusion, untrained, expected",
    [
        ("ensemble", "late", ["vggish"], "Ensemble (late fusion; VGGish untrained)"),
        ("ensemble", "feature", ["yamnet", "vggish"], "Ensemble (feature fusion; YAMNet, VGGish untrained)"),
        ("ensemble", "late", [], "Ensemble (late fusion)"),
        ("vggish", None, ["vggish"], "VGGish (untrained)"),
        ("yamnet", None, [], "YAMNet"),
        ("egemaps", None, (), "eGeMAPS + LR"),
        ("my_model", None, [], "my_model"),
    ],
)
def test_display_names_carry_fusion_and_the_untrained_tag(name, fusion, untrained, expected):
    assert display_name(name, fusion, untrained) == expected
