"""The settings of one training run: what decides it, recorded in its provenance and compared to reuse a saved run.

`TrainSettings` is frozen: it is built once (by the train command, the main job, the library
or a benchmark) and every later step reads it, so the settings a run records are the ones it
was trained with. `TrainSettings.to_dict` is what a saved run stores under ``settings``;
`Run.reusable` compares it field by field, so a setting left at its default stays out of it
(runs trained before that setting existed still match). A variant of a settings object is a
new one (`dataclasses.replace`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace

from seraudit.ensemble.model.head_layers import HeadConfig
from seraudit.ensemble.model.spec import BACKBONES, MODELS, ModelSpec
from seraudit.ensemble.training.fine_tuning import FineTuneConfig
from seraudit.preprocessing.gds import GdsSettings

FINE_TUNE_LAYERS = {b.name: b.fine_tune_layers for b in BACKBONES.values()}
FINE_TUNE_DEFAULTS = FineTuneConfig()
AUX_TASKS = ("gender", "intensity")  # clip-table fields a run may learn beside the emotion (multitask)
LAYER_SEARCHES = ("all", "unweighted", "weighted")  # which candidates the layer search tries


@dataclass(frozen=True)
class TrainSettings:
    """Everything that decides a training run (recorded in its provenance); frozen: build a new one to vary it."""

    corpus: str
    data: str
    models: list[str]
    fusion: str = "late"
    fine_tune: bool = False
    gds: GdsSettings = field(default_factory=GdsSettings)
    head: HeadConfig = field(default_factory=HeadConfig)
    seed: int = 0
    max_clips: int | None = None
    models_dir: str | None = None
    allow_untrained: tuple[str, ...] = ()
    download: bool = True
    cache_dir: str | None = None
    progress: bool = True
    n_boot: int = 2000
    command_line: list[str] = field(default_factory=lambda: list(sys.argv))
    fine_tune_epochs: int = FINE_TUNE_DEFAULTS.epochs
    fine_tune_backbone_lr_ratio: float = FINE_TUNE_DEFAULTS.backbone_lr_ratio  # backbone LR = head LR * this
    fine_tune_augment: str = FINE_TUNE_DEFAULTS.augment  # recipe drawn afresh every epoch: full, mild (no noise), off
    mixup_alpha: float = FINE_TUNE_DEFAULTS.mixup_alpha  # fine-tuning mixup within batches; 0: off
    layers: dict[str, tuple[str, ...]] | None = None  # backbone -> fixed layers its heads read; None: searched
    weights: dict[str, str] | None = None  # backbone -> TF Hub / Kaggle model handle replacing the weights look-up
    # "unweighted" (default): single layers and fixed sets; "weighted": learned mixes only; "all": both. The mix
    # measured no better than the best single layer (RAVDESS 2.4 s, YAMNet: -0.9 [-3.4, +1.8] UAR points), so the
    # simpler search is the default.
    layer_search: str = "unweighted"
    aux_tasks: tuple[str, ...] = ()  # multitask: fields of AUX_TASKS learned beside the emotion
    aux_weight: float = 0.3  # their loss weight relative to the emotion's
    augment_copies: int = 0  # frozen heads: K augmented copies of every training clip (`ensemble.data.augmented_copies`)
    tta_copies: int = 0  # cross-validation scores each test clip with N test-time copies too (`ensemble.inference.tta`)
    # "mean" (default): heads on each clip's mean layer output, the graph's patch log-probabilities pooled after it;
    # "stats": statistics pooling (mean and standard deviation per layer); "attentive": attentive statistics pooling
    # (`ensemble.heads.attentive`); both pool inside the saved graph (`ensemble.model.pooling_layers`)
    pooling: str = "mean"
    strict: bool = False  # refuse a corpus with unusable clips instead of training on the rest
    label_map: str | None = None  # CSV/JSON file mapping a manifest's own labels to the canonical emotions

    def to_dict(self) -> dict:
        return {
            "corpus": self.corpus,
            "data": str(self.data),
            "models": list(self.models),
            "fusion": self.fusion,
            "fine_tune": self.fine_tune,
            "fine_tune_layers": FINE_TUNE_LAYERS if self.fine_tune else None,
            "fine_tune_epochs": self.fine_tune_epochs if self.fine_tune else None,
            "gds": self.gds.to_dict(),
            "head": self.head.to_dict(),
            "seed": self.seed,
            "max_clips": self.max_clips,
            "allow_untrained": list(self.allow_untrained),
            "n_boot": self.n_boot,
            "command_line": list(self.command_line),
            "layers": "searched on validation speakers" if self.layers is None else {b: list(t) for b, t in self.layers.items()},
            **({"weights": dict(self.weights)} if self.weights else {}),  # absent when unset: older runs still match
            **({"fine_tuning": self.fine_tuning_record()} if self.fine_tune else {}),  # likewise without fine-tuning
            **self._variant_settings(),
        }

    def fine_tune_config(self) -> FineTuneConfig:
        return replace(FINE_TUNE_DEFAULTS, epochs=self.fine_tune_epochs, backbone_lr_ratio=self.fine_tune_backbone_lr_ratio,
                       augment=self.fine_tune_augment, mixup_alpha=self.mixup_alpha)

    def fine_tuning_record(self) -> dict:
        """How the graphs are fine-tuned: learning rates, epochs, augmentation and the seed its draws come from."""
        from seraudit.ensemble.training.fine_tune_batches import fine_tune_augmentation, fine_tune_augmentation_seed

        config = self.fine_tune_config()
        record = config.to_dict()
        augmentation = fine_tune_augmentation(config.augment, config.mixup_alpha)
        if augmentation is not None:
            record.update(augmentation=augmentation.to_dict(), augmentation_seed=fine_tune_augmentation_seed(self.seed))
        return record

    def _variant_settings(self) -> dict:
        """The head-search, multitask, augmentation and pooling settings that differ from the defaults (absent when
        default, so runs trained before these settings existed still match)."""
        out = {}
        if self.layer_search != "unweighted":
            out["layer_search"] = self.layer_search
        if self.aux_tasks:
            out.update(aux_tasks=list(self.aux_tasks), aux_weight=self.aux_weight)
        if self.augment_copies:
            out.update(augment_copies=self.augment_copies, augmentation=_train_augmentation())
        if self.tta_copies:
            out["tta_copies"] = self.tta_copies
        if self.pooling != "mean":
            out["pooling"] = self.pooling
        return out

    def specs(self) -> dict[str, ModelSpec]:
        """The spec of every neural model of the run, in the order of `models`."""
        return {name: ModelSpec.named(name, self.fusion, self.head, pooling=self.pooling)
                for name in self.models if name in MODELS}


def _train_augmentation() -> dict:
    from seraudit.ensemble.data.augmented_copies import TRAIN_AUGMENTATION

    return TRAIN_AUGMENTATION.to_dict()


def parse_layers(text: str) -> dict[str, tuple[str, ...]] | None:
    """``"search"`` -> None (chosen on validation speakers); ``"last"`` -> every backbone's embedding layer;
    ``"yamnet:layer8,vggish:fc1"`` (``+`` joins several layers) -> those layers. Unknown names are refused."""
    text = text.strip()
    if text in ("", "search"):
        return None
    if text == "last":
        return {b: (backbone.embedding_tap,) for b, backbone in BACKBONES.items()}
    layers = {}
    for part in text.split(","):
        branch, _, taps = part.partition(":")
        if branch not in BACKBONES or not taps:
            raise ValueError(f"layers {text!r}: write BACKBONE:LAYER[+LAYER], e.g. yamnet:layer8,vggish:fc1 "
                             f"(backbones: {', '.join(BACKBONES)}), or 'search' or 'last'")
        layers[branch] = BACKBONES[branch].check_taps(tuple(taps.split("+")))
    return layers

