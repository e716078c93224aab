"""How things are named for people and for file systems: model display names and the one slug rule.

A model's display name always carries its "untrained" tag when a backbone kept
random weights, so no metric, plot or page can show an untrained model as pretrained.
"""

from __future__ import annotations

import re

BACKBONE_DISPLAY = {"yamnet": "YAMNet", "vggish": "VGGish", "ensemble": "Ensemble", "egemaps": "eGeMAPS + LR"}
FUSION_DISPLAY = {"late": "late fusion", "feature": "feature fusion"}
UNTRAINED_TAG = "untrained"

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def slug(text: object, fallback: str = "item", max_length: int | None = None) -> str:
    """A file-name-safe form of `text`: runs of other characters become "_", no leading/trailing dots or dashes.

    Letters, digits, ".", "_", "+" and "-" are kept, so "gradcam++" and "03-01-05-01" stay readable.
    """
    out = _UNSAFE.sub("_", str(text))
    if max_length is not None:
        out = out[:max_length]
    return out.strip("._-") or fallback


def display_name(name: str, fusion: str | None = None, untrained: list[str] | tuple[str, ...] = ()) -> str:
    """Human-readable model name, e.g. ``"Ensemble (late fusion; VGGish untrained)"`` or ``"VGGish (untrained)"``."""
    base = BACKBONE_DISPLAY.get(name, name)
    notes = []
    if fusion:
        notes.append(FUSION_DISPLAY.get(fusion, fusion))
    untrained = list(untrained)
    if untrained:
        if name in untrained and len(untrained) == 1:
            notes.append(UNTRAINED_TAG)
        else:
            notes.append(", ".join(BACKBONE_DISPLAY.get(b, b) for b in untrained) + f" {UNTRAINED_TAG}")
    return f"{base} ({'; '.join(notes)})" if notes else base
