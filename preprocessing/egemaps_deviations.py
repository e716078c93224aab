"""How far a clip's eGeMAPS functionals sit from its speaker's neutral voice (robust z-scores).

A clip's raw loudness or pitch says little on its own: voices differ. Measured against
the same speaker's neutral clips it tells what this utterance does differently, which
is what an explanation of an emotion should point at. No model is involved.

The reference is small (RAVDESS has four neutral clips per speaker), so the score is
built to survive that:

* the clip itself is never part of its own reference;
* centre and scale are the reference's median and MAD x 1.4826 (a standard deviation
  for normal data), so one odd reference clip moves neither;
* the scale has a floor: `SCALE_FLOOR` x the feature's MAD x 1.4826 over every clip
  given (all speakers and emotions), so three near-identical reference values cannot
  turn a small difference into z = -1500;
* a feature whose reference MAD is 0 (most reference clips share one value, e.g. 0 for
  an unvoiced measure) or whose corpus-wide MAD is 0 has no usable scale and is dropped;
* so is a coefficient of variation (``*_stddevNorm``, the standard deviation divided by
  the mean) whose values take both signs over the corpus: the descriptor's mean crosses
  zero, where the ratio is unbounded (on RAVDESS, mfcc2's reaches -16027 for one clip
  while its median is -1). The MFCC, alpha-ratio, H1-H2, H1-A3 and 500-1500 Hz slope
  ratios are of this kind; loudness, pitch, jitter, shimmer, HNR and formant ratios keep
  one sign and stay;
* a reference of fewer than `MIN_REFERENCE` clips gives no numbers: the clip gets one
  row saying so (``status = "reference too small"``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from seraudit.preprocessing.egemaps import functionals_of
from seraudit.preprocessing.egemaps_names import EGEMAPS_CATEGORIES

#: MAD -> standard deviation for normal data.
MAD_TO_SD = 1.4826
#: The reference scale is at least this share of the feature's corpus-wide robust scale.
SCALE_FLOOR = 0.25
#: Fewest reference clips (the clip itself excluded) that give a z-score.
MIN_REFERENCE = 3
STATUS_OK = "ok"
STATUS_TOO_SMALL = "reference too small"
COLUMNS = ["path", "speaker", "label", "rank", "feature", "category", "value", "reference_median",
           "reference_scale", "z", "reference", "n_reference", "status"]


def robust_scale(values: np.ndarray, axis: int = 0) -> np.ndarray:
    """MAD x 1.4826 along `axis`, NaNs ignored."""
    median = np.nanmedian(values, axis=axis, keepdims=True)
    return MAD_TO_SD * np.nanmedian(np.abs(values - median), axis=axis)


def unbounded_ratios(features: Sequence[str]) -> np.ndarray:
    """Which features are a standard deviation divided by a mean (eGeMAPS ``*_stddevNorm``): unbounded when the mean nears 0."""
    return np.asarray([str(f).endswith("stddevNorm") for f in features], dtype=bool)


def speaker_deviations(
    egemaps: pd.DataFrame,
    *,
    paths: Sequence,
    labels: Sequence,
    speakers: Sequence,
    neutral_label: str = "neutral",
    top_k: int = 5,
    categories: Mapping[str, str] | None = None,
    min_reference: int = MIN_REFERENCE,
    scale_floor: float = SCALE_FLOOR,
) -> pd.DataFrame:
    """The `top_k` functionals of each clip furthest from its speaker's neutral voice.

    ``z = (value - median_ref) / scale_ref`` with ``scale_ref = max(MAD_ref x 1.4826,
    scale_floor x MAD_corpus x 1.4826)``. The reference of a clip is its speaker's clips
    labelled `neutral_label` other than the clip itself (``reference = "neutral"``); a
    speaker with fewer than `min_reference` such clips falls back to all of the speaker's
    other clips (``reference = "all"``); fewer than `min_reference` of those gives the clip
    one row with ``status = "reference too small"``, ``n_reference``, rank 0 and no feature or z.
    The corpus-wide scale is taken over every clip of `paths`. Features whose reference
    or corpus-wide MAD is 0, and ``*_stddevNorm`` features whose values take both signs
    over `paths`, are never listed. `egemaps` is indexed by clip path;
    `categories` maps feature -> category (default `EGEMAPS_CATEGORIES`, "other" for names it lacks).

    Returns
    -------
    DataFrame
        ``path, speaker, label, rank, feature, category, value, reference_median,
        reference_scale, z, reference, n_reference, status`` (rank 1 = largest |z|).
    """
    paths = np.asarray([str(p) for p in paths])
    labels, speakers = np.asarray(labels), np.asarray(speakers)
    table = functionals_of(egemaps, paths)
    values = table.to_numpy(np.float64)
    features = np.asarray(table.columns)
    categories = EGEMAPS_CATEGORIES if categories is None else categories
    cats = np.asarray([categories.get(f, "other") for f in features])
    corpus_scale = robust_scale(values) if len(values) else np.zeros(values.shape[1])
    stable = ~(unbounded_ratios(features) & (np.nanmin(values, axis=0, initial=np.inf) < 0)
               & (np.nanmax(values, axis=0, initial=-np.inf) > 0))
    floor = scale_floor * corpus_scale
    k = min(top_k, values.shape[1])
    frames = []
    for i in range(len(paths)):
        others = (speakers == speakers[i]) & (np.arange(len(paths)) != i)
        ref, kind = others & (labels == neutral_label), "neutral"
        if ref.sum() < min_reference:
            ref, kind = others, "all"
        n_ref = int(ref.sum())
        base = {"path": paths[i], "speaker": speakers[i], "label": labels[i], "reference": kind, "n_reference": n_ref}
        if n_ref < min_reference:
            frames.append(pd.DataFrame([{**base, "rank": 0, "status": STATUS_TOO_SMALL}]))
            continue
        median = np.nanmedian(values[ref], axis=0)
        mad = robust_scale(values[ref])
        usable = (mad > 0) & (corpus_scale > 0) & stable & np.isfinite(values[i]) & np.isfinite(median)
        scale = np.maximum(mad, floor)
        with np.errstate(invalid="ignore", divide="ignore"):
            z = np.where(usable, (values[i] - median) / scale, np.nan)
        order = np.argsort(-np.nan_to_num(np.abs(z), nan=-1.0), kind="stable")[:k]
        order = order[np.isfinite(z[order])]
        frames.append(pd.DataFrame({
            **base, "rank": np.arange(1, len(order) + 1), "feature": features[order], "category": cats[order],
            "value": values[i, order], "reference_median": median[order], "reference_scale": scale[order],
            "z": z[order], "status": STATUS_OK,
        }))
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
    return out.reindex(columns=COLUMNS)
