"""How far a clip's eGeMAPS functionals sit from its speaker's neutral voice (z-scores).

A clip's raw loudness or pitch says little on its own: voices differ. Measured against
the same speaker's neutral clips it tells what this utterance does differently, which
is what an explanation of an emotion should point at. No model is involved.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from seraudit.preprocessing.egemaps import functionals_of
from seraudit.preprocessing.egemaps_names import EGEMAPS_CATEGORIES


def speaker_deviations(
    egemaps: pd.DataFrame,
    *,
    paths: Sequence,
    labels: Sequence,
    speakers: Sequence,
    neutral_label: str = "neutral",
    top_k: int = 5,
    categories: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """The `top_k` functionals of each clip furthest from its speaker's neutral voice.

    ``z = (value - mean_ref) / std_ref`` where the reference is the speaker's clips
    labelled `neutral_label` (sample std, ddof = 1, so at least two are needed) or, for a
    speaker with fewer than two neutral clips, all of that speaker's clips
    (``reference = "all"``). Features with zero reference spread have no z-score and are
    never listed. `egemaps` is indexed by clip path; `categories` maps feature -> category
    (default `EGEMAPS_CATEGORIES`, "other" for names it lacks).

    Returns
    -------
    DataFrame
        ``path, speaker, label, rank, feature, category, value, reference_mean,
        reference_std, z, reference, n_reference`` (rank 1 = largest |z|).
    """
    paths = np.asarray([str(p) for p in paths])
    labels, speakers = np.asarray(labels), np.asarray(speakers)
    table = functionals_of(egemaps, paths)
    values = table.to_numpy(np.float64)
    features = np.asarray(table.columns)
    categories = EGEMAPS_CATEGORIES if categories is None else categories
    cats = np.asarray([categories.get(f, "other") for f in features])
    mean = np.full_like(values, np.nan)
    std = np.full_like(values, np.nan)
    reference = np.empty(len(paths), dtype=object)
    n_reference = np.zeros(len(paths), dtype=np.int64)
    for speaker in pd.unique(speakers):
        own = speakers == speaker
        ref = own & (labels == neutral_label)
        kind = "neutral"
        if ref.sum() < 2:
            ref, kind = own, "all"
        mean[own] = np.nanmean(values[ref], axis=0)
        std[own] = np.nanstd(values[ref], axis=0, ddof=1) if ref.sum() > 1 else np.nan
        reference[own] = kind
        n_reference[own] = ref.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(std > 0, (values - mean) / std, np.nan)
    k = min(top_k, values.shape[1])
    order = np.argsort(-np.nan_to_num(np.abs(z), nan=-1.0), axis=1, kind="stable")[:, :k]
    rows = np.repeat(np.arange(len(paths)), k)
    cols = order.ravel()
    out = pd.DataFrame(
        {
            "path": paths[rows],
            "speaker": speakers[rows],
            "label": labels[rows],
            "rank": np.tile(np.arange(1, k + 1), len(paths)),
            "feature": features[cols],
            "category": cats[cols],
            "value": values[rows, cols],
            "reference_mean": mean[rows, cols],
            "reference_std": std[rows, cols],
            "z": z[rows, cols],
            "reference": reference[rows],
            "n_reference": n_reference[rows],
        }
    )
    return out[np.isfinite(out["z"])].reset_index(drop=True)
