"""The search that picks what a head reads (one layer, a fixed set, or a learned weighted sum) and its C.

Every candidate is fitted on the training speakers of a split at every C and
scored on its inner-validation speakers (clip UAR); test speakers never take
part. Ties go to the narrower feature set, then to the unweighted head, then
to the smaller C: the simpler head wins unless a richer one is really better.
The winner is refitted on training plus validation speakers (`fit_layer_set`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seraudit.ensemble.heads.linear import C_GRID, LinearHead, fit_linear_head
from seraudit.ensemble.heads.layer_mix import AuxTask, WeightedFit, fit_weighted_head


@dataclass(frozen=True)
class LayerSet:
    """What a head reads from its branch: layers concatenated, or (``weighted``) mixed with learned softmax weights."""

    taps: tuple[str, ...]
    weighted: bool = False

    def describe(self) -> str:
        return ("weighted sum of " if self.weighted else "") + "+".join(self.taps)


def fit_layer_set(layers: LayerSet, features: np.ndarray, y: np.ndarray, n_classes: int, C: float, seed: int = 0,
                  aux: list[AuxTask] | None = None, aux_weight: float = 0.0) -> WeightedFit:
    """Fit the head a layer set asks for on clip features ``[n, D]``, with auxiliary heads when `aux` is given.

    A weighted set learns its layer weights jointly with every task (multitask: the
    tasks share the mix). Plain sets fit each auxiliary task's regression on the same features.
    """
    if layers.weighted:
        return fit_weighted_head(features, len(layers.taps), y, n_classes, C, aux, aux_weight, seed)
    head = fit_linear_head(features, y, n_classes, C, seed)
    aux_heads = {}
    for task in aux or []:
        known = task.y >= 0
        if len(np.unique(task.y[known])) > 1:
            aux_heads[task.name] = fit_linear_head(features[known], task.y[known], len(task.classes), C, seed)
    return WeightedFit(head, np.ones(len(layers.taps)) / len(layers.taps), aux_heads)


def present_uar(y_true, y_pred) -> float:
    """Mean recall over the classes present in `y_true` (what balanced accuracy computes), with those classes named.

    Validation speakers may lack an emotion that the head predicts; scikit-learn's
    ``balanced_accuracy_score`` then warns (``y_pred contains classes not in y_true``) at
    every candidate of the search. Passing the present classes as ``labels`` gives the same
    number without the warning.
    """
    from sklearn.metrics import recall_score

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    present = np.unique(y_true)
    return float(recall_score(y_true, y_pred, labels=present, average="macro", zero_division=0))


def clip_uar(head: LinearHead, features: np.ndarray, y: np.ndarray) -> float:
    return present_uar(y, head.logits(features).argmax(axis=1))


@dataclass
class HeadChoice:
    """The winner of a head search and the table it won: one row per (layers, C) with its validation UAR."""

    layers: LayerSet
    C: float
    fit: WeightedFit  # fitted on the training speakers only (what scored the validation speakers)
    table: list[dict]

    @property
    def taps(self) -> tuple[str, ...]:
        return self.layers.taps

    @property
    def head(self) -> LinearHead:
        return self.fit.head

    def to_dict(self) -> dict:
        return {"taps": list(self.taps), "weighted": self.layers.weighted, "C": self.C,
                "criterion": "validation clip UAR; ties: fewer features, unweighted, smaller C", "search": self.table}


def select_head(candidates: dict[LayerSet, tuple[np.ndarray, np.ndarray]], y_train: np.ndarray,
                y_val: np.ndarray, n_classes: int, c_grid=C_GRID, seed: int = 0,
                aux_train: list[AuxTask] | None = None, aux_weight: float = 0.0) -> HeadChoice:
    """Fit every candidate (layer set -> (train features, validation features)) at every C; keep the best on validation.

    `aux_train` (auxiliary targets of the training clips) trains each weighted
    candidate as it will be refitted, so the shared mix is part of what validation judges.
    Without validation clips the first candidate at the middle C is taken.
    """
    def fit(layers, x, c):  # a plain set's auxiliary heads do not touch its emotion head: not fitted to score it
        return fit_layer_set(layers, x, y_train, n_classes, c, seed, aux_train if layers.weighted else None, aux_weight)

    if len(y_val) == 0:
        layers, (x_tr, _) = next(iter(candidates.items()))
        c = c_grid[len(c_grid) // 2]
        return HeadChoice(layers, c, fit(layers, x_tr, c), [])
    best, best_key, table = None, None, []
    for layers, (x_tr, x_va) in candidates.items():
        for c in c_grid:
            fitted = fit(layers, x_tr, c)
            uar = clip_uar(fitted.head, x_va, y_val)
            row = {"taps": list(layers.taps), "weighted": layers.weighted, "C": c, "val_uar": 100.0 * uar}
            if layers.weighted:
                row["layer_weights"] = [round(float(w), 4) for w in fitted.layer_weights]
            table.append(row)
            key = (uar, -x_tr.shape[1], not layers.weighted, -c)
            if best_key is None or key > best_key:
                best, best_key = HeadChoice(layers, c, fitted, table), key
    return best
