"""Augmented training copies of a corpus for frozen-backbone heads: K copies of every clip, embedded once and cached.

With frozen backbones a head trains on clip features, so augmentation means
more feature rows: each clip's waveform is augmented K times (gain, time shift,
noise at a random SNR: `preprocessing.augment.Augmentation`), each copy is cut
into patches with its own GDS correlations, masked with SpecAugment, and run
through the backbone once; every readable layer is stored per patch, like the
clean corpus (`ensemble.data.embedding_cache`). Copy j of clip i draws from
``copy_rng(seed, i * K + j)``, so a copy is reproduced by the run's recorded seed.

Only training speakers' copies are used (`ensemble.training.trainer`); validation and
test speakers are always scored on the clips themselves.

The file ``<backbone>-copies-<hash>.npz`` sits beside the clean layers in the
embedding cache, keyed by the corpus files, the front end, the backbone and its
weights, K, the augmentation and its seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seraudit.ensemble.data.embedding_cache import (
    EmbeddingCache, _files_fingerprint, _frontend_fingerprint, build_tap_model, cache_key, embed_patches,
    weights_fingerprint,
)
from seraudit.ensemble.model.clip_pooling import pool_embeddings
from seraudit.ensemble.model.spec import BACKBONES
from seraudit.preprocessing.augment import Augmentation, copy_rng
from seraudit.preprocessing.gds import GdsSettings, keep_mask

#: The training copies: gain, shift and noise as the log-mel CNN recipe uses them, SpecAugment on the patches.
TRAIN_AUGMENTATION = Augmentation()


@dataclass
class CorpusCopies:
    """Every patch of the K augmented copies of each clip: which clip and copy, its GDS correlation, its layers."""

    k: int
    clip_index: np.ndarray  # [Q] the original clip of each copy patch
    copy_index: np.ndarray  # [Q] the copy (clip * k + j) each patch belongs to
    correlation: np.ndarray  # [Q]
    taps: dict[str, dict[str, np.ndarray]]  # backbone -> layer -> [Q, D]

    def keep(self, gds: GdsSettings) -> np.ndarray:
        gds = gds.resolved()
        if not gds.enabled:
            return np.ones(len(self.copy_index), bool)
        return keep_mask(self.correlation, gds.threshold, self.copy_index)

    def head_input(self, branches: tuple[str, ...], taps: dict[str, tuple[str, ...]], patch_idx: np.ndarray) -> np.ndarray:
        """What a head on `branches` reads for copy patches `patch_idx` (as `CorpusData.head_input` for the clips)."""
        parts = [self.taps[b][t][patch_idx] for b in branches for t in taps.get(b) or (BACKBONES[b].embedding_tap,)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)

    def clip_means(self, backbone: str, tap: str, keep: np.ndarray, n_clips: int) -> np.ndarray:
        """Each copy's mean layer output over its kept patches: ``[n_clips * k, D]``, copy ``i * k + j`` in row order."""
        return pool_embeddings(self.taps[backbone][tap], self.copy_index, keep, n_clips * self.k)


def _copy_patches(paths: list[str], k: int, augmentation: Augmentation, seed: int, progress: bool):
    """Log-mel patches, GDS correlations and indices of the K augmented copies of every clip."""
    from tqdm.auto import tqdm

    from seraudit.core.constants import SAMPLE_RATE
    from seraudit.preprocessing.pipeline import clip_features

    datas, clip_idx, copy_idx, corr = [], [], [], []
    for i, path in enumerate(tqdm(paths, desc=f"{k} augmented copies per clip", unit="clip", disable=not progress)):
        waveform = clip_features(str(path)).audio.waveform
        for j in range(k):
            rng = copy_rng(seed, i * k + j)
            copy = clip_features((augmentation.waveform(waveform, rng), SAMPLE_RATE))
            n = len(copy.patches.data)
            datas.append(augmentation.log_mel(np.asarray(copy.patches.data, np.float32), rng))
            clip_idx.append(np.full(n, i))
            copy_idx.append(np.full(n, i * k + j))
            corr.append(np.asarray(copy.selection.correlation, float))
    return (np.concatenate(datas), np.concatenate(clip_idx).astype(np.int64), np.concatenate(copy_idx).astype(np.int64),
            np.concatenate(corr))


def copies_file(cache: EmbeddingCache, paths: list[str], backbone: str, source, seed: int, k: int,
                augmentation: Augmentation, aug_seed: int):
    key = cache_key("copies", _files_fingerprint(paths), _frontend_fingerprint(), backbone,
                    weights_fingerprint(source, seed), k, augmentation.to_dict(), aug_seed)
    return cache.dir / f"{backbone}-copies-{key}.npz"


def corpus_copies(cache: EmbeddingCache, paths: list[str], sources: dict, seed: int, k: int, aug_seed: int,
                  augmentation: Augmentation = TRAIN_AUGMENTATION) -> CorpusCopies:
    """The K augmented copies of every clip of `paths`, with every layer of each backbone of `sources` (cached, read
    and written like the clean layers: verified on reading, locked while computed)."""
    paths = [str(p) for p in paths]
    index_names = ("clip_index", "copy_index", "correlation")
    patches, taps, index = None, {}, None
    for backbone in sorted(sources):
        file = copies_file(cache, paths, backbone, sources[backbone], seed, k, augmentation, aug_seed)
        names = BACKBONES[backbone].tap_names
        with cache._lock(file):
            stored = cache._read(file, index_names + names)
            if stored is not None:
                index = tuple(stored[n] for n in index_names)
                taps[backbone] = {t: stored[t] for t in names}
                cache.hits.append(file.name)
                continue
            if patches is None:
                patches = _copy_patches(paths, k, augmentation, aug_seed, cache.progress)
            data, *index = patches
            model = build_tap_model(backbone, sources[backbone], seed)
            taps[backbone] = embed_patches(model, data, progress=cache.progress, desc=f"{backbone} layers (copies)")
            cache._write(file, **dict(zip(index_names, index)), **taps[backbone])
            cache.misses.append(file.name)
    return CorpusCopies(k, *index, taps)
