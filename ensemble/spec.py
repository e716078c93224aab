"""What an emotion model is made of: its backbones, how they are fused, its heads and the names of its layers.

A `ModelSpec` describes one model completely enough to build its graph
(`ensemble.fusion.build_model`), to train its heads on cached embeddings
(`ensemble.training`) and to move those heads into the graph by layer name.
It is what a saved model's ``config.json`` holds (``name``, ``fusion``,
``head``), so a run folder rebuilds the same graph.

Backbones and fusions are registered here, once each:

* `BACKBONES`: backbone name -> its tower builder, weights loader, embedding
  size and the layers fine-tuning unfreezes. Every backbone is also a
  single-backbone model of the same name, and a branch of the ensemble.
* `FUSIONS`: fusion name -> the heads it puts on the ensemble's branches.
  Several heads are joined by a weighted sum of their class log-probabilities
  (weights fitted on validation speakers: late fusion); one head on several
  branches reads their concatenated embeddings (feature fusion).

A head reads the final embedding of each of its branches; what else a head
could read (other layers of a backbone) or how patches pool into a clip would
be one more field of `HeadSpec` or `ModelSpec`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

from seraudit.core.constants import EMBEDDING_SIZE
from seraudit.ensemble.heads import HeadConfig

ENSEMBLE = "ensemble"
INPUT_NAME = "log_mel"  # the graph's input layer: log-mel patches [B, 96, 64]
LOGITS_NAME = "logits"  # the model's pre-softmax class scores [B, C]
OUTPUT_NAME = "probabilities"  # softmax of LOGITS_NAME


@dataclass(frozen=True)
class Backbone:
    """One pretrained audio network: how its tower is added to a graph and how its weights are filled in."""

    name: str
    embedding_size: int
    fine_tune_layers: int  # weight-carrying layers at the top of the tower that fine-tuning unfreezes
    tower: Callable[[Any, str], Any]  # (log-mel tensor, layer prefix) -> backbones.tower.Tower
    weights: Callable[[Any, Any, int, str], None]  # (keras model, weights source or None, seed, layer prefix)

    def add_tower(self, x):
        """Add the backbone's layers (named ``<backbone>_*``) to tensor `x`; returns its `Tower`."""
        return self.tower(x, self.name)

    def load_weights(self, model, source, seed: int) -> None:
        """Fill the model's ``<backbone>_*`` layers from `source`, or with seeded random weights when untrained."""
        self.weights(model, source, seed, self.name)


def _yamnet_tower(x, prefix: str):
    from seraudit.ensemble.backbones.yamnet import yamnet_tower

    return yamnet_tower(x, prefix=prefix)


def _yamnet_weights(model, source, seed: int, prefix: str) -> None:
    from seraudit.ensemble.backbones.yamnet import load_yamnet_weights

    if source is None or not source.pretrained:
        raise ValueError("YAMNet always has pretrained weights on this tool's path; got none")
    load_yamnet_weights(model, source, prefix=prefix)


def _vggish_tower(x, prefix: str):
    from seraudit.ensemble.backbones.vggish import vggish_tower

    return vggish_tower(x, prefix=prefix)


def _vggish_weights(model, source, seed: int, prefix: str) -> None:
    from seraudit.ensemble.backbones.vggish import init_untrained_vggish, load_vggish_weights

    if source is not None and source.pretrained:
        load_vggish_weights(model, source, prefix=prefix)
    else:
        init_untrained_vggish(model, seed, prefix=prefix)


BACKBONES: dict[str, Backbone] = {
    b.name: b
    for b in (
        Backbone("yamnet", EMBEDDING_SIZE["yamnet"], 4, _yamnet_tower, _yamnet_weights),
        Backbone("vggish", EMBEDDING_SIZE["vggish"], 3, _vggish_tower, _vggish_weights),
    )
}


