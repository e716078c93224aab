"""Backbone embeddings computed once per distinct patch and shared by every model whose backbone has the same weights.

An audit asks three models (the ensemble and the two single models) about the
same perturbed patches: LIME and occlusion perturb every model's input the same
way, and the random orders of the faithfulness curves are seeded alike. The
backbones are frozen, so the ensemble's VGGish tower and the VGGish-only model's
tower hold the same weights and compute the same embedding for the same patch;
only the small heads differ. ``EmbeddingMemo`` remembers each (tower weights,
patch) embedding, so a tower runs once per distinct patch however many models
and methods ask, and each model only runs its head.

Towers are matched by a digest of their weights, never by name: a fine-tuned
tower has its own digest and is not shared.
"""

from __future__ import annotations

import hashlib
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import numpy as np


def patch_digests(patches: np.ndarray) -> list[bytes]:
    """A 16-byte digest of each float32 patch ``[N, 96, 64]`` (equal bytes, equal digest)."""
    patches = np.ascontiguousarray(patches, dtype=np.float32)
    return [hashlib.blake2b(p.tobytes(), digest_size=16).digest() for p in patches]


def weights_digest(weights: Sequence[Any]) -> str:
    """Digest of a list of weight arrays (Keras variables or numpy arrays), in order."""
    h = hashlib.blake2b(digest_size=16)
    for w in weights:
        array = np.ascontiguousarray(np.asarray(w))
        h.update(str((array.dtype.str, array.shape)).encode())
        h.update(array.tobytes())
    return h.hexdigest()


class EmbeddingMemo:
    """Embeddings already computed, keyed by tower digest and patch digest.

    Parameters
    ----------
    max_entries : int
        Entries kept before the memo empties itself (bounds memory on long runs;
        an audit clears it after each clip anyway).
    max_bytes : int, optional
        Bytes of stored rows kept before the memo empties itself (for towers whose rows are large).
    """

    def __init__(self, max_entries: int = 100_000, max_bytes: int | None = None):
        self.max_entries = int(max_entries)
        self.max_bytes = max_bytes
        self._store: dict[tuple[str, bytes], np.ndarray] = {}
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._store)

    def clear(self) -> None:
        self._store.clear()
        self._bytes = 0

    def embed(self, tower: str, digests: Sequence[bytes], patches: np.ndarray, compute) -> np.ndarray:
        """Embeddings ``[N, D]`` of `patches` from tower `tower`, calling ``compute(patches [M,96,64])`` for unseen ones only.

        Repeated patches inside one call are computed once too.
        """
        rows: dict[bytes, np.ndarray] = {}
        missing: dict[bytes, int] = {}
        for i, d in enumerate(digests):
            if d in rows or d in missing:
                continue
            found = self._store.get((tower, d))
            if found is None:
                missing[d] = i
            else:
                rows[d] = found
        self.misses += len(missing)
        self.hits += len(digests) - len(missing)
        if missing:
            computed = np.asarray(compute(patches[list(missing.values())]))
            if (len(self._store) + len(missing) > self.max_entries
                    or (self.max_bytes is not None and self._bytes + computed.nbytes > self.max_bytes)):
                self.clear()
            for d, row in zip(missing, computed):
                self._store[(tower, d)] = rows[d] = row
            self._bytes += computed.nbytes
        return np.stack([rows[d] for d in digests])


def share_towers(model: Any, memo: EmbeddingMemo) -> Any:
    """Route `model`'s tower passes through `memo` from now on (its weights must not change afterwards); returns it.

    For models loaded one at a time (a fold's model when its first clip comes): towers with the
    same weights, in any model or fold, then run once per distinct patch. Objects without towers
    are left alone.
    """
    if hasattr(model, "towers"):
        model.tower_digests = {b: f"{b}:{weights_digest(t.weights)}" for b, t in model.towers().items()}
        model.embedding_memo = memo
    return model


@contextmanager
def sharing_backbones(models: Sequence[Any], memo: EmbeddingMemo | None = None) -> Iterator[EmbeddingMemo]:
    """Within the block, every model's ``predict_patches`` goes through one shared `EmbeddingMemo`.

    Tower digests are taken from the weights on entry: the models' weights must not
    change inside the block. Objects without towers (any ``predict_patches`` model) are left alone.
    """
    memo = memo if memo is not None else EmbeddingMemo()
    models = [m for m in models if hasattr(m, "towers")]
    previous = [getattr(m, "embedding_memo", None) for m in models]
    for model in models:
        share_towers(model, memo)
    try:
        yield memo
    finally:
        for model, old in zip(models, previous):
            model.embedding_memo = old
        memo.clear()
