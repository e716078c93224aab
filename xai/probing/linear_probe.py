"""Acoustic-feature probing of model embeddings, after Dixit et al. (2024, arXiv 2409.09511).

Question: which interpretable acoustic properties (the 88 eGeMAPS functionals) does a
branch's embedding carry, and do the dimensions the model relies on for an emotion
carry them? Per emotion:

1. **Rank embedding dimensions** by the magnitude of one-vs-rest logistic-regression
   coefficients on standardised embeddings (equal-scale dimensions, so the magnitudes
   are comparable; L2, C = 1).
2. **Find the smallest top-n** on a grid (8, 16, 32, ...) whose one-vs-rest ROC AUC keeps
   95 % of the all-dimension AUC *above chance*: ``AUC_n - 0.5 >= 0.95 (AUC_all - 0.5)``.
   AUCs are computed on out-of-fold scores of a speaker-grouped cross-validation; inside
   every fold the dimensions are ranked on the training clips only, so the held-out
   speakers never influence which dimensions are chosen. The reported ranking is then
   refitted on all clips.
3. **Predict every eGeMAPS functional** from the top-n dimensions and from all dimensions
   with ridge regression (``RidgeCV``, penalty chosen per feature by efficient
   leave-one-out on the training fold; embeddings and targets standardised, held-out
   embeddings clipped to the training range), out-of-fold
   with ``GroupKFold`` by speaker (a speaker is never in train and test). R² and RMSE
   (in the feature's units, and normalised by its standard deviation) per feature and
   averaged per eGeMAPS category.

`AcousticProbe` runs the three steps and keeps their tables; a run's per-clip
embeddings come from the caches, pooled by the package's one rule
(`seraudit.xai.probing.run_probing`, `seraudit.ensemble.model.clip_pooling`). Per-clip deviations from the speaker's neutral voice,
which need no model, are in `seraudit.preprocessing.egemaps_deviations`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import TransformedTargetRegressor
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.metrics import mean_squared_error, r2_score, roc_auc_score
from sklearn.model_selection import GroupKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from seraudit.preprocessing.egemaps import functionals_of
from seraudit.preprocessing.egemaps_names import EGEMAPS_CATEGORIES

#: Sizes of top-n dimension sets tried, smallest first (capped at the embedding size).
TOP_N_GRID = (8, 16, 32, 64, 128, 256, 512)
#: Share of the all-dimension AUC above chance that the top-n dimensions must keep.
KEEP_SCORE = 0.95
#: Ridge penalties searched per feature.
RIDGE_ALPHAS = np.logspace(-2, 4, 13)
META_COLUMNS = ("path", "label", "speaker")
FEATURE_COLUMNS = [
    "emotion", "n_top", "feature", "category",
    "r2_top", "r2_all", "rmse_top", "rmse_all", "nrmse_top", "nrmse_all",
]  # fmt: skip


# --------------------------------------------------------------------------- inputs


def embedding_table(embeddings: np.ndarray, paths: Sequence, labels: Sequence, speakers: Sequence) -> pd.DataFrame:
    """Tidy per-clip table: ``path, label, speaker`` then one column per dimension (``e0``, ``e1``, ...)."""
    embeddings = np.asarray(embeddings, dtype=np.float64)
    meta = pd.DataFrame({"path": [str(p) for p in paths], "label": list(labels), "speaker": list(speakers)})
    dims = pd.DataFrame(embeddings, columns=[f"e{i}" for i in range(embeddings.shape[1])])
    return pd.concat([meta, dims], axis=1)


def _split_embeddings(embeddings, paths, labels, speakers):
    """(X, paths, labels, speakers) from a tidy table or from arrays."""
    if isinstance(embeddings, pd.DataFrame):
        missing = [c for c in META_COLUMNS if c not in embeddings.columns]
        if missing:
            raise ValueError(f"embedding table lacks columns {missing}; build it with seraudit.xai.probing.linear_probe.embedding_table")
        X = embeddings.drop(columns=list(META_COLUMNS)).to_numpy(np.float64)
        return X, embeddings["path"].astype(str).to_numpy(), embeddings["label"].to_numpy(), embeddings["speaker"].to_numpy()
    if paths is None or labels is None or speakers is None:
        raise ValueError("with an embedding array, pass paths, labels and speakers (one per row)")
    X = np.asarray(embeddings, dtype=np.float64)
    paths, labels, speakers = (np.asarray([str(p) for p in paths]), np.asarray(labels), np.asarray(speakers))
    if not len(X) == len(paths) == len(labels) == len(speakers):
        raise ValueError(
            f"{len(X)} embeddings but {len(paths)} paths, {len(labels)} labels, {len(speakers)} speakers"
        )
    return X, paths, labels, speakers


def speaker_cv(speakers: np.ndarray, n_splits: int = 5) -> GroupKFold:
    """Folds that keep every speaker's clips together (at most `n_splits`, at most one per speaker)."""
    n_speakers = len(np.unique(speakers))
    if n_speakers < 2:
        raise ValueError(f"speaker-grouped cross-validation needs at least two speakers, got {n_speakers}")
    return GroupKFold(n_splits=min(n_splits, n_speakers))


