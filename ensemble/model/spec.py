"""What an emotion model is made of: its backbones, how they are fused, its heads and the names of its layers.

A `ModelSpec` describes one model completely enough to build its graph
(`ensemble.model.graph.build_model`), to train its heads on cached layer features
(`ensemble.training.trainer`) and to move those heads into the graph by layer name
(`ensemble.training.assembly`).
It is what a saved model's ``config.json`` holds (``name``, ``fusion``,
``head``), so a run folder rebuilds the same graph.

Backbones are registered in `ensemble.backbones.registry` (each module declares its
`Backbone`; `BACKBONES` is re-exported here). Every backbone is also a
single-backbone model of the same name, and a branch of the ensemble; `MODELS`
reads the registry at each use, so a backbone registered later is a model too.
Fusions are registered here:

* `FUSIONS`: fusion name -> the heads it puts on the ensemble's branches.
  Several heads are joined by a weighted sum of their class log-probabilities
  (weights fitted on validation speakers: late fusion); one head on several
  branches reads their concatenated embeddings (feature fusion).

Heads read **taps**: named layers of a backbone (YAMNet's 14 blocks, VGGish's
four conv groups and two dense layers), each averaged over time and frequency,
concatenated when several. `ModelSpec.taps` holds the layers chosen for each
branch (on inner-validation speakers, see `ensemble.training.trainer`); a model saved
before taps existed has none, and its heads read the published embedding.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Callable, ClassVar

from seraudit.ensemble.backbones.registry import BACKBONES  # re-exported: the registry itself, read with the spec
from seraudit.ensemble.model.head_layers import HeadConfig

ENSEMBLE = "ensemble"
BASELINE_MODEL = "egemaps"  # the eGeMAPS + logistic-regression reference: a model of every run, without a graph
INPUT_NAME = "log_mel"  # the graph's input layer: log-mel patches [B, 96, 64]
#: How a clip's patches become its prediction: "mean" (mean of patch log-probabilities, after the graph), "stats"
#: (statistics pooling of the tapped features, in the graph), "attentive" (attentive statistics pooling, in the graph).
POOLINGS = ("mean", "stats", "attentive")
LOGITS_NAME = "logits"  # the model's pre-softmax class scores [B, C]
OUTPUT_NAME = "probabilities"  # softmax of LOGITS_NAME


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


@dataclass(frozen=True)
class Fusion:
    """How the ensemble joins its branches: the heads it puts on them."""

    name: str
    display: str  # how a model's display name says it ("late fusion")
    heads: Callable[[tuple[str, ...]], tuple[HeadSpec, ...]]


FUSIONS: dict[str, Fusion] = {
    f.name: f
    for f in (
        Fusion("late", "late fusion", lambda branches: tuple(HeadSpec(b, (b,)) for b in branches)),
        Fusion("feature", "feature fusion", lambda branches: (HeadSpec("fused", tuple(branches)),)),
    )
}


class ModelBranches(Mapping):
    """Model name -> its branches: the ensemble of every registered backbone, then each backbone alone.

    Read from the registry at each use, so a backbone registered after this module
    was imported is a model (and a branch of the ensemble) at once.
    """

    def __getitem__(self, name: str) -> tuple[str, ...]:
        if name == ENSEMBLE:
            return tuple(BACKBONES)
        if name in BACKBONES:
            return (name,)
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter((ENSEMBLE, *BACKBONES))

    def __len__(self) -> int:
        return 1 + len(BACKBONES)

    def __repr__(self) -> str:
        return f"ModelBranches({dict(self)!r})"


MODELS = ModelBranches()
NEURAL_MODELS = tuple(MODELS)  # the neural models of the built-in backbones (test `name in MODELS` for later ones)


@dataclass(frozen=True)
class ModelSpec:
    """One emotion model: ``log_mel [B, 96, 64] -> towers -> heads -> logits -> probabilities``."""

    name: str  # a key of MODELS
    branches: tuple[str, ...]  # backbones, in graph order
    fusion: str | None  # a key of FUSIONS for several branches, None for a single backbone
    head: HeadConfig = field(default_factory=HeadConfig)
    taps: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (branch, the layers its heads read); absent: the embedding
    pooling: str = "mean"  # a key of POOLINGS: how a clip's patches become its prediction

    input_name: ClassVar[str] = INPUT_NAME
    logits_name: ClassVar[str] = LOGITS_NAME
    output_name: ClassVar[str] = OUTPUT_NAME

    def __post_init__(self):
        if len(self.branches) > 1 and self.fusion not in FUSIONS:
            raise ValueError(f"the {self.name} needs fusion {' or '.join(map(repr, FUSIONS))}, got {self.fusion!r}")
        unknown = [b for b in self.branches if b not in BACKBONES]
        if unknown or not self.branches:
            raise ValueError(f"unknown backbone(s) {unknown}; choose from {', '.join(BACKBONES)}")
        for branch, taps in self.taps:
            if branch not in self.branches:
                raise ValueError(f"taps for {branch!r}, which is not a branch of the {self.name}")
            BACKBONES[branch].check_taps(taps)
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling {self.pooling!r}: choose {', '.join(POOLINGS)}")

    @classmethod
    def named(cls, name: str, fusion: str | None = "late", head: HeadConfig | None = None,
              taps: dict[str, tuple[str, ...]] | None = None, pooling: str = "mean",
              branches: tuple[str, ...] | None = None) -> "ModelSpec":
        """The spec of model `name` (`fusion` applies to the ensemble only; `taps`: branch -> layers its heads read).

        `branches` fixes the ensemble's branches (a saved ensemble keeps those it was trained with when
        backbones are registered later); by default the ensemble has every registered backbone.
        """
        if name not in MODELS:
            raise ValueError(f"unknown model {name!r}; choose {', '.join(MODELS)}")
        if branches and name == ENSEMBLE:  # in registry order: config.json stores them as a sorted mapping
            unknown = sorted(set(branches) - set(MODELS[name]))
            if unknown:
                raise ValueError(f"saved ensemble reads unregistered backbones {', '.join(unknown)}")
            branches = tuple(b for b in MODELS[name] if b in set(branches))
        else:
            branches = MODELS[name]
        chosen = tuple((b, BACKBONES[b].check_taps(taps[b])) for b in branches if taps and b in taps)
        return cls(name, branches, fusion if len(branches) > 1 else None, head if head is not None else HeadConfig(),
                   chosen, pooling)

    @classmethod
    def from_config(cls, config: dict) -> "ModelSpec":
        """The spec a saved model's ``config.json`` describes (keys ``name``, ``fusion``, ``head``, ``taps``).

        Models saved before heads read mid-level layers have no ``taps``: their heads read the embedding.
        A saved ensemble's branches are those its ``branch_untrained`` lists (every saved model records
        them, in graph order), so a backbone registered after it was trained does not change its graph.
        """
        taps = {b: tuple(t) for b, t in (config.get("taps") or {}).items()}
        saved_branches = tuple(config.get("branch_untrained") or ()) or None
        return cls.named(config["name"], config.get("fusion"), HeadConfig(**config.get("head", {})), taps or None,
                         config.get("pooling", "mean"), saved_branches)

    def to_config(self) -> dict:
        """The spec's part of ``config.json``."""
        config = {"name": self.name, "fusion": self.fusion, "head": self.head.to_dict()}
        if self.taps:
            config["taps"] = {b: list(t) for b, t in self.taps}
        if self.pooling != "mean":  # absent for mean pooling: models saved before in-graph pooling still match
            config["pooling"] = self.pooling
        return config

    @property
    def pools_in_graph(self) -> bool:
        """True when the graph pools a clip's patches itself (one clip per call; see `ensemble.model.pooling_layers`)."""
        return self.pooling != "mean"

    def taps_of(self, branch: str) -> tuple[str, ...]:
        """The layers the heads read from `branch`: its chosen taps, or its embedding tap when none were chosen."""
        return dict(self.taps).get(branch, (BACKBONES[branch].embedding_tap,))

    def reads_embedding(self, branch: str) -> bool:
        """True for a model whose heads read `branch`'s published embedding (models saved before layer taps)."""
        return branch not in dict(self.taps)

    def feature_size(self, branch: str) -> int:
        return sum(BACKBONES[branch].tap_widths[t] for t in self.taps_of(branch))

    def input_size(self, head: "HeadSpec") -> int:
        """Width of what `head` reads: the pooled taps of its branches, concatenated."""
        return sum(self.feature_size(b) for b in head.branches)

    def features_layer(self, branch: str) -> str:
        """Name of the graph layer holding what the heads read from `branch` (the split point of frozen towers)."""
        return f"{branch}_features"

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
