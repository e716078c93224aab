"""Faithfulness of any attribution: deletion and insertion curves against random cell orders.

Deletion removes the clip's most-attributed log-mel cells first (in ``steps`` equal
steps) and tracks the model's pooled probability of the target class; a faithful map
makes it fall fast (low area under the curve). Insertion starts from an empty clip
and reveals the most-attributed cells first; a faithful map makes the probability
rise fast (high area). Each curve is compared with the same procedure in random
orders (mean over a few seeded orders): a map is only informative if it beats them.

"Removed" cells take the **log floor**, ``log(LOG_OFFSET["yamnet"]) = log(0.001)``:
the model-input value of a cell with zero mel energy, i.e. digital silence. Cells are
ranked by signed attribution, so for signed methods the cells that argue *against*
the target are removed last.

Every modified log-mel is re-cut into the clip's own patches by ``xai.perturbation.ClipScorer``:
the GDS-kept patches of all steps of all orders are predicted in one batched call and
pooled exactly as ``TrainedModel.predict_clip`` pools them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from xai.perturbation import LOG_FLOOR, ClipScorer


@dataclass
class FaithfulnessResult:
    """Deletion/insertion curves of one attribution and their random-order baselines.

    Curves hold the pooled target probability at each fraction of cells removed
    (deletion) or revealed (insertion); areas are over the fraction axis in [0, 1].
    """

    method: str
    model: str
    target: int
    target_label: str
    fractions: np.ndarray  # [steps + 1], 0 .. 1
    deletion: np.ndarray
    insertion: np.ndarray
    random_deletion: np.ndarray  # mean over the random orders
    random_insertion: np.ndarray
    deletion_auc: float
    insertion_auc: float
    random_deletion_auc: float
    random_insertion_auc: float
    steps: int
    n_random: int
    fill_value: float
    seed: int

    @property
    def deletion_gain(self) -> float:
        """How much faster the probability falls than in random order (positive is better)."""
        return self.random_deletion_auc - self.deletion_auc

    @property
    def insertion_gain(self) -> float:
        """How much faster the probability rises than in random order (positive is better)."""
        return self.insertion_auc - self.random_insertion_auc

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (curves as lists)."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, np.ndarray):
                out[key] = [float(v) for v in value]
        out["deletion_gain"] = self.deletion_gain
        out["insertion_gain"] = self.insertion_gain
        return out


def area_under_curve(fractions: np.ndarray, curve: np.ndarray) -> float:
    """Trapezoidal area under `curve` over `fractions` (which span [0, 1])."""
    return float(np.trapezoid(np.asarray(curve, dtype=np.float64), np.asarray(fractions, dtype=np.float64)))


def _ranks(order: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Rank of each cell (0 = first to go) given a flat visiting order."""
    ranks = np.empty(order.size, dtype=np.int64)
    ranks[order] = np.arange(order.size)
    return ranks.reshape(shape)


def deletion_insertion(
    model,
    clip,
    attribution,
    *,
    steps: int = 20,
    n_random: int = 3,
    seed: int = 0,
    fill_value: float = LOG_FLOOR,
) -> FaithfulnessResult:
    """Deletion and insertion curves (and random-order baselines) of one attribution.

    Parameters
    ----------
    model : TrainedModel or any object with ``predict_patches(patches [N,96,64]) -> [N, C]``
        The model the attribution explains.
    clip : ClipFeatures
        The explained clip: ``log_mel`` ``[n_frames, 64]``, ``patches.hop_frames`` and
        ``selection.keep`` (GDS) are used.
    attribution : xai.attribution.Attribution
        Any method's map on the clip's log-mel grid; ``attribution.target`` is tracked.
    steps : int
        Number of equal removal/reveal steps (the curve has ``steps + 1`` points).
    n_random : int
        Number of seeded random orders averaged into each baseline.
    seed : int
        Seed of the random orders.
    fill_value : float
        Model-input value of a removed cell (default: the log floor, silence).
    """
    log_mel = np.asarray(clip.log_mel, dtype=np.float32)
    clip_map = np.asarray(attribution.clip_map, dtype=np.float64)
    if clip_map.shape != log_mel.shape:
        raise ValueError(
            f"the {attribution.method} map has shape {clip_map.shape} but the clip's log-mel has {log_mel.shape}; "
            "pass the clip the attribution was computed on"
        )
    if steps < 1 or n_random < 1:
        raise ValueError(f"steps and n_random must be at least 1, got {steps} and {n_random}")
    n_cells = log_mel.size
    fractions = np.linspace(0.0, 1.0, steps + 1)
    counts = np.round(fractions * n_cells).astype(np.int64)

    rng = np.random.default_rng(seed)
    attributed = np.argsort(-np.nan_to_num(clip_map, nan=-np.inf).ravel(), kind="stable")
    orders = [attributed] + [rng.permutation(n_cells) for _ in range(n_random)]
    ranks = np.stack([_ranks(o, log_mel.shape) for o in orders])  # [O, frames, 64]
    gone = ranks[:, None] < counts[None, :, None, None]  # [O, K+1, frames, 64]: cell removed / revealed
    deleted = np.where(gone, np.float32(fill_value), log_mel)
    inserted = np.where(gone, log_mel, np.float32(fill_value))
    variants = np.concatenate([deleted, inserted]).reshape(-1, *log_mel.shape)  # [2*O*(K+1), frames, 64]

    # Re-cut and pool exactly like the model's own clip prediction, predicting only the kept patches.
    pooled = ClipScorer(model, clip)(variants)  # [V, C]
    target = pooled[:, attribution.target].reshape(2, len(orders), steps + 1)

    deletion, insertion = target[0, 0], target[1, 0]
    random_deletion, random_insertion = target[0, 1:].mean(axis=0), target[1, 1:].mean(axis=0)
    return FaithfulnessResult(
        method=attribution.method,
        model=attribution.model,
        target=int(attribution.target),
        target_label=attribution.target_label,
        fractions=fractions,
        deletion=deletion,
        insertion=insertion,
        random_deletion=random_deletion,
        random_insertion=random_insertion,
        deletion_auc=area_under_curve(fractions, deletion),
        insertion_auc=area_under_curve(fractions, insertion),
        random_deletion_auc=area_under_curve(fractions, random_deletion),
        random_insertion_auc=area_under_curve(fractions, random_insertion),
        steps=steps,
        n_random=n_random,
        fill_value=float(fill_value),
        seed=seed,
    )
