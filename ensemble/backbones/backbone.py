"""What one backbone is, for the rest of the tool: the record every backbone module declares once.

A `Backbone` says everything the tool asks of a pretrained audio network: how its
layers are added to a flat Keras graph (`tower`), how its weights are filled in
(`weights`), the name people read (`display`), its embedding size, the layers a
head may read (`tap_widths`) and the sets a head's layer search tries, and where
its published weights live (`official`: files, addresses and checksums, read by
`ensemble.weights.official`). A backbone module declares its record as
``BACKBONE``; `ensemble.backbones.registry` lists it in one line.

This module imports neither Keras nor any backbone, so the registry stays cheap to
import (``import seraudit`` and the openSMILE worker never load TensorFlow).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable


@dataclass(frozen=True)
class Asset:
    """One file a backbone's authors publish: where it sits in a models folder and where to download it.

    `sha256` is the hash of the file served at `url` when a public source states
    it; None means "record it at first download".
    """

    key: str
    relpath: str
    url: str
    sha256: str | None
    format: str
    size_hint: str = ""

    @property
    def filename(self) -> str:
        return Path(self.relpath).name


@dataclass(frozen=True)
class OfficialWeights:
    """Where a backbone's published weights come from, as `ensemble.weights.official` looks them up.

    `downloads` are the network weights in order of preference: a models folder is
    searched for them in that order (a ``.ckpt`` also as its ``.index`` + ``.data-*``
    pair), then a SavedModel in the backbone's folder, then the cache, then each is
    downloaded in turn. `files` are the other published files (class map, PCA
    parameters) found the same way by their key. `known_local_sha256` holds hashes
    of copies known to be genuine that the download address no longer serves
    (they verify local files only).
    """

    downloads: tuple[Asset, ...]
    manual_source: str  # where people get the weights by hand, and which file goes where
    files: tuple[Asset, ...] = ()
    known_local_sha256: dict[str, frozenset[str]] = field(default_factory=dict)

    @property
    def assets(self) -> tuple[Asset, ...]:
        return (*self.downloads, *self.files)


@dataclass(frozen=True)
class Backbone:
    """One pretrained audio network: its tower, its weights, its readable layers and its published files."""

    name: str  # also the prefix of its layers (``<name>_*``) and its folder in a models folder
    display: str  # the name people read ("YAMNet")
    embedding_size: int
    tower: Callable[..., Any]  # (log-mel tensor, layer prefix, up_to=tap) -> backbones.tower.Tower
    weights: Callable[[Any, Any, int, str], None]  # (keras model, weights source or None, seed, layer prefix)
    tap_widths: dict[str, int]  # readable layers, shallow to deep -> feature width; the last is the embedding
    fine_tune_layers: int = 0  # weight-carrying layers at the top of the tower that fine-tuning unfreezes
    candidate_taps: tuple[tuple[str, ...], ...] = ()  # the tap sets a head's layer search tries
    weighted_taps: tuple[tuple[str, ...], ...] = ()  # layer sets of one width it also tries as a learned weighted sum
    official: OfficialWeights | None = None  # None: nothing published (seeded weights only, marked "untrained")

    def __post_init__(self):
        if not self.tap_widths:
            raise ValueError(f"backbone {self.name!r} declares no readable layer (tap_widths)")
        if self.tap_widths[self.embedding_tap] != self.embedding_size:
            raise ValueError(f"backbone {self.name!r}: its last tap {self.embedding_tap!r} is "
                             f"{self.tap_widths[self.embedding_tap]} wide, its embedding {self.embedding_size}")
        for taps in (*self.candidate_taps, *self.weighted_taps):
            self.check_taps(taps)

    @property
    def tap_names(self) -> tuple[str, ...]:
        return tuple(self.tap_widths)

    @property
    def embedding_tap(self) -> str:
        """The tap whose pooled output is the backbone's published embedding (its last layer)."""
        return self.tap_names[-1]

    def add_tower(self, x, up_to: str | None = None):
        """Add the backbone's layers (named ``<backbone>_*``) to tensor `x`, up to tap `up_to`; returns its `Tower`."""
        return self.tower(x, self.name, up_to=up_to)

    def check_taps(self, taps) -> tuple[str, ...]:
        """`taps` ordered shallow to deep; an unknown name is refused, naming the backbone's taps."""
        unknown = [t for t in taps if t not in self.tap_widths]
        if unknown or not taps:
            raise ValueError(f"{self.name} has no layer(s) {unknown or list(taps)}; its taps are {', '.join(self.tap_names)}")
        return tuple(sorted(set(taps), key=self.tap_names.index))

    def load_weights(self, model, source, seed: int) -> None:
        """Fill the model's ``<backbone>_*`` layers from `source`, or with seeded random weights when untrained."""
        self.weights(model, source, seed, self.name)