# --------------------------------------------------------------------------- step 1-2: dimensions per emotion


def _logistic() -> LogisticRegression:
    """L2 logistic regression for one binary problem; liblinear is several times faster than lbfgs here,
    and a large intercept scaling keeps its intercept practically unpenalised."""
    return LogisticRegression(C=1.0, solver="liblinear", intercept_scaling=10.0, max_iter=2000)


def rank_dimensions(X: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """Embedding dimensions ordered by |one-vs-rest logistic coefficient| on standardised data, largest first."""
    Z = StandardScaler().fit_transform(X)
    coef = _logistic().fit(Z, positive).coef_[0]
    return np.argsort(-np.abs(coef), kind="stable")


def _grid(n_dims: int, grid: Sequence[int]) -> list[int]:
    return sorted({n for n in grid if n < n_dims} | {n_dims})


def select_top_dimensions(
    X: np.ndarray,
    positive: np.ndarray,
    speakers: np.ndarray,
    *,
    grid: Sequence[int] = TOP_N_GRID,
    keep_score: float = KEEP_SCORE,
    n_splits: int = 5,
) -> dict:
    """Smallest top-n that keeps `keep_score` of the all-dimension AUC above chance (speaker-grouped CV).

    Returns ``n_top``, ``auc_top``, ``auc_all``, ``aucs`` (n -> AUC), ``dims`` (the top-n
    dimensions ranked on all clips) and ``order`` (the full ranking).
    """
    positive = np.asarray(positive, dtype=bool)
    sizes = _grid(X.shape[1], grid)
    scores = {n: np.full(len(X), np.nan) for n in sizes}
    for train, test in speaker_cv(speakers, n_splits).split(X, positive, speakers):
        if positive[train].all() or not positive[train].any():
            continue  # no contrast to learn: these clips get no out-of-fold score
        scaler = StandardScaler().fit(X[train])
        Ztr, Zte = scaler.transform(X[train]), scaler.transform(X[test])
        full = _logistic().fit(Ztr, positive[train])
        order = np.argsort(-np.abs(full.coef_[0]), kind="stable")
        for n in sizes:
            fit = full if n == X.shape[1] else _logistic().fit(Ztr[:, order[:n]], positive[train])
            cols = slice(None) if n == X.shape[1] else order[:n]
            scores[n][test] = fit.decision_function(Zte[:, cols])
    scored = np.isfinite(scores[sizes[-1]])
    if positive[scored].all() or not positive[scored].any():
        raise ValueError(
            f"cannot score the emotion: its {positive.sum()} clip(s) come from too few speakers for "
            "speaker-grouped cross-validation"
        )
    aucs = {n: float(roc_auc_score(positive[scored], s[scored])) for n, s in scores.items()}
    auc_all = aucs[X.shape[1]]
    # at or below chance (random features) there is nothing to keep: the smallest set at chance, else all dimensions
    n_top = next((n for n in sizes if aucs[n] - 0.5 >= keep_score * max(auc_all - 0.5, 0.0)), sizes[-1])
    order = rank_dimensions(X, positive)
    return {
        "n_top": n_top,
        "auc_top": aucs[n_top],
        "auc_all": auc_all,
        "aucs": aucs,
        "dims": order[:n_top],
        "order": order,
    }


# --------------------------------------------------------------------------- step 3: ridge probes


#: `TrainingRange` widens each side of the training range by this share of its width (a held-out clip a little
#: beyond the training clips still counts in full).
TRAINING_RANGE_MARGIN = 0.5


class TrainingRange(TransformerMixin, BaseEstimator):
    """Clip every column to the range it spans on the training rows, widened by `TRAINING_RANGE_MARGIN` on each side.

    ReLU embeddings have near-dead dimensions (YAMNet: 47 % zeros): a dimension active in
    one training clip has a tiny standard deviation, and a held-out speaker who activates
    it lands hundreds of standard deviations out, where a linear probe extrapolates without
    bound (on 6 RAVDESS speakers one such clip took YAMNet's mean out-of-fold R² to -22;
    clipped, 0.28). A probe asks what the training range of the embedding tells.
    """

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=np.float64)
        low, high = X.min(axis=0), X.max(axis=0)
        margin = TRAINING_RANGE_MARGIN * (high - low)
        self.low_, self.high_ = low - margin, high + margin
        return self

    def transform(self, X):
        return np.clip(np.asarray(X, dtype=np.float64), self.low_, self.high_)


