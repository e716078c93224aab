"""A corpus made ready for training: clip table, label ids, speakers, patch table, GDS keep-mask and embeddings.

Preparing the data (reading the embedding cache, computing what is missing,
eGeMAPS features for the baseline) is kept apart from fitting
(`ensemble.training.trainer`), so one `CorpusData` serves every fold, every model and
a cross-corpus test set alike.
"""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from seraudit.core.errors import CorpusError
from seraudit.core.labels import EMOTIONS
from seraudit.ensemble.data.augmented_copies import CorpusCopies, corpus_copies
from seraudit.ensemble.data.embedding_cache import CorpusPatches, EmbeddingCache, UnusableClips
from seraudit.ensemble.data.folds import untrainable_folds
from seraudit.ensemble.model.clip_pooling import kept_by_clip, pool_by_clip, pool_embeddings
from seraudit.ensemble.model.spec import BACKBONES
from seraudit.preprocessing.corpora import clip_durations, corpus_title
from seraudit.preprocessing.gds import GdsSettings


def select_clips(table: pd.DataFrame, max_clips: int | None, seed: int = 0) -> pd.DataFrame:
    """A quick-run slice of at most `max_clips` clips, spread over speakers first, then emotions (seeded)."""
    table = table.reset_index(drop=True)
    if max_clips is None or max_clips >= len(table):
        return table
    shuffled = table.sample(frac=1.0, random_state=seed)
    per_label = shuffled.groupby(["speaker", "label"]).cumcount()
    shuffled = shuffled.assign(_r1=per_label.values).sort_values(["speaker", "_r1"], kind="stable")
    shuffled["_r2"] = shuffled.groupby("speaker").cumcount()
    picked = shuffled.sort_values(["_r2", "speaker"], kind="stable").head(max_clips)
    return picked.drop(columns=["_r1", "_r2"]).sort_values("path").reset_index(drop=True)


def label_set(labels) -> list[str]:
    """The corpus's emotions in the canonical order."""
    present = set(labels)
    return [e for e in EMOTIONS if e in present] + sorted(present - set(EMOTIONS))


MIN_SPEAKERS_PER_EMOTION = 2  # so a fold that tests one speaker of an emotion still trains on another


def clip_speakers(table: pd.DataFrame) -> np.ndarray:
    """Each clip's speaker as the folds see it (prefixed with its corpus when the table mixes corpora)."""
    if "corpus" in table and table["corpus"].nunique() > 1:
        return (table["corpus"].astype(str) + ":" + table["speaker"].astype(str)).to_numpy()
    return table["speaker"].astype(str).to_numpy()


def fold_corpus(table: pd.DataFrame, default: str = "") -> str:
    """The corpus name the fold plan follows (`ensemble.data.folds.outer_splits`)."""
    return str(table["corpus"].iloc[0]) if "corpus" in table and len(table) else default


