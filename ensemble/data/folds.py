"""Speaker-independent cross-validation plans: which speakers are tested, trained on and validated on in each fold.

* RAVDESS: 6 folds of 4 actors (1-4, 5-8, ..., 21-24).
* EmoDB: leave one speaker out (10 folds).
* any other corpus: scikit-learn `GroupKFold` by speaker (at most 5 folds).

Inside each training split an inner validation split (for early stopping and
late-fusion weights) is drawn by speaker with `GroupShuffleSplit`, so no
speaker is ever in two of train / validation / test. Given the clips' emotions
(``labels``), a draw that would leave the training speakers with fewer than two
emotions (a classifier cannot be fitted on one) is replaced by the next seeded
draw that leaves two; a fold whose non-test speakers hold fewer than two emotions
cannot be trained at all, and `untrainable_folds` names it and its emotions.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import numpy as np

RAVDESS_FOLD_SIZE = 4


@dataclass
class Fold:
    """One fold: the speakers of each split."""

    index: int
    train_speakers: list[str]
    val_speakers: list[str]
    test_speakers: list[str]

    def to_dict(self) -> dict:
        return asdict(self)

    def masks(self, speakers) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boolean masks (train, validation, test) over a per-clip (or per-patch) speaker array."""
        speakers = np.asarray(speakers).astype(str)
        return (
            np.isin(speakers, self.train_speakers),
            np.isin(speakers, self.val_speakers),
            np.isin(speakers, self.test_speakers),
        )


def _speaker_number(speaker: str) -> int | None:
    """The number a speaker id ends with ("ravdess_07" -> 7), or None."""
    match = re.search(r"(\d+)$", speaker)
    return int(match.group(1)) if match else None


def _speaker_sort_key(speaker: str):
    number = _speaker_number(speaker)
    return (0, speaker.rstrip("0123456789"), number) if number is not None else (1, speaker, 0)


def outer_splits(speakers, corpus: str, n_splits: int = 5) -> list[list[str]]:
    """Test-speaker groups of the outer cross-validation for `corpus`."""
    from sklearn.model_selection import GroupKFold

    unique = sorted({str(s) for s in speakers}, key=_speaker_sort_key)
    if len(unique) < 2:
        raise ValueError(f"speaker-independent cross-validation needs at least 2 speakers, got {unique}")
    corpus = corpus.lower()
    if corpus == "ravdess" and all(_speaker_number(s) is not None for s in unique):
        groups: dict[int, list[str]] = {}
        for s in unique:
            groups.setdefault((_speaker_number(s) - 1) // RAVDESS_FOLD_SIZE, []).append(s)
        return [groups[k] for k in sorted(groups)]
    if corpus.startswith("emodb"):
        return [[s] for s in unique]
    k = min(n_splits, len(unique))
    index = np.arange(len(unique))
    return [sorted([unique[i] for i in test], key=_speaker_sort_key) for _, test in GroupKFold(k).split(index, groups=index)]


MAX_REDRAWS = 100  # seeded inner-validation draws tried for one whose training speakers hold two emotions


def speaker_emotions(speakers, labels) -> dict[str, set]:
    """Speaker -> the emotions of its clips (`speakers` and `labels` are per clip)."""
    out: dict[str, set] = {}
    for speaker, label in zip(np.asarray(speakers).astype(str), np.asarray(labels)):
        out.setdefault(speaker, set()).add(label.item() if hasattr(label, "item") else label)
    return out


def _emotions(speakers, emotions: dict[str, set]) -> set:
    return set().union(*(emotions.get(s, set()) for s in speakers)) if len(speakers) else set()


def inner_validation(train_speakers: list[str], seed: int, fraction: float = 0.2,
                     emotions: dict[str, set] | None = None) -> tuple[list[str], list[str]]:
    """Split training speakers into (train, validation) by speaker; validation is empty with fewer than 2 speakers.

    With `emotions` (speaker -> its emotions), a draw whose training speakers hold fewer than
    two emotions gives way to the next seeded draw (seed + 1, ...) that holds two, when one exists.
    """
    from sklearn.model_selection import GroupShuffleSplit

    train_speakers = sorted(train_speakers, key=_speaker_sort_key)
    if len(train_speakers) < 2:
        return train_speakers, []
    n_val = min(len(train_speakers) - 1, max(1, int(round(fraction * len(train_speakers)))))
    index = np.arange(len(train_speakers))
    first = None
    for redraw in range(MAX_REDRAWS if emotions is not None else 1):
        tr, va = next(GroupShuffleSplit(n_splits=1, test_size=n_val, random_state=seed + redraw).split(index, groups=index))
        split = [train_speakers[i] for i in sorted(tr)], [train_speakers[i] for i in sorted(va)]
        first = first or split
        if emotions is None or len(_emotions(split[0], emotions)) >= 2:
            return split
    return first


def fold_plan(speakers, corpus: str, seed: int = 0, n_splits: int = 5, val_fraction: float = 0.2,
              labels=None) -> list[Fold]:
    """The full speaker-independent plan: outer test groups plus a seeded inner validation split per fold.

    `labels` (per clip, beside `speakers`) lets each inner split keep two emotions among its training speakers.
    """
    emotions = speaker_emotions(speakers, labels) if labels is not None else None
    unique = sorted({str(s) for s in speakers}, key=_speaker_sort_key)
    folds = []
    for i, test in enumerate(outer_splits(unique, corpus, n_splits)):
        rest = [s for s in unique if s not in test]
        train, val = inner_validation(rest, seed + i, val_fraction, emotions)
        folds.append(Fold(i, train, val, list(test)))
    return folds


def final_split(speakers, seed: int = 0, val_fraction: float = 0.2, labels=None) -> Fold:
    """The split of the final model trained on all data: every speaker trains except an inner validation group."""
    emotions = speaker_emotions(speakers, labels) if labels is not None else None
    unique = sorted({str(s) for s in speakers}, key=_speaker_sort_key)
    train, val = inner_validation(unique, seed, val_fraction, emotions)
    return Fold(-1, train, val, [])


def untrainable_folds(speakers, labels, corpus: str, seed: int = 0) -> list[str]:
    """What stops a fold of the plan from training: one line per fold (and the final split) whose training
    speakers hold fewer than two emotions, naming its speakers and their emotions; empty when every fold trains."""
    emotions = speaker_emotions(speakers, labels)
    problems = []
    plan = fold_plan(speakers, corpus, seed, labels=labels) + [final_split(speakers, seed, labels=labels)]
    for fold in plan:
        held = sorted(_emotions(fold.train_speakers, emotions), key=str)
        if len(held) >= 2:
            continue
        name = "the final model" if fold.index < 0 else f"fold {fold.index} (test speakers {', '.join(fold.test_speakers)})"
        rest = sorted(_emotions(fold.val_speakers, emotions) - set(held), key=str)
        where = f"; {', '.join(map(repr, rest))} only with its validation speakers" if rest else ""
        problems.append(f"{name} would train on {', '.join(fold.train_speakers)}, whose clips hold only "
                        f"{', '.join(map(repr, held)) or 'no emotion'}{where}")
    return problems
