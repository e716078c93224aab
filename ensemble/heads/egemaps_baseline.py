"""The reference row of every comparison: openSMILE eGeMAPS functionals + logistic regression.

88 eGeMAPS v02 functionals per clip, standardised, into a class-balanced
multinomial logistic regression (scikit-learn). Features are extracted in
openSMILE worker processes and cached per file (`preprocessing.egemaps`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seraudit.core.errors import AudioError

C = 1.0
MAX_ITER = 5000


def egemaps_matrix(paths: list[str], cache_dir: str | Path | None = None, progress: bool = True, workers: int = 1) -> np.ndarray:
    """``[n_clips, 88]`` eGeMAPS functionals of `paths` (cached as `<cache_dir>/egemaps.*` when given)."""
    from seraudit.preprocessing.egemaps import ERROR_COLUMN, extract_egemaps

    cache = Path(cache_dir) / "egemaps-functionals.csv" if cache_dir is not None else None
    table = extract_egemaps([str(p) for p in paths], workers=workers, progress=progress, cache=cache)
    failed = table[table[ERROR_COLUMN].notna()] if ERROR_COLUMN in table else table.iloc[:0]
    if len(failed):
        first = failed.index[0]
        raise AudioError(f"eGeMAPS extraction failed for {len(failed)} file(s), first {first}: {failed.iloc[0][ERROR_COLUMN]}; fix or remove the file")
    return table.drop(columns=[ERROR_COLUMN], errors="ignore").to_numpy(dtype=np.float64)


def make_baseline(seed: int = 0):
    """Standardised, class-balanced logistic regression (an unfitted scikit-learn pipeline)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=C, class_weight="balanced", max_iter=MAX_ITER, random_state=seed))
