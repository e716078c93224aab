"""The training batches of end-to-end fine-tuning: the kept training patches, augmented afresh every epoch.

A frozen backbone sees augmented clips once, as K cached copies
(`ensemble.data.augmented_copies`); a backbone being trained has to see new draws
every epoch, so here each epoch re-augments every training clip's waveform
(gain, time shift, noise at a random SNR), recomputes its log-mel patches,
masks each kept patch with SpecAugment and, when ``mixup_alpha`` is set, blends
patches and one-hot targets within each batch. The steps and their ranges are
`preprocessing.augment.Augmentation`'s: ``"full"`` is the frozen copies' recipe,
``"mild"`` the same without the noise (noise at 10-30 dB SNR fills the
silences YAMNet's mid-level blocks never heard with a noise floor, which cost
the test-time copies seven UAR points), ``"off"`` trains on the clean patches.

Epoch ``e`` draws everything (augmentation, batch order, mixup partners) from
``copy_rng(augmentation_seed, e)``, and the augmentation seed derives from the
run seed (`fine_tune_augmentation_seed`), so a recorded seed replays each batch.

Cost, measured on RAVDESS clips (2.4 s, one CPU core): the waveform steps plus
the log-mel front end take about 1 ms per clip, SpecAugment 0.04 ms per patch,
about a second per epoch of a RAVDESS fold; a YAMNet training step costs far
more, so the waveform steps run on the fly rather than only on the log-mels.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterator

import numpy as np

from seraudit.ensemble.data.augmented_copies import TRAIN_AUGMENTATION
from seraudit.preprocessing.augment import Augmentation, copy_rng

#: The augmentation recipes fine-tuning can draw every epoch (None: clean patches).
FINE_TUNE_AUGMENTATIONS: dict[str, Augmentation | None] = {
    "full": TRAIN_AUGMENTATION,  # gain, time shift, noise at 10-30 dB SNR, SpecAugment
    "mild": replace(TRAIN_AUGMENTATION, noise_probability=0.0),  # gain, time shift, SpecAugment
    "off": None,
}
_NOTHING = Augmentation(gain_probability=0.0, shift_probability=0.0, noise_probability=0.0, spec_probability=0.0)


def fine_tune_augmentation(recipe: str, mixup_alpha: float = 0.0) -> Augmentation | None:
    """The augmentation of recipe `recipe` (a key of `FINE_TUNE_AUGMENTATIONS`), with mixup when `mixup_alpha` > 0."""
    if recipe not in FINE_TUNE_AUGMENTATIONS:
        raise ValueError(f"fine-tuning augmentation {recipe!r}: choose {', '.join(FINE_TUNE_AUGMENTATIONS)}")
    augmentation = FINE_TUNE_AUGMENTATIONS[recipe]
    if not mixup_alpha:
        return augmentation
    return replace(augmentation or _NOTHING, mixup_alpha=float(mixup_alpha))


def changes_waveforms(augmentation: Augmentation | None) -> bool:
    """True when `augmentation` has a waveform step (then the training clips' waveforms are needed)."""
    return augmentation is not None and max(augmentation.gain_probability, augmentation.shift_probability,
                                            augmentation.noise_probability) > 0

#: Stream of the run's seed that fine-tuning's augmentation draws from (apart from the seeds of cached copies).
_FINE_TUNE_STREAM = 0x4654


def fine_tune_augmentation_seed(seed: int) -> int:
    """The augmentation seed of fine-tuning under run seed `seed` (recorded in the run's provenance)."""
    return int(np.random.SeedSequence([int(seed), _FINE_TUNE_STREAM]).generate_state(1)[0])


@dataclass
class TrainingPatches:
    """The kept training patches of a split, where each sits in its clip, and (for waveform augmentation) the clips.

    ``waveforms[clip_of[i]]`` is the conformed waveform whose ``position[i]``-th log-mel patch is ``patches[i]``.
    """

    patches: np.ndarray  # [N, 96, 64] float32, clean
    labels: np.ndarray  # [N] class ids
    clip_of: np.ndarray  # [N] row of the patch's clip in `waveforms`
    position: np.ndarray  # [N] the patch's index among its clip's patches
    waveforms: list[np.ndarray] | None = None  # None: log-mel augmentation only

    @classmethod
    def from_corpus(cls, data, patch_idx: np.ndarray, with_waveforms: bool = True) -> "TrainingPatches":
        """The patches `patch_idx` of a prepared corpus (`ensemble.data.corpus_data.CorpusData` with patch data)."""
        from seraudit.preprocessing.audio import load_audio

        patch_idx = np.asarray(patch_idx)
        clip_index = data.patches.clip_index
        first_patch = np.searchsorted(clip_index, np.arange(len(data.table)))  # patches are stored clip by clip
        clips, clip_of = np.unique(clip_index[patch_idx], return_inverse=True)
        waveforms = None
        if with_waveforms:
            waveforms = [load_audio(str(data.table["path"].iloc[c])).waveform for c in clips]
        return cls(np.asarray(data.patches.data[patch_idx], np.float32), data.y[clip_index[patch_idx]],
                   clip_of.astype(np.int64), (patch_idx - first_patch[clip_index[patch_idx]]).astype(np.int64), waveforms)


def _augmented_patches(source: TrainingPatches, augmentation: Augmentation, rng: np.random.Generator) -> np.ndarray:
    """Every training patch cut from a freshly augmented waveform of its clip (the clean patches without waveforms)."""
    from seraudit.core.constants import LOG_OFFSET
    from seraudit.preprocessing.frontend import log_mel
    from seraudit.preprocessing.segments import make_patches

    if source.waveforms is None:
        return source.patches.copy()
    out = np.empty_like(source.patches)
    for clip, waveform in enumerate(source.waveforms):
        rows = np.flatnonzero(source.clip_of == clip)
        cut = make_patches(log_mel(augmentation.waveform(waveform, rng), LOG_OFFSET["yamnet"])).data
        out[rows] = cut[source.position[rows]]
    return out


class EpochBatches:
    """Shuffled (and, with an augmentation, freshly augmented) batches of `source` for each epoch, seeded.

    Targets are soft: one-hot rows, or their mixup blends (convex combinations that sum to 1).
    """

    def __init__(self, source: TrainingPatches, n_classes: int, batch_size: int, seed: int,
                 augmentation: Augmentation | None = None):
        self.source, self.n_classes, self.batch_size = source, n_classes, int(batch_size)
        self.seed, self.augmentation = int(seed), augmentation

    def __len__(self) -> int:
        return -(-len(self.source.labels) // self.batch_size)

    def epoch(self, index: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The batches ``(patches [B, 96, 64], targets [B, C])`` of epoch `index` (the same for the same seed)."""
        rng = copy_rng(self.seed, index)
        x = self.source.patches
        if self.augmentation is not None:
            x = self.augmentation.log_mel(_augmented_patches(self.source, self.augmentation, rng), rng)
        y = np.eye(self.n_classes, dtype=np.float32)[self.source.labels]
        order = rng.permutation(len(y))
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            xb, yb = x[rows], y[rows]
            if self.augmentation is not None:
                xb, yb = self.augmentation.mix(xb, yb, rng)
            yield np.asarray(xb, np.float32), np.asarray(yb, np.float32)
