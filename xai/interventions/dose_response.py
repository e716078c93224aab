"""Dose-response of a model's decision to verified interventions, measured against identity resynthesis.

Input: one record per model and clip (`ClipScores`): the class probabilities of the
original clip, of its identity resynthesis (same vocoder, nothing changed) and of each
accepted variant. For every model x emotion (the clip's true label; its predicted labels
are counted too) x feature x strength: the mean change of the target class's probability
*against the identity resynthesis* (never against the original, so vocoder artefacts are
not read as the feature), its bootstrap interval resampling speakers and then clips within
them, the flip rate (label differs from the identity's label), and per feature the weakest
strength that flips labels. The identity's own effect against the original (flip rate and
mean |change|) is the null: `USED_RULE` says when a feature's effect lies beyond it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from seraudit.xai.interventions.resynthesis import FEATURES

ALPHA = 0.05
N_BOOTSTRAP = 1000
ALL_EMOTIONS = "all"
USED_RULE = (
    "a feature is used by a model when, for at least one of its k strengths, the per-clip excess "
    "|p(target | variant) - p(target | identity)| - |p(target | identity) - p(target | original)| has a mean whose "
    f"bootstrap interval (speakers, then clips, resampled; level 1 - {ALPHA:g}/k, Bonferroni over the strengths) lies "
    "above 0: the change the feature makes is larger than the one the vocoder alone makes, on the same clips. "
    "The target is the clip's true emotion (the identity's prediction for a clip without one); emotions pooled."
)


@dataclass
class ClipScores:
    """One model's class probabilities for one clip: original, identity resynthesis, accepted variants."""

    model: str
    clip: str
    labels: Sequence[str]
    original: Sequence[float]
    identity: Sequence[float]
    variants: dict[tuple[str, float], Sequence[float]] = field(default_factory=dict)  # (feature, strength) -> probs
    speaker: str | None = None
    label: str | None = None  # the true emotion; None for a file outside the corpus

    @property
    def target(self) -> int:
        """Index of the target class: the true emotion, else the identity resynthesis' prediction."""
        if self.label is not None and self.label in self.labels:
            return list(self.labels).index(self.label)
        return int(np.argmax(self.identity))

    @property
    def emotion(self) -> str:
        return self.label if self.label is not None and self.label in self.labels else "(no label)"