def check_trainable(table: pd.DataFrame, source: str, *, cross_validated: bool = True, thin: str = "error",
                    seed: int = 0) -> None:
    """Refuse, before any audio is read, a table the models cannot learn from or the folds cannot split.

    Needs two emotions at least; with cross-validation also two speakers, every emotion
    spoken by `MIN_SPEAKERS_PER_EMOTION` speakers, and in every fold of the plan (seeded by
    `seed`) training speakers that hold two emotions. The message lists the counts and the fix.
    ``thin="warn"`` only warns about an emotion of too few speakers (a quick ``--max-clips``
    slice of a corpus that passed, or what is left once unusable clips are dropped): its
    folds still run, some of them without that emotion in training. A fold that cannot be
    trained is refused either way.
    """
    labels = sorted(set(table["label"]))
    if len(labels) < 2:
        found = f"only {labels[0]!r}" if labels else "none"
        raise CorpusError(f"{source}: the clips carry {found} of the emotions ({len(table)} clip(s)); a classifier needs "
                          "at least two emotions; add clips of other emotions or check the label column")
    if not cross_validated:
        return
    speakers = sorted(set(table["speaker"]))
    if len(speakers) < 2:
        raise CorpusError(f"{source}: all {len(table)} clips come from one speaker ({speakers[0]!r}); speaker-independent "
                          "cross-validation needs at least two speakers; add speakers or check the speaker column")
    per_label = table.groupby("label")["speaker"].nunique()
    few = per_label[per_label < MIN_SPEAKERS_PER_EMOTION]
    if len(few):
        counts = ", ".join(f"{label!r}: {n}" for label, n in few.items())
        message = (f"{source}: emotion(s) spoken by fewer than {MIN_SPEAKERS_PER_EMOTION} speakers ({counts}); a fold "
                   "that tests that speaker would train without the emotion")
        if thin != "warn":
            raise CorpusError(f"{message}; add clips of those emotions by other speakers, or leave those emotions out")
        warnings.warn(message, stacklevel=2)
    problems = untrainable_folds(clip_speakers(table), table["label"].astype(str).to_numpy(), fold_corpus(table), seed)
    if problems:
        raise CorpusError(f"{source}: {len(problems)} fold(s) cannot be trained, a classifier needs two emotions: "
                          f"{'; '.join(problems)}; add clips of the missing emotions by those speakers, or leave "
                          "those emotions out")


