"""Test-time augmentation: a clip predicted as itself plus seeded, mildly augmented copies, pooled into one distribution.

Each copy is a waveform augmentation that should not change the emotion a
listener hears (a small gain change, a short time shift); no noise, no
SpecAugment and no mixup, which make inputs the model never meets at inference.
Every copy is cut into patches with the run's GDS threshold and predicted with the
model's own patch pooling, and the copies' clip distributions pool by the same
rule as patches do (`seraudit.ensemble.model.clip_pooling`: mean log-probability,
renormalised), so one copy the model is sure about cannot outvote the others by
a probability it gave one class alone.

Copy i of a clip draws from ``augment.copy_rng(seed, i)``: a rerun with the same
seed gives the same copies and the same numbers.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from seraudit.core.constants import SAMPLE_RATE
from seraudit.ensemble.model.clip_pooling import pool_log_probabilities
from seraudit.preprocessing.augment import Augmentation, augmented_copies
from seraudit.preprocessing.pipeline import ClipFeatures, clip_features

#: The test-time copies: every copy gets a gain in ±3 dB and a zero-filled shift of up to 0.1 s (both always
#: applied, so no copy repeats the clip itself). No noise: with faint white noise (25-35 dB SNR) added too, the
#: copies cost YAMNet 7.6 UAR points on RAVDESS (2.4 s) and 6.7 on EmoDB (2 s) in cross-validation
#: (`benchmarks/cross_validation.py --variants "default;tta=2"`): its features react to a noise floor the
#: heads never heard in training, while gain and shift alone help.
TTA_AUGMENTATION = Augmentation(
    gain_probability=1.0,
    gain_db=(-3.0, 3.0),
    shift_probability=1.0,
    max_shift_s=0.1,
    noise_probability=0.0,
    spec_probability=0.0,
    mixup_alpha=None,
)


def clip_copies(clip: ClipFeatures, n: int, seed: int, gds_threshold: float,
                augmentation: Augmentation = TTA_AUGMENTATION) -> list[ClipFeatures]:
    """`clip` itself, then `n` augmented copies of its conformed waveform, each cut into patches with `gds_threshold`."""
    if n < 0:
        raise ValueError(f"the number of test-time copies must not be negative, got {n}")
    waveforms = augmented_copies(clip.audio.waveform, n, augmentation, seed)
    return [clip] + [clip_features((w, SAMPLE_RATE), gds_threshold=gds_threshold) for w in waveforms]


def predict_copies(model, copies: Sequence[ClipFeatures]) -> dict:
    """`model`'s record for a clip from its copies (`clip_copies`): label and the pooled class probabilities.

    Each copy is predicted with ``model.predict_clip`` (the model's own patch
    pooling); the copies' distributions pool as a renormalised geometric mean.
    ``patches_used`` / ``patches_total`` describe the clip itself (the first copy).
    """
    if not copies:
        raise ValueError("need at least the clip itself to predict")
    predictions = [model.predict_clip(c) for c in copies]
    probabilities, _ = pool_log_probabilities(np.stack([p.probabilities for p in predictions]))
    labels = predictions[0].labels
    return predictions[0].as_dict() | {
        "label": labels[int(np.argmax(probabilities))],
        "probabilities": {label: float(p) for label, p in zip(labels, probabilities)},
    }
