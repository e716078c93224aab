"""How things are named for people and for file systems: the one slug rule and the shape of a display name.

Which backbone or model is called what is the registry's business
(`ensemble.model.naming`); this layer knows no model. It holds the rules every
name follows: a file-name-safe `slug`, and a display name as a base with its
notes in brackets, where the "untrained" tag always appears when a backbone
kept random weights, so no metric, plot or page can show an untrained model as
pretrained.
"""

from __future__ import annotations

import re
from typing import Iterable, Sequence

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


def with_notes(base: str, notes: Iterable[str]) -> str:
    """`base` with its notes in brackets, e.g. ``"Ensemble (late fusion; Net B untrained)"``; no brackets without notes.

    >>> with_notes("Net B", [untrained_note(["Net B"], alone=True)])
    'Net B (untrained)'
    """
    notes = [n for n in notes if n]
    return f"{base} ({'; '.join(notes)})" if notes else base


def untrained_note(untrained: Sequence[str], alone: bool = False) -> str:
    """The note naming the parts with random weights: just "untrained" when the model is that one part (`alone`)."""
    if not untrained:
        return ""
    return UNTRAINED_TAG if alone else ", ".join(untrained) + f" {UNTRAINED_TAG}"
