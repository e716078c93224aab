"""Gaussian data selection (GDS): keep the patches of a clip whose energy distribution looks like its speech.

After Kim & Kwak (2024), Applied Sciences 14(4):1553: each segment is summarised as a
Gaussian distribution of its log-mel energies, and the correlation coefficient between
that distribution and the utterance's reference distribution decides whether the segment
is kept. Concretely, for a clip's patches ``[N, 96, 64]``:

1. Per segment and mel band, a Gaussian ``N(mean, std)`` of the band's 96 log-mel values
   (std floored at `MIN_STD` so a digitally silent band is a narrow peak, not a spike).
2. The reference is the same per-band Gaussian fitted to the clip's *speech* frames only:
   the loudest of three loudness classes (multi-level Otsu over each frame's log total
   mel energy). RAVDESS clips open with 0.4-1.0 s of digital silence, and real clips
   carry a background (room noise, hum) between words; a Gaussian of the whole
   utterance would sit between silence, background and speech and resemble none of
   them, and a two-class split puts the background on the speech side. Three classes
   separate silence, background and speech; on a clip that is all speech the top class
   is its louder half, which every speech segment still matches.
3. Every Gaussian's density is evaluated on one grid of log-mel values spanning the clip;
   a segment's 64 band densities are concatenated, and its score is the Pearson
   correlation with the reference's concatenated densities. Silence sits in other grid
   cells than speech (correlation near 0 or below); so does noise, whose spectral shape
   and level differ band by band from speech.
4. Segments with correlation >= threshold are kept; if none is, the best one is kept, so
   a clip never loses every segment (`keep_mask`: the one keep rule, also applied to the
   correlations a corpus's patch table stores).

Deterministic and vectorised over segments; nothing is fitted across clips. `GdsSettings`
is how a training run switches GDS off or sets its threshold.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.special import logsumexp
from skimage.filters import threshold_multiotsu, threshold_otsu

# Chosen by the GDS ablation (benchmarks/cross_validation.py, YAMNet-only linear head, speaker folds;
# UAR % mean ± std, kept-patch fraction):
#   RAVDESS (2.4 s), 6 folds: off 38.2 ± 3.1 (1.00), 0.2 39.5 ± 2.0 (0.62), 0.3 39.2 ± 3.5 (0.57),
#                             0.4 39.4 ± 2.1 (0.53), 0.5 39.2 ± 2.0 (0.51), 0.6 39.4 ± 2.2 (0.48)
#   EmoDB (2 s), 10 folds:    off 52.6 ± 8.3 (1.00), 0.2 51.1 ± 9.8 (0.92), 0.3 51.4 ± 8.9 (0.90),
#                             0.4 49.9 ± 8.7 (0.87), 0.5 49.8 ± 8.7 (0.82), 0.6 47.8 ± 9.4 (0.75)
# Thresholds 0.2-0.5 are all within one standard error of the best on both corpora (GDS on beats off
# on RAVDESS, whose clips open with digital silence; EmoDB's 2 s clips are mostly speech, where off is
# best). Within that band 0.4 is kept: it sits midway between background noise (<= 0.31) and speech
# (>= 0.53) on synthesised clips, so it still drops noise; 0.2-0.3 would keep it.
DEFAULT_GDS_THRESHOLD = 0.4
MIN_STD = 0.25  # nats: narrowest Gaussian, about twice the grid spacing on a typical clip
GRID_POINTS = 128


@dataclass(frozen=True)
class GdsSettings:
    """Gaussian data selection as a run uses it: off, or on with a correlation threshold."""

    enabled: bool = True
    threshold: float | None = None  # None: DEFAULT_GDS_THRESHOLD

    def resolved(self) -> "GdsSettings":
        if self.enabled and self.threshold is None:
            return GdsSettings(True, float(DEFAULT_GDS_THRESHOLD))
        return self if self.enabled else GdsSettings(False, None)

    def label(self) -> str:
        s = self.resolved()
        return f"GDS {s.threshold:g}" if s.enabled else "no GDS"

    def to_dict(self) -> dict:
        return asdict(self.resolved())


def keep_mask(correlation: np.ndarray, threshold: float, clip_index: np.ndarray | None = None) -> np.ndarray:
    """Which segments GDS keeps ``[N]``: correlation >= threshold, and in a clip that keeps none, its best segment.

    `clip_index` gives each segment's clip (``None``: all segments are one clip), so a
    whole corpus's stored correlations get exactly the mask `select_segments` gives
    each clip; ties for the best segment go to the first.
    """
    correlation = np.asarray(correlation, dtype=np.float64)
    keep = correlation >= threshold
    if len(correlation) == 0:
        return keep
    clip_index = np.zeros(len(correlation), np.int64) if clip_index is None else np.asarray(clip_index, np.int64)
    any_kept = np.bincount(clip_index, weights=keep.astype(np.float64)) > 0
    order = np.lexsort((-correlation, clip_index))  # per clip, best correlation first (stable: first index on ties)
    best = np.zeros(len(keep), bool)
    best[order[np.r_[True, np.diff(clip_index[order]) != 0]]] = True
    return keep | (best & ~any_kept[clip_index])


@dataclass(frozen=True)
class GaussianSelection:
    """Which segments of one clip GDS keeps, and why (each segment's correlation with the reference)."""

    keep: np.ndarray  # bool [N]
    correlation: np.ndarray  # float64 [N], Pearson correlation in [-1, 1]
    threshold: float
    reference: str  # how the reference distribution was formed, for reports
    reference_mean: np.ndarray  # float64 [bands]
    reference_std: np.ndarray  # float64 [bands]

    @property
    def kept_fraction(self) -> float:
        return float(self.keep.mean())


def _densities(mean: np.ndarray, std: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Gaussian densities ``[..., bands * grid]`` for ``mean``/``std`` of shape ``[..., bands]``."""
    z = (grid - mean[..., None]) / std[..., None]
    density = np.exp(-0.5 * z**2) / (std[..., None] * np.sqrt(2.0 * np.pi))
    return density.reshape(*mean.shape[:-1], -1)


def _reference_frames(frames: np.ndarray) -> tuple[np.ndarray, str]:
    """The frames that stand for the clip's speech, and a sentence saying how they were chosen."""
    loudness = logsumexp(frames, axis=1)  # log of the frame's total mel energy
    if np.ptp(loudness) == 0:
        return frames, f"per-band Gaussian of all {len(frames)} patch frames (one loudness level)"
    try:
        cut = float(threshold_multiotsu(loudness, classes=3)[1])
        how = "the loudest of 3 multi-Otsu loudness classes"
    except ValueError:  # fewer than 3 distinct loudness levels
        cut = float(threshold_otsu(loudness))
        how = "the louder of 2 Otsu loudness classes"
    active = frames[loudness > cut]
    if len(active) == 0:
        active = frames[loudness == loudness.max()]
    return active, (f"per-band Gaussian of {len(active)} of {len(frames)} patch frames: {how} "
                    f"(log mel energy above {cut:.2f})")


def select_segments(patches_data: np.ndarray, threshold: float = DEFAULT_GDS_THRESHOLD) -> GaussianSelection:
    """Score every patch ``[N, 96, bands]`` of one clip against the clip's speech and keep the similar ones.

    Examples
    --------
    >>> silence = np.full((96, 64), np.log(0.001))
    >>> speech = np.random.default_rng(0).normal(-2.0, 1.0, (96, 64))
    >>> select_segments(np.stack([silence, speech, speech])).keep.tolist()
    [False, True, True]
    """
    x = np.asarray(patches_data, dtype=np.float64)
    if x.ndim != 3 or len(x) == 0:
        raise ValueError(f"patches_data must be [N >= 1, frames, bands], got shape {x.shape}")
    frames = x.reshape(-1, x.shape[2])
    active, reference = _reference_frames(frames)
    ref_mean, ref_std = active.mean(axis=0), np.maximum(active.std(axis=0), MIN_STD)
    seg_mean, seg_std = x.mean(axis=1), np.maximum(x.std(axis=1), MIN_STD)

    grid = np.linspace(x.min() - 3 * MIN_STD, x.max() + 3 * MIN_STD, GRID_POINTS)
    seg = _densities(seg_mean, seg_std, grid)
    ref = _densities(ref_mean, ref_std, grid)
    seg = seg - seg.mean(axis=1, keepdims=True)
    ref = ref - ref.mean()
    correlation = (seg @ ref) / (np.linalg.norm(seg, axis=1) * np.linalg.norm(ref))

    return GaussianSelection(
        keep=keep_mask(correlation, threshold),
        correlation=correlation,
        threshold=float(threshold),
        reference=reference,
        reference_mean=ref_mean,
        reference_std=ref_std,
    )
