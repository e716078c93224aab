"""Probing against controls: how much more of each eGeMAPS group an embedding carries than chance would give it.

Raw probe R² says little: random convolutional features carry acoustic information
(an untrained VGGish out-scores the pretrained YAMNet on the energy group), and a
group's mean R² can sit below 0. So every backbone's all-dimension probe (ridge,
speaker-grouped out-of-fold predictions, `linear_probe.out_of_fold`) is set against two
controls on the same clips and folds:

* **random weights**: the same backbone with seeded random weights (no training), its
  clip embeddings pooled over the same kept patches. "Above control" is what pretraining
  added. A backbone that itself has random weights has no such comparison: its probe is
  a control, reported as one.
* **label-permuted fits**: the eGeMAPS rows permuted across clips, then refitted and
  scored against the permuted targets (`n_permutations` seeded permutations, averaged):
  the R² a probe reaches when embedding and target are unrelated (about 0, a little below).

Per feature group the difference of mean R² (backbone minus control) gets a 95 %
interval: the percentile interval of a bootstrap over speakers (clips of a drawn speaker
come together; the out-of-fold predictions are fixed, only the clips scored are
resampled), widened in quadrature by 1.96 x the refit spread, the standard deviation of
the group's R² over the permuted refits (x sqrt 2 for a difference of two fits). Resampling
fixed predictions cannot see how much a refit, or a second draw of random weights, moves
R²; without the widening two random feature sets differed "significantly" in 7 of 60
synthetic group comparisons, with it in 3 of 60 (nominal: 3). A difference whose interval
holds 0 is "control-level".
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from seraudit.preprocessing.egemaps_deviations import unbounded_ratios
from seraudit.preprocessing.egemaps_names import EGEMAPS_CATEGORIES
from seraudit.xai.probing.linear_probe import out_of_fold

#: Bootstrap draws over speakers for each interval.
N_BOOTSTRAP = 1000
#: Label permutations averaged for the null.
N_PERMUTATIONS = 5
#: Two-sided 95 % normal quantile (widening the bootstrap interval by the refit spread).
Z95 = 1.959964
#: The group of every feature together.
ALL = "all features"
CONTROL_COLUMNS = ["category", "n_features", "r2", "control_r2", "above_control", "control_ci_low", "control_ci_high",
                   "null_r2", "above_null", "null_ci_low", "null_ci_high", "n_clips", "n_speakers"]


class SpeakerBootstrap:
    """Draws of a bootstrap over speakers, kept as how often each speaker is drawn (``counts [n_draws, S]``).

    A draw takes as many speakers as there are, with replacement, and each drawn speaker
    brings all of their clips. Any sum over a draw's rows is then ``counts @`` the per-speaker
    sums, so R² over a thousand draws costs a few matrix products instead of a thousand
    gathers of every row.
    """

    def __init__(self, speakers: np.ndarray, n_draws: int, rng: np.random.Generator):
        unique, self.speaker_of = np.unique(np.asarray(speakers), return_inverse=True)
        order = pd.unique(np.asarray(speakers))  # draws pick speakers in order of appearance (the draw's seeded order)
        position = {s: i for i, s in enumerate(unique)}
        self.n_speakers = len(unique)
        self.counts = np.zeros((n_draws, self.n_speakers))
        for d in range(n_draws):
            for s in rng.choice(order, size=len(order), replace=True):
                self.counts[d, position[s]] += 1

    def rows(self, draw: int) -> np.ndarray:
        """The row indices of draw `draw` (each drawn speaker's rows, as often as drawn)."""
        return np.concatenate([np.repeat(np.flatnonzero(self.speaker_of == s), int(c))
                               for s, c in enumerate(self.counts[draw]) if c]).astype(int)

    def sums(self, values: np.ndarray) -> np.ndarray:
        """Per-speaker column sums ``[S, k]`` of row values ``[n, k]``."""
        out = np.zeros((self.n_speakers, values.shape[1]))
        np.add.at(out, self.speaker_of, values)
        return out


def _r2_per_feature(Y: np.ndarray, P: np.ndarray, boot: SpeakerBootstrap | None) -> np.ndarray:
    """R² ``[n_draws, k]`` of predictions `P` for `Y` on each draw of `boot` (None: every row once, ``[1, k]``).

    NaN where a draw's targets have no spread.
    """
    squared_error = (Y - P) ** 2
    Y = Y - Y.mean(axis=0)  # centred: the sums of squares below then lose no precision to a large mean
    parts = (np.ones((len(Y), 1)), Y, Y**2, squared_error)
    if boot is None:
        n, s1, s2, res = (a.sum(axis=0, keepdims=True) for a in parts)
    else:
        n, s1, s2, res = (boot.counts @ boot.sums(a) for a in parts)
    ss_tot = s2 - s1**2 / n
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ss_tot > 1e-12 * np.maximum(s2, 1e-300), 1.0 - res / ss_tot, np.nan)