@dataclass
class CorpusData:
    """One corpus ready for training: clip table, labels, patches, every backbone layer's features (and eGeMAPS when asked)."""

    table: pd.DataFrame
    labels: list[str]
    y: np.ndarray  # [n_clips]
    speakers: np.ndarray  # [n_clips] str
    patches: CorpusPatches
    keep: np.ndarray  # [P] GDS keep-mask
    taps: dict[str, dict[str, np.ndarray]]  # backbone -> readable layer -> its pooled output [P, D_tap]
    egemaps: np.ndarray | None = None  # [n_clips, 88]
    copies: CorpusCopies | None = None  # K augmented copies of every clip (training-time augmentation)
    copy_keep: np.ndarray | None = None  # [Q] GDS keep-mask of the copies' patches
    tta: CorpusCopies | None = None  # N test-time copies of every clip (mild augmentation, `ensemble.inference.tta`)
    tta_keep: np.ndarray | None = None
    failures: list = field(default_factory=list)  # clips left out because they cannot be used ({"clip", "error", "stage"})
    display_name: str = ""  # the corpus as shown, from its clips' lengths (`preprocessing.corpora.corpus_title`)
    _pooled: dict = field(default_factory=dict, init=False, repr=False, compare=False)  # (backbone, tap) -> [n_clips, D]

    @property
    def embeddings(self) -> dict[str, np.ndarray]:
        """Each backbone's published embedding ``[P, D]`` (its last layer)."""
        return {b: layers[BACKBONES[b].embedding_tap] for b, layers in self.taps.items()}

    @property
    def n_classes(self) -> int:
        return len(self.labels)

    def aux_labels(self, field: str) -> tuple[np.ndarray, list[str]]:
        """Class ids ``[n_clips]`` of an auxiliary clip field (gender, intensity; -1 where unknown) and its classes."""
        if field not in self.table or self.table[field].isna().all():
            raise ValueError(f"this corpus's clip table has no {field!r} values, so it cannot be learned as an "
                             f"auxiliary task; drop it from `aux_tasks`")
        values = self.table[field]
        classes = sorted(str(v) for v in values.dropna().unique())
        index = {c: i for i, c in enumerate(classes)}
        return np.array([index.get(str(v), -1) if not pd.isna(v) else -1 for v in values], np.int64), classes

    def patch_mask(self, clip_mask: np.ndarray, kept_only: bool = True) -> np.ndarray:
        """Patches ``[P]`` of the clips in `clip_mask` (only the GDS-kept ones unless `kept_only` is False)."""
        mask = np.asarray(clip_mask, bool)[self.patches.clip_index]
        return mask & self.keep if kept_only else mask

    def branch_features(self, branch: str, taps: tuple[str, ...] | None, patch_idx: np.ndarray) -> np.ndarray:
        """What a head reads from `branch` for patches `patch_idx`: the pooled `taps`, concatenated (None: the embedding)."""
        taps = taps or (BACKBONES[branch].embedding_tap,)
        return np.concatenate([self.taps[branch][t][patch_idx] for t in taps], axis=1)

    def head_input(self, branches: tuple[str, ...], patch_idx: np.ndarray,
                   taps: dict[str, tuple[str, ...]] | None = None) -> np.ndarray:
        """What a head on `branches` reads for patches `patch_idx`: each branch's features, concatenated in branch order."""
        taps = taps or {}
        parts = [self.branch_features(b, taps.get(b), patch_idx) for b in branches]
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)

    def available_taps(self, branch: str) -> tuple[str, ...]:
        """The layers of `branch` this corpus holds features of."""
        return tuple(self.taps[branch])

    def clip_features(self, branches: tuple[str, ...], taps: dict[str, tuple[str, ...]], clips: np.ndarray,
                      stats: bool = False) -> np.ndarray:
        """Each clip's mean head input over its GDS-kept patches ``[len(clips), D]``; with `stats`, each layer's mean
        and standard deviation over those patches (statistics pooling) ``[len(clips), 2 D]``.

        A clip's statistics do not depend on the split, so each layer is pooled over the
        whole corpus once and every fold and candidate of the layer search reads it.
        """
        parts = []
        for b in branches:
            for t in taps.get(b) or (BACKBONES[b].embedding_tap,):
                parts.append(self._clip_means(b, t)[np.asarray(clips)])
                if stats:
                    parts.append(self._clip_stds(b, t)[np.asarray(clips)])
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)

    def _clip_stds(self, branch: str, tap: str) -> np.ndarray:
        key = (branch, tap, "std")
        if key not in self._pooled:
            x = self.taps[branch][tap].astype(np.float64)
            second = pool_embeddings(x * x, self.patches.clip_index, self.keep, len(self.table))
            self._pooled[key] = np.sqrt(np.maximum(second - self._clip_means(branch, tap) ** 2, 0.0))
        return self._pooled[key]

    def copy_features(self, branches: tuple[str, ...], taps: dict[str, tuple[str, ...]], clips: np.ndarray) -> np.ndarray:
        """The augmented copies' mean head inputs ``[len(clips) * k, D]``: clip c's copies in rows c*k .. c*k+k-1.

        Empty (0 rows) when the corpus was prepared without copies.
        """
        clips = np.asarray(clips)
        if self.copies is None:
            return np.zeros((0, self.clip_features(branches, taps, clips[:1]).shape[1]))
        rows = (clips[:, None] * self.copies.k + np.arange(self.copies.k)).ravel()
        parts = []
        for b in branches:
            for t in taps.get(b) or (BACKBONES[b].embedding_tap,):
                key = ("copies", b, t)
                if key not in self._pooled:
                    self._pooled[key] = self.copies.clip_means(b, t, self.copy_keep, len(self.table))
                parts.append(self._pooled[key][rows])
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)

    def _clip_means(self, branch: str, tap: str) -> np.ndarray:
        key = (branch, tap)
        if key not in self._pooled:
            self._pooled[key] = pool_embeddings(self.taps[branch][tap], self.patches.clip_index, self.keep, len(self.table))
        return self._pooled[key]

    def clip_probabilities(self, patch_logp: np.ndarray, patch_idx: np.ndarray, clips: np.ndarray) -> np.ndarray:
        """Clip probabilities ``[len(clips), C]`` pooled from the log-probabilities of patches `patch_idx` (sorted `clips`)."""
        local = np.searchsorted(clips, self.patches.clip_index[patch_idx])
        counted = kept_by_clip(self.keep[patch_idx], local, len(clips))
        return pool_by_clip(np.exp(patch_logp[counted]), local[counted], len(clips))