def out_of_fold(X: np.ndarray, Y: np.ndarray, speakers: np.ndarray, *, n_splits: int = 5) -> np.ndarray:
    """Out-of-fold ridge predictions ``[n, k]`` of every column of `Y` from `X` (GroupKFold by speaker;
    embeddings and targets standardised inside each training fold, held-out embeddings clipped to the
    training range (`TrainingRange`), penalty per target by leave-one-out)."""
    regressor = TransformedTargetRegressor(
        regressor=make_pipeline(StandardScaler(), TrainingRange(), RidgeCV(alphas=RIDGE_ALPHAS, alpha_per_target=True)),
        transformer=StandardScaler(),
    )
    cv = speaker_cv(speakers, n_splits)
    return cross_val_predict(regressor, X, Y, groups=speakers, cv=cv).reshape(Y.shape)


def ridge_probe(X: np.ndarray, Y: np.ndarray, speakers: np.ndarray, *, n_splits: int = 5) -> dict[str, np.ndarray]:
    """Out-of-fold ridge predictions of every column of `Y` from `X` (GroupKFold by speaker).

    Returns per-column ``r2``, ``rmse`` (units of Y) and ``nrmse`` (RMSE / std of Y).
    """
    predicted = out_of_fold(X, Y, speakers, n_splits=n_splits)
    r2 = np.asarray(r2_score(Y, predicted, multioutput="raw_values", force_finite=False), dtype=np.float64)
    r2[~np.isfinite(r2)] = np.nan  # constant feature: R² undefined
    rmse = np.sqrt(np.asarray(mean_squared_error(Y, predicted, multioutput="raw_values"), dtype=np.float64))
    std = Y.std(axis=0)
    nrmse = np.divide(rmse, std, out=np.full_like(rmse, np.nan), where=std > 0)
    return {"r2": r2, "rmse": rmse, "nrmse": nrmse}


def _category_table(features: pd.DataFrame) -> pd.DataFrame:
    keys = [c for c in ("branch", "emotion", "category") if c in features.columns]
    grouped = features.groupby(keys, sort=True)
    table = grouped[["r2_top", "r2_all", "nrmse_top", "nrmse_all"]].mean()
    table.insert(0, "n_features", grouped.size())
    return table.reset_index()