def _group_means(r2: np.ndarray, groups: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Mean R² over each group's features (NaN features left out), per row of `r2`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a group of constant features: NaN
        return {g: np.nanmean(r2[:, cols], axis=1) for g, cols in groups.items()}


def probe_controls(
    X: np.ndarray,
    Y: np.ndarray,
    speakers: Sequence,
    features: Sequence[str],
    *,
    control: np.ndarray | None = None,
    categories: Mapping[str, str] | None = None,
    n_permutations: int = N_PERMUTATIONS,
    n_bootstrap: int = N_BOOTSTRAP,
    n_splits: int = 5,
    seed: int = 0,
) -> pd.DataFrame:
    """Per eGeMAPS group (and all features together), the probe's mean R² against its controls.

    `X` ``[n, D]`` are the backbone's clip embeddings, `control` ``[n, D']`` the same clips
    through the backbone with random weights (None: no such control, e.g. for a backbone
    that has random weights itself), `Y` ``[n, k]`` the eGeMAPS functionals named `features`.
    Clips with a non-finite value anywhere are left out, and so are ``*_stddevNorm`` features
    whose values take both signs (a std / mean ratio whose mean crosses zero: one clip's
    extreme value decides its R²; see `preprocessing.egemaps_deviations`); ``n_features``
    counts what is left of each group.

    Returns
    -------
    DataFrame
        ``category, n_features, r2, control_r2, above_control, control_ci_low,
        control_ci_high, null_r2, above_null, null_ci_low, null_ci_high, n_clips,
        n_speakers``: R² is the group's mean out-of-fold R²; ``above_*`` the difference
        from the control, with its 95 % bootstrap interval over speakers. Control columns
        are NaN without a random-weight control.
    """
    X, Y = np.asarray(X, np.float64), np.asarray(Y, np.float64)
    speakers = np.asarray(speakers)
    finite = np.isfinite(X).all(axis=1) & np.isfinite(Y).all(axis=1)
    if control is not None:
        control = np.asarray(control, np.float64)
        finite &= np.isfinite(control).all(axis=1)
        control = control[finite]
    X, Y, speakers = X[finite], Y[finite], speakers[finite]
    # a std/mean ratio whose values take both signs has no scale (one clip at -16027 decides its R²): left out
    scaled = ~(unbounded_ratios(features) & (Y.min(axis=0, initial=np.inf) < 0) & (Y.max(axis=0, initial=-np.inf) > 0))
    Y, features = Y[:, scaled], [f for f, keep in zip(features, scaled) if keep]
    categories = EGEMAPS_CATEGORIES if categories is None else categories
    names = [categories.get(f, "other") for f in features]
    groups = {ALL: np.arange(len(features))}
    groups.update({g: np.flatnonzero(np.asarray(names) == g) for g in sorted(set(names))})
    rng = np.random.default_rng(seed)

    # the permuted targets ride along with the real ones in one fit: same embedding, same folds, one decomposition
    # per fold (each target column gets its own penalty and scaling, so the fits are the ones separate calls give)
    targets = [Y] + [Y[rng.permutation(len(Y))] for _ in range(n_permutations)]
    fitted = np.split(out_of_fold(X, np.hstack(targets), speakers, n_splits=n_splits), len(targets), axis=1)
    predicted = fitted[0]
    permuted = list(zip(targets[1:], fitted[1:]))
    control_pred = out_of_fold(control, Y, speakers, n_splits=n_splits) if control is not None else None

    everything = None  # every clip once: the point estimate
    draws = SpeakerBootstrap(speakers, n_bootstrap, rng)

    point = {g: v[0] for g, v in _group_means(_r2_per_feature(Y, predicted, everything), groups).items()}
    boot = _group_means(_r2_per_feature(Y, predicted, draws), groups)
    null_point = {g: np.mean([_group_means(_r2_per_feature(y, p, everything), groups)[g][0] for y, p in permuted])
                  for g in groups} if permuted else {g: np.nan for g in groups}
    null_boot = ({g: np.mean([_group_means(_r2_per_feature(y, p, draws), groups)[g] for y, p in permuted], axis=0)
                  for g in groups} if permuted else None)
    control_point = (_group_means(_r2_per_feature(Y, control_pred, everything), groups)
                     if control_pred is not None else None)
    control_boot = _group_means(_r2_per_feature(Y, control_pred, draws), groups) if control_pred is not None else None

    # fit-to-fit spread: how much a probe's R² moves between refits on unrelated targets (the permuted fits);
    # resampling fixed predictions cannot see it, and a second draw of random weights differs by about that much
    refit_sd = ({g: float(np.std([_group_means(_r2_per_feature(y, p, everything), groups)[g][0] for y, p in permuted],
                                 ddof=1)) for g in groups} if len(permuted) > 1 else {g: 0.0 for g in groups})

    def interval(diff: np.ndarray, centre: float, extra_sd: float) -> tuple[float, float]:
        diff = diff[np.isfinite(diff)]
        if not len(diff) or not np.isfinite(centre):
            return (np.nan, np.nan)
        low, high = np.percentile(diff, [2.5, 97.5])
        widen = Z95 * extra_sd
        return (float(centre - np.hypot(centre - low, widen)), float(centre + np.hypot(high - centre, widen)))

    rows = []
    for g, cols in groups.items():
        row = {"category": g, "n_features": len(cols), "r2": float(point[g]), "n_clips": len(Y),
               "n_speakers": len(pd.unique(speakers))}
        if control_point is not None:
            low, high = interval(boot[g] - control_boot[g], point[g] - control_point[g][0], np.sqrt(2) * refit_sd[g])
            row.update(control_r2=float(control_point[g][0]), above_control=float(point[g] - control_point[g][0]),
                       control_ci_low=low, control_ci_high=high)
        if null_boot is not None:
            low, high = interval(boot[g] - null_boot[g], point[g] - null_point[g], refit_sd[g])
            row.update(null_r2=float(null_point[g]), above_null=float(point[g] - null_point[g]),
                       null_ci_low=low, null_ci_high=high)
        rows.append(row)
    return pd.DataFrame(rows).reindex(columns=CONTROL_COLUMNS)


def control_verdict(low: float, high: float) -> str:
    """"above control" when the interval of the difference lies above 0, "below control" under it, else "control-level"."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "no interval"
    if low > 0:
        return "above control"
    if high < 0:
        return "below control"
    return "control-level"