def hierarchical_interval(values: np.ndarray, speakers: Sequence[Any], level: float = 1 - ALPHA,
                          n_boot: int = N_BOOTSTRAP, seed: int = 0) -> tuple[float, float]:
    """Percentile interval of the mean of `values`, resampling speakers with replacement, then each drawn speaker's
    clips with replacement. A single value gives ``(value, value)``; no values gives NaNs."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return float("nan"), float("nan")
    if values.size == 1:
        return float(values[0]), float(values[0])
    groups: dict[Any, list[int]] = defaultdict(list)
    for i, s in enumerate(speakers):
        groups[s if s is not None else f"clip-{i}"].append(i)
    rows = [np.asarray(g) for g in groups.values()]
    n_groups = len(rows)
    rng = np.random.default_rng(seed)
    # Draw b picks n_groups speakers; its k-th pick uses its own resample of that speaker's clips (sums[g, b, k]).
    sums = np.stack([values[r][rng.integers(0, r.size, (n_boot, n_groups, r.size))].sum(-1) for r in rows])
    sizes = np.array([r.size for r in rows])
    picked = rng.integers(0, n_groups, (n_boot, n_groups))
    totals = sums[picked, np.arange(n_boot)[:, None], np.arange(n_groups)[None, :]].sum(1)
    means = totals / sizes[picked].sum(1)
    tail = (1 - level) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


def _direction(feature: str, strength: float) -> str:
    return "down" if strength < FEATURES[feature].neutral else "up"


def dose_response(scores: Sequence[ClipScores], *, n_boot: int = N_BOOTSTRAP, seed: int = 0) -> dict[str, Any]:
    """Dose-response tables of `scores` (JSON-ready): ``identity``, ``curves``, ``smallest_flip``, ``used``, ``rule``.

    ``identity``: per model x emotion (and ``"all"``), the identity resynthesis against the original: ``flip_rate``,
    ``mean_abs_dp`` (mean |change| of the target probability), ``mean_dp``. ``curves``: per model x emotion (and
    ``"all"``) x feature x strength: ``n_clips``, ``n_speakers``, ``mean_dp`` (variant minus identity, target class)
    with ``ci_low``/``ci_high`` (95 %), ``flip_rate`` (label differs from the identity's), ``predicted`` (label
    counts), ``mean_abs_dp`` and ``excess`` (mean of |variant - identity| - |identity - original|).
    ``smallest_flip``: per model x emotion x feature x direction, the weakest strength with any flip and the weakest
    with a flip rate of at least 0.5 (None: none). ``used``: per model x feature, the `USED_RULE` verdict and its
    figures per strength.
    """
    identity_rows, curves, smallest, used = [], [], [], []
    by_model: dict[str, list[ClipScores]] = defaultdict(list)
    for s in scores:
        by_model[s.model].append(s)
    for model, clips in by_model.items():
        emotions = sorted({c.emotion for c in clips})
        for emotion in [*emotions, ALL_EMOTIONS]:
            group = [c for c in clips if emotion == ALL_EMOTIONS or c.emotion == emotion]
            identity_rows.append(_identity_row(model, emotion, group))
            cells = _cells(group)
            for (feature, strength), members in sorted(cells.items()):
                curves.append(_curve_row(model, emotion, feature, strength, members, n_boot, seed))
            for feature in sorted({f for f, _ in cells}):
                for direction in ("down", "up"):
                    rows = sorted((r for r in curves if r["model"] == model and r["emotion"] == emotion
                                   and r["feature"] == feature and _direction(feature, r["strength"]) == direction),
                                  key=lambda r: abs(r["strength"] - FEATURES[feature].neutral))
                    if rows:
                        smallest.append({
                            "model": model, "emotion": emotion, "feature": feature, "direction": direction,
                            "any_flip": next((r["strength"] for r in rows if r["flip_rate"] > 0), None),
                            "half_flip": next((r["strength"] for r in rows if r["flip_rate"] >= 0.5), None)})
        cells = _cells(clips)
        for feature in sorted({f for f, _ in cells}):
            strengths = sorted(s for f, s in cells if f == feature)
            level = 1 - ALPHA / len(strengths)
            figures = []
            for strength in strengths:
                members = cells[(feature, strength)]
                excess = np.array([_excess(c, feature, strength) for c in members])
                low, high = hierarchical_interval(excess, [c.speaker for c in members], level, n_boot, seed)
                figures.append({"strength": strength, "n_clips": len(members), "excess": float(excess.mean()),
                                "ci_low": low, "ci_high": high, "beyond_null": bool(low > 0)})
            used.append({"model": model, "feature": feature, "used": any(f["beyond_null"] for f in figures),
                         "level": level, "strengths": figures})
    return {"rule": USED_RULE, "identity": identity_rows, "curves": curves, "smallest_flip": smallest, "used": used}


def _cells(clips: Sequence[ClipScores]) -> dict[tuple[str, float], list[ClipScores]]:
    cells: dict[tuple[str, float], list[ClipScores]] = defaultdict(list)
    for c in clips:
        for key in c.variants:
            cells[(key[0], float(key[1]))].append(c)
    return cells


def _p(probs: Sequence[float], index: int) -> float:
    return float(np.asarray(probs, dtype=np.float64)[index])


def _excess(c: ClipScores, feature: str, strength: float) -> float:
    t = c.target
    return abs(_p(c.variants[(feature, strength)], t) - _p(c.identity, t)) - abs(_p(c.identity, t) - _p(c.original, t))


def _identity_row(model: str, emotion: str, group: Sequence[ClipScores]) -> dict[str, Any]:
    dp = np.array([_p(c.identity, c.target) - _p(c.original, c.target) for c in group])
    flips = [int(np.argmax(c.identity)) != int(np.argmax(c.original)) for c in group]
    return {"model": model, "emotion": emotion, "n_clips": len(group),
            "n_speakers": len({c.speaker for c in group}), "flip_rate": float(np.mean(flips)) if flips else None,
            "mean_abs_dp": float(np.abs(dp).mean()) if dp.size else None,
            "mean_dp": float(dp.mean()) if dp.size else None}


def _curve_row(model: str, emotion: str, feature: str, strength: float, members: Sequence[ClipScores],
               n_boot: int, seed: int) -> dict[str, Any]:
    dp = np.array([_p(c.variants[(feature, strength)], c.target) - _p(c.identity, c.target) for c in members])
    low, high = hierarchical_interval(dp, [c.speaker for c in members], 1 - ALPHA, n_boot, seed)
    predicted = Counter(str(c.labels[int(np.argmax(c.variants[(feature, strength)]))]) for c in members)
    flips = [int(np.argmax(c.variants[(feature, strength)])) != int(np.argmax(c.identity)) for c in members]
    return {"model": model, "emotion": emotion, "feature": feature, "strength": strength,
            "unit": FEATURES[feature].unit, "n_clips": len(members), "n_speakers": len({c.speaker for c in members}),
            "mean_dp": float(dp.mean()), "ci_low": low, "ci_high": high, "flip_rate": float(np.mean(flips)),
            "predicted": dict(sorted(predicted.items())), "mean_abs_dp": float(np.abs(dp).mean()),
            "excess": float(np.mean([_excess(c, feature, strength) for c in members]))}
