"""Model display names come from the registry (backbones), the fusions and the two other models, with the untrained tag."""

from __future__ import annotations

import pytest

from seraudit.ensemble.model.naming import display_name, model_display


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


def test_a_backbone_s_display_name_is_its_registry_entry_s(monkeypatch):
    import dataclasses

    from seraudit.ensemble.backbones.registry import BACKBONES

    monkeypatch.setitem(BACKBONES, "vggish", dataclasses.replace(BACKBONES["vggish"], display="VGG-ish"))
    assert model_display("vggish") == "VGG-ish"
    assert display_name("ensemble", "late", ["vggish"]) == "Ensemble (late fusion; VGG-ish untrained)"
