"""Per-patch backbone embeddings of a whole corpus, computed once and cached on disk.

Frozen-backbone training needs every patch's embedding; computing them is the
slow step, so they are cached in two files, each written atomically and named
by a hash of what determines it:

* patch table ``patches-<hash>.npz``: clip index, patch times and the GDS
  correlation of every patch; keyed by the corpus files (path, size, mtime)
  and the front-end constants. The keep-mask of any GDS setting follows from
  the stored correlations by the rule `preprocessing.gds.select_segments`
  applies (`preprocessing.gds.keep_mask`), so a GDS ablation reads the same file;
* layer taps ``<backbone>-taps-<hash>.npz``: for every readable layer of the
  backbone (`ensemble.backbones.backbone.Backbone.tap_widths`), its output averaged over time
  and frequency, ``[P, D_tap]`` for every patch, from one forward pass; the last
  tap is the published embedding. Keyed by the corpus files, the front-end
  constants, the backbone and its weights (SHA-256, or the seed of untrained
  weights). Another GDS setting, head or choice of layers never re-extracts them.

The cache folder is ``$SERAUDIT_CACHE_DIR/embeddings`` (default
``~/.cache/seraudit/embeddings``).

Faults: an entry that does not load (truncated, a bad CRC-32 in the zip, missing
arrays, lengths that do not match the corpus) is recomputed with a warning, never
used. Two processes filling the same entry take a lock file beside it, so the
second reads what the first wrote instead of repeating the work. A corpus with
clips that cannot be used (`AudioError`) gets its patch table of the usable clips
and a ``patches-<hash>.failures.json`` naming the others, so a rerun skips them at
once; `patches` then raises `UnusableClips`.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seraudit.core import constants
from seraudit.core.errors import AudioError, SerauditError
from seraudit.core.io import atomic_path, file_lock, write_json
from seraudit.core.paths import cache_subdir
from seraudit.ensemble.model.spec import BACKBONES, INPUT_NAME
from seraudit.preprocessing.gds import GdsSettings, keep_mask

CACHE_VERSION = 1
EMBED_BATCH = 128


def default_cache_dir() -> Path:
    """`$SERAUDIT_CACHE_DIR/embeddings` (default `~/.cache/seraudit/embeddings`)."""
    return cache_subdir("embeddings")


def _files_fingerprint(paths: list[str]) -> list:
    out = []
    for p in paths:
        st = os.stat(p)
        out.append([str(Path(p).resolve()), st.st_size, st.st_mtime_ns])
    return out


def _frontend_fingerprint() -> dict:
    names = [n for n in dir(constants) if n.isupper()]
    return {n: repr(getattr(constants, n)) for n in sorted(names)}


def cache_key(*parts) -> str:
    blob = json.dumps([CACHE_VERSION, *parts], sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


@dataclass
class CorpusPatches:
    """Every patch of a corpus: which clip it belongs to, its times, its GDS correlation and keep flag."""

    paths: list[str]
    clip_index: np.ndarray  # [P] int
    start_s: np.ndarray  # [P]
    end_s: np.ndarray  # [P]
    correlation: np.ndarray  # [P]
    data: np.ndarray | None = None  # [P, 96, 64] log-mel patches, only when computed in this process

    def keep(self, gds: GdsSettings) -> np.ndarray:
        """GDS keep-mask ``[P]`` of every patch, as `preprocessing.gds.select_segments` decides it clip by clip."""
        gds = gds.resolved()
        if not gds.enabled:
            return np.ones(len(self.clip_index), bool)
        return keep_mask(self.correlation, gds.threshold, self.clip_index)


class UnusableClips(SerauditError):
    """Clips of a corpus that cannot be used; ``failures`` are ``{"clip", "error", "stage"}`` records."""

    def __init__(self, failures: list[dict[str, str]]):
        self.failures = failures
        first = failures[0]
        super().__init__(f"{len(failures)} clip(s) cannot be used, first {first['clip']}: {first['error']}")


_BROKEN = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile)  # what np.load raises on a damaged file


def compute_patches(paths: list[str], progress: bool = True, failures: list | None = None) -> CorpusPatches:
    """Log-mel patches and GDS correlations of every clip (one pass over the audio).

    With a `failures` list, a clip that cannot be used is appended to it and left out
    (the result's ``paths`` are the usable ones); without, its `AudioError` stops the pass.
    """
    from tqdm.auto import tqdm

    from seraudit.preprocessing.pipeline import clip_features

    datas, idx, starts, ends, corr, used = [], [], [], [], [], []
    for path in tqdm(paths, desc="log-mel patches + GDS", unit="clip", disable=not progress):
        try:
            clip = clip_features(str(path))
        except AudioError as error:
            if failures is None:
                raise
            failures.append({"clip": str(path), "error": str(error), "stage": "train"})
            continue
        i = len(used)
        used.append(str(path))
        n = len(clip.patches.data)
        datas.append(np.asarray(clip.patches.data, np.float32))
        idx.append(np.full(n, i))
        starts.append(np.asarray(clip.patches.start_s, float))
        ends.append(np.asarray(clip.patches.end_s, float))
        corr.append(np.asarray(clip.selection.correlation, float))
    if not used:
        raise UnusableClips(failures or [{"clip": "", "error": "no clips", "stage": "train"}])
    return CorpusPatches(
        paths=used,
        clip_index=np.concatenate(idx).astype(np.int64),
        start_s=np.concatenate(starts),
        end_s=np.concatenate(ends),
        correlation=np.concatenate(corr),
        data=np.concatenate(datas, axis=0),
    )


def weights_fingerprint(source, seed: int) -> str:
    """What identifies a backbone's weights: their SHA-256, or the seed of untrained weights."""
    if source is None or not getattr(source, "pretrained", False):
        return f"untrained-seed-{seed}"
    return str(source.sha256)


def build_embedder(backbone: str, source, seed: int):
    """A Keras model ``log_mel [B, 96, 64] -> embedding`` with the backbone's weights loaded (or seeded random)."""
    import keras

    inputs = keras.Input((constants.PATCH_FRAMES, constants.PATCH_BANDS), name=INPUT_NAME)
    tower = BACKBONES[backbone].add_tower(inputs)
    model = keras.Model(inputs, tower.embedding, name=f"{backbone}_embedder")
    BACKBONES[backbone].load_weights(model, source, seed)
    return model


def build_tap_model(backbone: str, source, seed: int):
    """A Keras model ``log_mel [B, 96, 64] -> {tap: [B, D_tap]}``: every readable layer, pooled over time and frequency.

    One pass gives every layer a head's layer search may choose; the last tap is the
    published embedding (YAMNet's layer14 average pool, VGGish's fc2).
    """
    import keras

    inputs = keras.Input((constants.PATCH_FRAMES, constants.PATCH_BANDS), name=INPUT_NAME)
    tower = BACKBONES[backbone].add_tower(inputs)
    outputs = {
        tap: keras.layers.GlobalAveragePooling2D(name=f"{backbone}_{tap}_pool")(out) if len(out.shape) == 4 else out
        for tap, out in tower.tap_outputs.items()
    }
    model = keras.Model(inputs, outputs, name=f"{backbone}_taps")
    BACKBONES[backbone].load_weights(model, source, seed)
    return model


def embed_patches(model, data: np.ndarray, batch_size: int = EMBED_BATCH, progress: bool = True, desc: str = "embeddings"):
    """Run `model` over patches ``[P, 96, 64]`` in batches (one compiled function): ``[P, D]`` float32, or
    ``{name: [P, D]}`` for a model with named outputs (`build_tap_model`)."""
    import tensorflow as tf
    from tqdm.auto import tqdm

    fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    out: dict = {}
    for i in tqdm(range(0, len(data), batch_size), desc=desc, unit="batch", disable=not progress):
        batch = fn(tf.constant(data[i : i + batch_size]))
        for name, value in (batch.items() if isinstance(batch, dict) else [(None, batch)]):
            out.setdefault(name, []).append(np.asarray(value))
    joined = {name: np.concatenate(parts, axis=0).astype(np.float32) for name, parts in out.items()}
    return joined[None] if list(joined) == [None] else joined


def _consistent_patches(arrays: dict[str, np.ndarray], n_clips: int) -> bool:
    """A patch table whose arrays agree in length and give every clip at least one patch."""
    index = arrays["clip_index"]
    lengths = {len(v) for v in arrays.values()}
    return (len(lengths) == 1 and index.ndim == 1 and len(index) > 0
            and np.array_equal(np.unique(index), np.arange(n_clips)))


class EmbeddingCache:
    """Loads corpus patches and embeddings from the cache, computing (and storing) what is missing."""

    def __init__(self, cache_dir: str | Path | None = None, progress: bool = True):
        self.dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.progress = progress
        self._patches: CorpusPatches | None = None
        self.hits: list[str] = []
        self.misses: list[str] = []

    def patches_file(self, paths: list[str]) -> Path:
        key = cache_key("patches", _files_fingerprint(paths), _frontend_fingerprint())
        return self.dir / f"patches-{key}.npz"

    def taps_file(self, paths: list[str], backbone: str, source, seed: int) -> Path:
        key = cache_key("taps", _files_fingerprint(paths), _frontend_fingerprint(), backbone, weights_fingerprint(source, seed))
        return self.dir / f"{backbone}-taps-{key}.npz"

    def _write(self, path: Path, **arrays) -> None:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)

    @staticmethod
    def _read(path: Path, names: tuple[str, ...]) -> dict[str, np.ndarray] | None:
        """The arrays `names` of a cache entry, every member read in full (the zip's CRC-32 checks each);
        None, with a warning, when the entry is damaged or lacks one."""
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                return {name: z[name] for name in names}
        except _BROKEN as error:
            warnings.warn(f"embedding cache entry {path} is damaged ({type(error).__name__}: {error}); "
                          "it is recomputed", stacklevel=3)
            return None

    def _lock(self, file: Path):
        return file_lock(file.with_name(f".{file.name}.lock"))

    def failures_file(self, paths: list[str]) -> Path:
        return self.patches_file(paths).with_suffix(".failures.json")

    def known_failures(self, paths: list[str]) -> list[dict[str, str]]:
        """Clips of `paths` a previous pass found unusable (the files are unchanged: the key holds their size and time)."""
        from seraudit.core.io import read_json

        file = self.failures_file(paths)
        if not file.is_file():
            return []
        try:
            data = read_json(file)
        except SerauditError:
            return []
        return data if isinstance(data, list) and all(isinstance(f, dict) and "clip" in f for f in data) else []

    def patches(self, paths: list[str], need_data: bool = False) -> CorpusPatches:
        """The patch table of `paths` (log-mel patch data included only when `need_data`).

        Raises `UnusableClips` when some clips cannot be used; the table of the others is
        then cached, so ``patches(usable paths)`` follows without reading the audio again.
        """
        paths = [str(p) for p in paths]
        if self._patches is not None and self._patches.paths == paths:
            if self._patches.data is not None or not need_data:
                return self._patches
        known = self.known_failures(paths)
        if known:
            raise UnusableClips(known)
        file = self.patches_file(paths)
        with self._lock(file):
            if not need_data:
                cached = self._read(file, ("clip_index", "start_s", "end_s", "correlation"))
                if cached is not None and _consistent_patches(cached, len(paths)):
                    self._patches = CorpusPatches(paths, cached["clip_index"], cached["start_s"], cached["end_s"],
                                                  cached["correlation"])
                    self.hits.append(file.name)
                    return self._patches
            failures: list[dict[str, str]] = []
            computed = compute_patches(paths, progress=self.progress, failures=failures)
            target = self.patches_file(computed.paths) if failures else file
            self._write(target, clip_index=computed.clip_index, start_s=computed.start_s, end_s=computed.end_s,
                        correlation=computed.correlation)
            self.misses.append(target.name)
            self._patches = computed
            if failures:
                write_json(self.failures_file(paths), failures)
                raise UnusableClips(failures)
        return computed

    def taps(self, paths: list[str], backbone: str, source, seed: int) -> dict[str, np.ndarray]:
        """Every readable layer's pooled output ``{tap: [P, D]}`` for every patch of `paths` (one pass, cached)."""
        paths = [str(p) for p in paths]
        file = self.taps_file(paths, backbone, source, seed)
        names = tuple(BACKBONES[backbone].tap_names)
        with self._lock(file):
            taps = self._read(file, names)
            if taps is not None:
                n = len(self.patches(paths).clip_index)
                if all(len(v) == n for v in taps.values()):
                    self.hits.append(file.name)
                    return taps
                warnings.warn(f"embedding cache entry {file} does not match the corpus's {n} patches; it is recomputed",
                              stacklevel=2)
            patches = self.patches(paths, need_data=True)
            model = build_tap_model(backbone, source, seed)
            taps = embed_patches(model, patches.data, progress=self.progress, desc=f"{backbone} layers")
            self._write(file, clip_index=patches.clip_index, **taps)
            self.misses.append(file.name)
        return taps

    def embeddings(self, paths: list[str], backbone: str, source, seed: int) -> np.ndarray:
        """The published embedding ``[P, D]`` of every patch of `paths` (the backbone's last tap)."""
        return self.taps(paths, backbone, source, seed)[BACKBONES[backbone].embedding_tap]
