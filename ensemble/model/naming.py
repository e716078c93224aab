"""What each model is called for people: the registry's display names, with fusion and the "untrained" tag.

Backbones carry their own display name (`ensemble.backbones.registry`), fusions
theirs (`ensemble.model.spec.FUSIONS`); the ensemble and the eGeMAPS baseline are
named here. The shape of a display name (notes in brackets, the "untrained" tag)
is `core.naming`'s rule.
"""

from __future__ import annotations

from seraudit.core.naming import untrained_note, with_notes
from seraudit.ensemble.backbones.registry import BACKBONES, backbone_display
from seraudit.ensemble.model.spec import BASELINE_MODEL, ENSEMBLE, FUSIONS

#: Models that are not one backbone.
OTHER_MODELS = {ENSEMBLE: "Ensemble", BASELINE_MODEL: "eGeMAPS + LR"}


def model_display(name: str) -> str:
    """The short name people read for a model or backbone ("YAMNet", "Ensemble"); an unknown name as it is."""
    return BACKBONES[name].display if name in BACKBONES else OTHER_MODELS.get(name, name)


def display_name(name: str, fusion: str | None = None, untrained: list[str] | tuple[str, ...] = ()) -> str:
    """Human-readable model name, e.g. ``"Ensemble (late fusion; VGGish untrained)"`` or ``"VGGish (untrained)"``.

    >>> display_name("ensemble", "late", ["vggish"])
    'Ensemble (late fusion; VGGish untrained)'
    """
    untrained = list(untrained)
    notes = [FUSIONS[fusion].display if fusion in FUSIONS else fusion or "",
             untrained_note([backbone_display(b) for b in untrained], alone=untrained == [name])]
    return with_notes(model_display(name), notes)
