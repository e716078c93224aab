"""End-to-end training of an assembled flat graph: the heads and the backbone layers below the chosen taps.

Fine-tuning starts from a graph whose heads were fitted on frozen features
(`ensemble.training.trainer`) and moved into it (`ensemble.training.assembly`),
truncated at the deepest layer its heads read (`ensemble.model.graph.build_model`). `unfreeze_below_taps` unfreezes the top
weight layers of each tower, just below those taps (a batch norm, where a
tower has one, stays frozen: its statistics come from AudioSet, and a few
thousand patches would only add noise to them; YAMNet's are folded into its
convolutions). `fine_tune` then trains with two learning rates, the head's
and a lower one for the backbone (``head_lr * backbone_lr_ratio``: pretrained
filters should move less than a head that is still adapting to them), by a
custom `tf.GradientTape` loop with one Adam optimizer per group.

The loss is class-balanced cross-entropy on soft targets (one-hot, or mixup
blends: `ensemble.training.fine_tune_batches`). The heads' L2 penalty is not re-applied:
it was chosen for the clip-feature fit, where it is far weaker per example than
the graph's nominal ``l2``; early stopping is the regulariser here. Each epoch
the validation speakers' clips are scored as saved models score them (mean
probability over their kept patches): the best clip UAR, ties by clip log-loss,
is kept, the epoch before any training included, so fine-tuning never returns
a graph worse on validation than the one it started from. `fine_tune_on_corpus`
feeds it a prepared corpus's training and validation patches.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np

from seraudit.ensemble.training.fine_tune_batches import FINE_TUNE_AUGMENTATIONS, EpochBatches
from seraudit.ensemble.model.clip_pooling import LOG_EPS, pool_by_clip


@dataclass(frozen=True)
class FineTuneConfig:
    """How a graph is fine-tuned (recorded in the run's provenance)."""

    head_lr: float = 1e-4
    backbone_lr_ratio: float = 0.1  # the unfrozen backbone layers learn at head_lr * this
    epochs: int = 20
    patience: int = 3  # epochs without a better validation score before stopping
    batch_size: int = 32
    augment: str = "full"  # the recipe drawn every epoch: a key of fine_tune_batches.FINE_TUNE_AUGMENTATIONS
    mixup_alpha: float = 0.0  # 0: off

    def __post_init__(self) -> None:
        if self.head_lr <= 0 or self.backbone_lr_ratio < 0:
            raise ValueError(f"learning rates: head_lr must be positive and backbone_lr_ratio not negative, got "
                             f"{self.head_lr} and {self.backbone_lr_ratio}")
        if self.augment not in FINE_TUNE_AUGMENTATIONS:
            raise ValueError(f"fine-tuning augmentation {self.augment!r}: choose {', '.join(FINE_TUNE_AUGMENTATIONS)}")
        if self.mixup_alpha < 0:
            raise ValueError(f"mixup_alpha must be 0 (off) or positive, got {self.mixup_alpha}")

    @property
    def backbone_lr(self) -> float:
        return self.head_lr * self.backbone_lr_ratio

    def to_dict(self) -> dict:
        return {**asdict(self), "backbone_lr": self.backbone_lr}


def unfreeze_below_taps(built, n_layers: dict[str, int]) -> dict[str, list[str]]:
    """Unfreeze the top ``n_layers[branch]`` weight layers of each tower of a built graph; returns their names.

    The graph holds each tower only up to its deepest tap, so these are the layers right below what the heads read.
    """
    from seraudit.ensemble.model.graph import set_trainable_top

    return {b: set_trainable_top(built.keras_model, tower, n_layers[b]) for b, tower in built.towers.items()}


def logits_model(model):
    """The graph up to its ``logits`` layer (sharing its layers and weights): what the loss is computed on."""
    import keras

    from seraudit.ensemble.model.spec import LOGITS_NAME

    return keras.Model(model.inputs[0], model.get_layer(LOGITS_NAME).output)


def backbone_and_head_variables(model, backbone_layers) -> tuple[list, list]:
    """The trainable variables of the unfrozen backbone layers, and every other trainable variable (the heads')."""
    backbone_layers = set(backbone_layers)
    backbone = [v for layer in model.layers if layer.name in backbone_layers for v in layer.trainable_weights]
    paths = {v.path for v in backbone}
    return backbone, [v for v in model.trainable_weights if v.path not in paths]


@dataclass
class ValidationPatches:
    """The validation speakers' kept patches and the clips they pool into."""

    patches: np.ndarray  # [M, 96, 64]
    clip_of: np.ndarray  # [M] 0..n_clips-1
    clip_labels: np.ndarray  # [n_clips]

    def score(self, model, batch_size: int = 256) -> tuple[float, float]:
        """(clip UAR, clip log-loss) of a logits graph: each clip's mean probability over its patches."""
        from sklearn.metrics import balanced_accuracy_score

        logits = np.concatenate([np.asarray(model(self.patches[i : i + batch_size], training=False), np.float64)
                                 for i in range(0, len(self.patches), batch_size)])
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        clip_probs = pool_by_clip(probs, self.clip_of, len(self.clip_labels))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            uar = balanced_accuracy_score(self.clip_labels, clip_probs.argmax(axis=1))
        picked = clip_probs[np.arange(len(self.clip_labels)), self.clip_labels]
        return float(uar), float(-np.mean(np.log(np.clip(picked, LOG_EPS, 1.0))))


def fine_tune(model, backbone_layers, batches: EpochBatches, validation: ValidationPatches | None,
              class_weights: np.ndarray, config: FineTuneConfig, seed: int) -> dict:
    """Train logits graph `model` on `batches`: heads at ``head_lr``, `backbone_layers` at ``backbone_lr``.

    Stops after ``patience`` epochs without a better validation score and restores the best weights (without
    validation clips it trains every epoch). Returns the training summary.
    """
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    backbone_vars, head_vars = backbone_and_head_variables(model, backbone_layers)
    trained = head_vars + backbone_vars
    head_opt, backbone_opt = keras.optimizers.Adam(config.head_lr), keras.optimizers.Adam(config.backbone_lr)
    head_opt.build(head_vars)
    if backbone_vars:
        backbone_opt.build(backbone_vars)
    weights = tf.constant(np.asarray(class_weights, np.float32))

    @tf.function(reduce_retracing=True)
    def step(x, y):
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            per_example = -tf.reduce_sum(y * tf.nn.log_softmax(logits, axis=-1), axis=-1)
            loss = tf.reduce_mean(per_example * tf.linalg.matvec(y, weights))
        grads = tape.gradient(loss, trained)
        head_opt.apply(grads[: len(head_vars)], head_vars)
        if backbone_vars:
            backbone_opt.apply(grads[len(head_vars) :], backbone_vars)
        return loss

    def snapshot():
        return [np.array(v.numpy(), copy=True) for v in trained]

    has_val = validation is not None and len(validation.clip_labels) > 0
    history, epochs_run = [], 0
    best_key, best_epoch, best = None, 0, snapshot()
    if has_val:
        uar, loss = validation.score(model)
        history.append({"epoch": 0, "val_uar": uar, "val_loss": loss})
        best_key = (uar, -loss)
    for epoch in range(1, config.epochs + 1):
        losses = [float(step(tf.constant(x), tf.constant(y))) for x, y in batches.epoch(epoch - 1)]
        epochs_run = epoch
        record = {"epoch": epoch, "train_loss": float(np.mean(losses))}
        if has_val:
            uar, loss = validation.score(model)
            record.update(val_uar=uar, val_loss=loss)
        history.append(record)
        if not has_val or (uar, -loss) > best_key:
            best_key, best_epoch, best = (None if not has_val else (uar, -loss)), epoch, snapshot()
        elif epoch - best_epoch >= config.patience:
            break
    for variable, value in zip(trained, best):
        variable.assign(value)
    summary = {"epochs_run": epochs_run, "best_epoch": best_epoch, "history": history,
               "backbone_variables": len(backbone_vars), "head_variables": len(head_vars)}
    if has_val:
        summary.update(best_val_uar=best_key[0], best_val_loss=-best_key[1])
    return summary


def fine_tune_on_corpus(built, data, train_patches: np.ndarray, val_patches: np.ndarray, config: FineTuneConfig,
                        seed: int) -> dict:
    """Fine-tune assembled graph `built` on a prepared corpus (`ensemble.data.corpus_data.CorpusData`): its training
    patches (boolean mask `train_patches`) augmented afresh every epoch, early-stopped on the clips of `val_patches`.

    Unfreezes each tower's layers just below its chosen taps (how many: the backbone's ``fine_tune_layers``); the
    classes weigh the loss by their balance among the training patches. Returns the training summary.
    """
    import time

    from seraudit.ensemble.model.head_layers import balanced_class_weights
    from seraudit.ensemble.model.spec import BACKBONES
    from seraudit.ensemble.training.fine_tune_batches import (
        TrainingPatches, changes_waveforms, fine_tune_augmentation, fine_tune_augmentation_seed,
    )

    if data.patches.data is None:
        raise RuntimeError("fine-tuning needs the log-mel patches in memory")
    start = time.perf_counter()
    unfrozen = unfreeze_below_taps(built, {b: BACKBONES[b].fine_tune_layers for b in built.towers})
    train_idx, val_idx = np.flatnonzero(train_patches), np.flatnonzero(val_patches)
    augmentation = fine_tune_augmentation(config.augment, config.mixup_alpha)
    source = TrainingPatches.from_corpus(data, train_idx, with_waveforms=changes_waveforms(augmentation))
    batches = EpochBatches(source, data.n_classes, config.batch_size, fine_tune_augmentation_seed(seed), augmentation)
    val_clips, clip_of = np.unique(data.patches.clip_index[val_idx], return_inverse=True)
    validation = ValidationPatches(np.asarray(data.patches.data[val_idx], np.float32), clip_of, data.y[val_clips])
    weights = balanced_class_weights(source.labels, data.n_classes)
    summary = fine_tune(logits_model(built.keras_model), [n for names in unfrozen.values() for n in names], batches,
                        validation, np.array([weights[c] for c in range(data.n_classes)]), config, seed)
    return {**summary, "unfrozen": unfrozen, "config": config.to_dict(), "train_patches": int(len(train_idx)),
            "seconds": time.perf_counter() - start}