class AcousticProbe(BaseEstimator):
    """Probe per-clip embeddings for the eGeMAPS functionals (the three steps of the module docstring).

    Parameters
    ----------
    top_n_grid : sizes of top-n dimension sets tried, smallest first (capped at the embedding size).
    keep_score : share of the all-dimension AUC above chance the top-n dimensions must keep.
    n_splits : speaker-grouped folds (at most one per speaker).
    emotions : emotions to probe (default: every label present with positives and negatives).
    feature_categories : feature -> category (default ``EGEMAPS_CATEGORIES``; "other" for names it lacks).

    Attributes (set by `fit`)
    -------------------------
    selection_ : DataFrame
        One row per emotion: ``emotion, n_top, auc_top, auc_all, n_dims, n_clips, n_positive, top_dims``.
    features_ : DataFrame
        One row per emotion and eGeMAPS functional: ``emotion, n_top, feature, category,
        r2_top, r2_all, rmse_top, rmse_all, nrmse_top, nrmse_all``.
    categories_ : DataFrame
        Means over each category's features: ``emotion, category, n_features, r2_top, r2_all,
        nrmse_top, nrmse_all`` (RMSE is only averaged normalised: the units differ).

    Fitted on several branches, every table has a leading ``branch`` column.
    """

    def __init__(
        self,
        top_n_grid: Sequence[int] = TOP_N_GRID,
        keep_score: float = KEEP_SCORE,
        n_splits: int = 5,
        emotions: Sequence[str] | None = None,
        feature_categories: Mapping[str, str] | None = None,
    ):
        self.top_n_grid = top_n_grid
        self.keep_score = keep_score
        self.n_splits = n_splits
        self.emotions = emotions
        self.feature_categories = feature_categories

    def fit(
        self,
        embeddings: pd.DataFrame | np.ndarray | Mapping[str, pd.DataFrame | np.ndarray],
        egemaps: pd.DataFrame,
        *,
        paths: Sequence | None = None,
        labels: Sequence | None = None,
        speakers: Sequence | None = None,
    ) -> "AcousticProbe":
        """Probe one branch's embeddings, or each branch of a mapping branch -> embeddings.

        Embeddings are a table from `embedding_table`, or an array ``[n_clips, D]`` with
        `paths`, `labels`, `speakers` (one per row). `egemaps` holds the functionals indexed
        by clip path (``seraudit.preprocessing.egemaps``). Clips whose embedding or
        functionals hold NaN (a failed extraction) are left out.
        """
        if not isinstance(embeddings, Mapping):
            self.selection_, self.features_, self.categories_ = self._probe(embeddings, egemaps, paths, labels, speakers)
            return self
        tables = {b: self._probe(e, egemaps, paths, labels, speakers) for b, e in embeddings.items()}

        def stacked(i: int) -> pd.DataFrame:
            out = pd.concat([t[i].assign(branch=b) for b, t in tables.items()], ignore_index=True)
            return out[["branch", *[c for c in out.columns if c != "branch"]]]

        self.selection_, self.features_, self.categories_ = stacked(0), stacked(1), stacked(2)
        return self

    def _repr_html_(self) -> str:
        """In Jupyter: once fitted, one row per (branch,) emotion: top-n size and the AUCs; before, scikit-learn's own view."""
        if not hasattr(self, "selection_"):
            return self._repr_html_inner()
        from seraudit.core.notebook import html_table

        columns = [c for c in ("branch", "emotion", "n_top", "auc_top", "auc_all", "n_dims", "n_clips") if c in self.selection_]
        rows = self.selection_[columns].itertuples(index=False)
        return html_table(columns, rows, caption="eGeMAPS probe: emotion read from the top-n embedding dimensions")

    def _repr_mimebundle_(self, **kwargs) -> dict[str, str]:
        """Jupyter asks for this before `_repr_html_` (scikit-learn defines it too): the table wins once fitted."""
        return {"text/plain": repr(self), "text/html": self._repr_html_()}

    def _probe(self, embeddings, egemaps, paths, labels, speakers) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """(selection, features, categories) tables of one branch."""
        X, paths, labels, speakers = _split_embeddings(embeddings, paths, labels, speakers)
        table = functionals_of(egemaps, paths)
        Y = table.to_numpy(np.float64)
        finite = np.isfinite(X).all(axis=1) & np.isfinite(Y).all(axis=1)
        X, Y, labels, speakers = X[finite], Y[finite], labels[finite], speakers[finite]
        features = list(table.columns)
        categories = EGEMAPS_CATEGORIES if self.feature_categories is None else self.feature_categories
        cats = [categories.get(f, "other") for f in features]
        emotions = self.emotions
        if emotions is None:
            emotions = [e for e in pd.unique(labels) if 0 < np.sum(labels == e) < len(labels)]

        everything = ridge_probe(X, Y, speakers, n_splits=self.n_splits)
        selection_rows, feature_frames = [], []
        for emotion in emotions:
            positive = labels == emotion
            if positive.all() or not positive.any():
                raise ValueError(f"emotion {emotion!r} needs clips with and without it; {positive.sum()} of {len(labels)}")
            chosen = select_top_dimensions(
                X, positive, speakers, grid=self.top_n_grid, keep_score=self.keep_score, n_splits=self.n_splits
            )
            top = ridge_probe(X[:, chosen["dims"]], Y, speakers, n_splits=self.n_splits)
            selection_rows.append(
                {
                    "emotion": emotion,
                    "n_top": chosen["n_top"],
                    "auc_top": chosen["auc_top"],
                    "auc_all": chosen["auc_all"],
                    "n_dims": X.shape[1],
                    "n_clips": len(X),
                    "n_positive": int(positive.sum()),
                    "top_dims": [int(d) for d in chosen["dims"]],
                }
            )
            feature_frames.append(
                pd.DataFrame(
                    {
                        "emotion": emotion,
                        "n_top": chosen["n_top"],
                        "feature": features,
                        "category": cats,
                        "r2_top": top["r2"],
                        "r2_all": everything["r2"],
                        "rmse_top": top["rmse"],
                        "rmse_all": everything["rmse"],
                        "nrmse_top": top["nrmse"],
                        "nrmse_all": everything["nrmse"],
                    }
                )
            )
        feature_table = pd.concat(feature_frames, ignore_index=True) if feature_frames else pd.DataFrame(columns=FEATURE_COLUMNS)
        return pd.DataFrame(selection_rows), feature_table, _category_table(feature_table)
