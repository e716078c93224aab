"""Agreement between attribution methods on the same clip and model: rank correlation and top-k overlap.

Two methods that explain the same prediction should point at similar cells. Spearman
rank correlation compares whole maps (insensitive to each method's scale); the IoU of
the top 20 % cells compares only what each method calls most important.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from seraudit.xai.metrics.base import Metric, MetricContext, MetricResult

#: Share of cells counted as a method's "top" cells in the overlap.
TOP_FRACTION = 0.20


@dataclass
class Agreement:
    """Method-by-method agreement matrices (index and columns: method names)."""

    spearman: pd.DataFrame
    top_iou: pd.DataFrame
    top_fraction: float

    def pairs(self) -> pd.DataFrame:
        """Long table: one row per unordered pair of methods (method_a, method_b, spearman, top_iou)."""
        methods = list(self.spearman.index)
        rows = [
            {
                "method_a": a,
                "method_b": b,
                "spearman": float(self.spearman.loc[a, b]),
                "top_iou": float(self.top_iou.loc[a, b]),
            }
            for i, a in enumerate(methods)
            for b in methods[i + 1 :]
        ]
        return pd.DataFrame(rows, columns=["method_a", "method_b", "spearman", "top_iou"])


def _as_maps(attributions) -> dict[str, np.ndarray]:
    """Method name -> clip map, checking the maps explain the same clip and model."""
    if isinstance(attributions, Mapping):
        items = list(attributions.items())
    else:
        items = [(a.method, a) for a in attributions]
    if len(items) < 2:
        raise ValueError("agreement needs attributions from at least two methods")
    names = [name for name, _ in items]
    if len(set(names)) != len(names):
        raise ValueError(f"method names must be unique, got {names}; pass a dict name -> attribution")
    first = items[0][1]
    maps = {}
    for name, attr in items:
        if attr.model != first.model or attr.target != first.target:
            raise ValueError(
                f"{name} explains model {attr.model!r} target {attr.target_label!r} but {items[0][0]} explains "
                f"model {first.model!r} target {first.target_label!r}; compare methods on the same model and target"
            )
        if attr.clip_map.shape != first.clip_map.shape:
            raise ValueError(
                f"{name} map has shape {attr.clip_map.shape}, {items[0][0]} map {first.clip_map.shape}: "
                "not the same clip"
            )
        maps[name] = np.nan_to_num(np.asarray(attr.clip_map, dtype=np.float64).ravel())
    return maps


def rank_correlation(attributions: Mapping[str, object] | Sequence[object]) -> pd.DataFrame:
    """Spearman rank correlation between every pair of maps (a method x method matrix).

    A constant map has no ranking: its correlations are NaN.
    """
    maps = _as_maps(attributions)
    names = list(maps)
    stacked = np.stack([maps[n] for n in names], axis=1)  # [cells, methods]
    constant = stacked.std(axis=0) == 0
    # Spearman = Pearson of (average-tie) ranks; corrcoef keeps the matrix shape for two methods too.
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.atleast_2d(np.corrcoef(rankdata(stacked, axis=0), rowvar=False))
    rho = np.asarray(rho, dtype=np.float64)
    rho[constant, :] = np.nan
    rho[:, constant] = np.nan
    np.fill_diagonal(rho, 1.0)
    return pd.DataFrame(rho, index=names, columns=names)


def top_cells(clip_map: np.ndarray, fraction: float = TOP_FRACTION) -> np.ndarray:
    """Boolean mask of the ``fraction`` most-attributed cells (ties broken by position)."""
    flat = np.nan_to_num(np.asarray(clip_map, dtype=np.float64).ravel(), nan=-np.inf)
    k = max(1, int(round(fraction * flat.size)))
    mask = np.zeros(flat.size, dtype=bool)
    mask[np.argsort(-flat, kind="stable")[:k]] = True
    return mask.reshape(np.shape(clip_map))


def top_overlap(attributions: Mapping[str, object] | Sequence[object], fraction: float = TOP_FRACTION) -> pd.DataFrame:
    """Intersection over union of the methods' top-`fraction` cells (a method x method matrix)."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    maps = _as_maps(attributions)
    names = list(maps)
    tops = np.stack([top_cells(maps[n], fraction) for n in names]).astype(np.float64)  # [methods, cells]
    inter = tops @ tops.T
    sizes = tops.sum(axis=1)
    union = sizes[:, None] + sizes[None, :] - inter
    return pd.DataFrame(inter / union, index=names, columns=names)


def method_agreement(
    attributions: Mapping[str, object] | Sequence[object], fraction: float = TOP_FRACTION
) -> Agreement:
    """Both agreement matrices for the attributions of one clip and model."""
    return Agreement(
        spearman=rank_correlation(attributions),
        top_iou=top_overlap(attributions, fraction),
        top_fraction=fraction,
    )


def _finite_matrix(matrix: np.ndarray) -> list[list[float | None]]:
    """JSON-ready matrix; undefined correlations (a constant map) become null."""
    return [[float(v) if np.isfinite(v) else None for v in row] for row in np.asarray(matrix, dtype=np.float64)]


def agreement_record(attributions: Mapping[str, object]) -> dict[str, Any]:
    """How a clip record stores one model's agreement matrices (``{"methods", "error"}`` when they cannot be built).

    Agreement is a side figure: a failure is recorded, never raised, so the clip is never lost over it.
    """
    try:
        result = method_agreement(attributions)
    except (ValueError, IndexError) as error:
        return {"methods": list(attributions), "error": f"{type(error).__name__}: {error}"}
    return {
        "methods": list(result.spearman.index),
        "matrix": _finite_matrix(result.spearman.to_numpy()),
        "top_iou": _finite_matrix(result.top_iou.to_numpy()),
        "top_fraction": result.top_fraction,
    }


# --------------------------------------------------------------------------- member of the metric family
@dataclass(frozen=True)
class MethodAgreement(Metric):
    """Mean Spearman rank correlation of a method's map with every other method's map of the same clip and model.

    Reported without a verdict: methods may disagree for good reasons (signed vs
    non-negative maps), so there is no level of agreement a map must reach.
    """

    id: ClassVar[str] = "method_agreement"
    name: ClassVar[str] = "Method agreement"
    description: ClassVar[str] = ("Mean Spearman rank correlation between a method's map and the other methods' "
                                  "maps of the same clip and model.")
    higher_is_better: ClassVar[bool] = True
    checked: ClassVar[bool] = False
    required: ClassVar[bool] = False

    def __call__(self, context: MetricContext) -> MetricResult:
        if len(context.attributions) < 2:
            return self.result(None, reason="one method only")
        matrix = context.memo(("rank_correlation", context.model.name),
                              lambda: rank_correlation(dict(context.attributions)))
        others = matrix.loc[context.method].drop(index=context.method).to_numpy(dtype=np.float64)
        finite = others[np.isfinite(others)]
        return self.result(float(finite.mean()) if finite.size else None, others=dict(
            zip(matrix.columns.drop(context.method), [float(v) for v in others])))