def prepare_data(
    table: pd.DataFrame,
    backbones: list[str],
    sources: dict[str, Any],
    gds: GdsSettings,
    cache: EmbeddingCache,
    seed: int,
    with_egemaps: bool,
    labels: list[str] | None = None,
    patch_data: bool = False,
    strict: bool = False,
    cross_validated: bool = True,
    copies: int = 0,
    copy_seed: int = 0,
    tta_copies: int = 0,
) -> CorpusData:
    """Embeddings, patch table and (optionally) eGeMAPS features for every clip of `table`.

    `patch_data` also keeps the log-mel patches in memory (fine-tuning trains on them);
    `copies` adds that many augmented copies of every clip (`ensemble.data.augmented_copies`, seeded by `copy_seed`);
    `tta_copies` that many test-time copies (the mild augmentation of `ensemble.inference.tta`, same seed).
    A clip that cannot be used is left out and listed in ``failures`` (the rest must still
    pass `check_trainable`); `strict` refuses the corpus instead, naming those clips.
    """
    from seraudit.ensemble.heads.egemaps_baseline import egemaps_matrix
    from seraudit.ensemble.inference.tta import TTA_AUGMENTATION

    table = table.reset_index(drop=True)
    paths = table["path"].astype(str).tolist()
    failures: list[dict] = []
    try:
        patches = cache.patches(paths)
    except UnusableClips as unusable:
        failures = unusable.failures
        if strict:
            listed = "; ".join(f"{f['clip']}: {f['error']}" for f in failures[:5])
            raise CorpusError(f"`strict`: {len(failures)} clip(s) of the corpus cannot be used ({listed}"
                              f"{' ...' if len(failures) > 5 else ''}); fix or remove them, or leave `strict` off to "
                              "train on the rest") from None
        bad = {f["clip"] for f in failures}
        table = table[~table["path"].astype(str).isin(bad)].reset_index(drop=True)
        check_trainable(table, f"the {len(table)} usable clips (of {len(paths)})", cross_validated=cross_validated,
                        thin="warn", seed=seed)
        paths = table["path"].astype(str).tolist()
        patches = cache.patches(paths)
    labels = labels or label_set(table["label"])
    index = {lab: i for i, lab in enumerate(labels)}
    display = corpus_title(fold_corpus(table), clip_durations(paths)) if "corpus" in table and table["corpus"].nunique() == 1 \
        else fold_corpus(table)
    # openSMILE runs in its own worker process: its functionals are extracted while TensorFlow embeds the patches.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(egemaps_matrix, paths, cache_dir=cache.dir, progress=cache.progress) if with_egemaps else None
        taps = {b: cache.taps(paths, b, sources[b], seed) for b in backbones}
        egemaps = pending.result() if pending is not None else None
    keep = patches.keep(gds)
    if patch_data:
        patches = cache.patches(paths, need_data=True)
    own = {b: sources[b] for b in backbones}
    augmented = corpus_copies(cache, paths, own, seed, copies, copy_seed) if copies else None
    tta = corpus_copies(cache, paths, own, seed, tta_copies, copy_seed, TTA_AUGMENTATION) if tta_copies else None
    return CorpusData(
        table=table,
        labels=labels,
        y=table["label"].map(index).to_numpy(dtype=np.int64),
        speakers=clip_speakers(table),
        patches=patches,
        keep=keep,
        taps=taps,
        egemaps=egemaps,
        copies=augmented,
        copy_keep=augmented.keep(gds) if augmented is not None else None,
        tta=tta,
        tta_keep=tta.keep(gds) if tta is not None else None,
        failures=failures,
        display_name=display,
    )