@dataclass(frozen=True)
class HeadSpec:
    """One dense head: the branches whose embeddings it reads (concatenated in this order) and its layer names.

    Heads with the same `key` are the same head wherever they sit (the YAMNet-only
    model and the late-fused ensemble share the head trained on YAMNet embeddings).
    """

    key: str  # "yamnet", "vggish", "fused"
    branches: tuple[str, ...]

    @property
    def prefix(self) -> str:
        """Prefix of every layer of the head, e.g. ``"yamnet_head"``."""
        return f"{self.key}_head"

    @property
    def logits_layer(self) -> str:
        """The head's logits layer when it stands alone (trained on cached embeddings) or is one of several."""
        return f"{self.prefix}_logits"

    @property
    def embedding_layer(self) -> str:
        """Name of the layer that concatenates the branches' embeddings (heads on several branches)."""
        return f"{self.key}_embedding"

    @property
    def input_size(self) -> int:
        return sum(BACKBONES[b].embedding_size for b in self.branches)


@dataclass(frozen=True)
class Fusion:
    """How the ensemble joins its branches: the heads it puts on them."""

    name: str
    heads: Callable[[tuple[str, ...]], tuple[HeadSpec, ...]]


FUSIONS: dict[str, Fusion] = {
    f.name: f
    for f in (
        Fusion("late", lambda branches: tuple(HeadSpec(b, (b,)) for b in branches)),
        Fusion("feature", lambda branches: (HeadSpec("fused", tuple(branches)),)),
    )
}

#: Model name -> its branches: the ensemble of every backbone, and each backbone alone.
MODELS: dict[str, tuple[str, ...]] = {ENSEMBLE: tuple(BACKBONES), **{b: (b,) for b in BACKBONES}}
NEURAL_MODELS = tuple(MODELS)


@dataclass(frozen=True)
class ModelSpec:
    """One emotion model: ``log_mel [B, 96, 64] -> towers -> heads -> logits -> probabilities``."""

    name: str  # a key of MODELS
    branches: tuple[str, ...]  # backbones, in graph order
    fusion: str | None  # a key of FUSIONS for several branches, None for a single backbone
    head: HeadConfig = field(default_factory=HeadConfig)

    input_name: ClassVar[str] = INPUT_NAME
    logits_name: ClassVar[str] = LOGITS_NAME
    output_name: ClassVar[str] = OUTPUT_NAME

    def __post_init__(self):
        if len(self.branches) > 1 and self.fusion not in FUSIONS:
            raise ValueError(f"the {self.name} needs fusion {' or '.join(map(repr, FUSIONS))}, got {self.fusion!r}")
        unknown = [b for b in self.branches if b not in BACKBONES]
        if unknown or not self.branches:
            raise ValueError(f"unknown backbone(s) {unknown}; choose from {', '.join(BACKBONES)}")

    @classmethod
    def named(cls, name: str, fusion: str | None = "late", head: HeadConfig | None = None) -> "ModelSpec":
        """The spec of model `name` (`fusion` applies to the ensemble only)."""
        if name not in MODELS:
            raise ValueError(f"unknown model {name!r}; choose {', '.join(MODELS)}")
        branches = MODELS[name]
        return cls(name, branches, fusion if len(branches) > 1 else None, head if head is not None else HeadConfig())

    @classmethod
    def from_config(cls, config: dict) -> "ModelSpec":
        """The spec a saved model's ``config.json`` describes (keys ``name``, ``fusion``, ``head``)."""
        return cls.named(config["name"], config.get("fusion"), HeadConfig(**config.get("head", {})))

    def to_config(self) -> dict:
        """The spec's part of ``config.json``."""
        return {"name": self.name, "fusion": self.fusion, "head": self.head.to_dict()}

    @property
    def heads(self) -> tuple[HeadSpec, ...]:
        if self.fusion is None:
            return (HeadSpec(self.branches[0], self.branches),)
        return FUSIONS[self.fusion].heads(self.branches)

    @property
    def weighs_heads(self) -> bool:
        """True when the model's log-probabilities are a weighted sum of several heads' (late fusion)."""
        return len(self.heads) > 1

    def graph_logits(self, head: HeadSpec) -> str:
        """Name of `head`'s logits layer inside this model's graph (the model's own logits for a single head)."""
        return head.logits_layer if self.weighs_heads else LOGITS_NAME

    @property
    def keras_name(self) -> str:
        return self.name if not self.fusion else f"{self.name}_{self.fusion}"
