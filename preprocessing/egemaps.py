"""openSMILE eGeMAPS v02 features of audio files and waveforms, whatever the caller imported before.

`EgemapsExtractor` is configured once (level, number of workers, cache, progress bar),
like opensmile's ``Smile``, and then extracts from files or from waveforms. openSMILE
itself runs in worker processes the extractor owns (`egemaps_worker`): they start on the
first extraction, are reused by the next ones and stop at `close()`, at the end of a
``with`` block, when the extractor is garbage-collected, or at exit.

Audio is fed to openSMILE exactly as the models see it: 16 kHz mono float32
(`seraudit.core.constants.SAMPLE_RATE`).

Example
-------
>>> with EgemapsExtractor(workers=2, progress=False) as extractor:  # doctest: +SKIP
...     table = extractor.process_files(["clip.wav"])
>>> table.loc["clip.wav", "loudness_sma3_amean"]  # doctest: +SKIP
"""

from __future__ import annotations

import os
import queue
import threading
import weakref
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from seraudit.core.errors import AudioError
from seraudit.preprocessing.egemaps_cache import FeatureCache
from seraudit.preprocessing.egemaps_names import NAMES, check_level
from seraudit.preprocessing.egemaps_worker import WorkerDied, WorkerProcess

ERROR_COLUMN = "error"
_CHUNK = 16  # files per request: small enough to balance workers, large enough to amortise


class EgemapsExtractor:
    """eGeMAPS v02 extraction with its own openSMILE worker processes.

    Parameters
    ----------
    level : ``"functionals"`` (88 per file) or ``"lld"`` (25 per 10 ms frame).
    workers : number of openSMILE worker processes that extract files in parallel.
    cache : optional cache file for functionals (`egemaps_cache.FeatureCache`): files whose
        absolute path, modification time and size match a cached row are not extracted
        again; failures are not cached.
    progress : show a progress bar while extracting files.
    """

    def __init__(
        self,
        level: str = "functionals",
        *,
        workers: int = 1,
        cache: str | os.PathLike | None = None,
        progress: bool = True,
    ):
        self.level = check_level(level)
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        if cache is not None and level != "functionals":
            raise ValueError("the eGeMAPS cache stores functionals only; pass cache=None for level='lld'")
        self.workers = workers
        self.cache = cache
        self.progress = progress
        self._workers: list[WorkerProcess] = []
        self._lock = threading.RLock()
        # Stops the workers when this extractor is collected or the interpreter exits.
        self._finalizer = weakref.finalize(self, _close_all, self._workers)

    def __enter__(self) -> "EgemapsExtractor":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Stop the worker processes (a later extraction starts new ones)."""
        with self._lock:
            _close_all(self._workers)

    # --- Files --------------------------------------------------------------------------------

    def process_files(self, paths: Iterable[str | os.PathLike]) -> pd.DataFrame:
        """Features of audio files, one failure never stopping the batch.

        Files are read with `preprocessing.audio.load_audio` (its rules and padding apply).
        Returns a DataFrame indexed by ``path`` (the strings given; for ``"lld"`` a (path,
        start, end) index with times in seconds), with the feature columns in openSMILE's
        order (`FUNCTIONAL_NAMES` / `LLD_NAMES`) and a final ``error`` column: None where
        extraction worked, else why it failed (that row's features are NaN).
        """
        keys = [os.fspath(p) for p in paths]
        results: dict[str, pd.DataFrame] = {}
        cache = FeatureCache(self.cache) if self.cache is not None else None
        if cache is not None:
            cached = cache.lookup(keys)
            results.update({key: _label(cached.loc[[key]], key, "functionals") for key in cached.index})
        todo = list(dict.fromkeys(k for k in keys if k not in results))
        if todo:
            with self._lock:
                extracted = self._extract_files(todo)
            results.update(extracted)
            if cache is not None:
                cache.store({k: frame.iloc[0] for k, frame in extracted.items() if frame[ERROR_COLUMN].isna().all()})
        if not keys:
            return _empty_table(self.level)
        return pd.concat([results[k] for k in keys])

    def _extract_files(self, paths: list[str]) -> dict[str, pd.DataFrame]:
        """Extract every path on the workers; a worker that dies costs only the file it was on."""
        level = self.level
        chunks: queue.SimpleQueue[list[str]] = queue.SimpleQueue()
        for start in range(0, len(paths), _CHUNK):
            chunks.put(paths[start : start + _CHUNK])
        results: dict[str, pd.DataFrame] = {}
        errors: list[BaseException] = []
        bar = tqdm(total=len(paths), desc="eGeMAPS", unit="file", disable=not self.progress)
        pool = self._live(min(self.workers, -(-len(paths) // _CHUNK)))

        def drain(slot: int) -> None:
            try:
                while True:
                    try:
                        chunk = chunks.get_nowait()
                    except queue.Empty:
                        return
                    done = 0
                    try:
                        for index, _, frame, error in pool[slot].request({"kind": "files", "level": level, "paths": chunk}):
                            key = chunk[index]
                            results[key] = _failure(key, level, error) if error is not None else _label(frame, key, level)
                            done += 1
                            bar.update(1)
                    except WorkerDied as died:
                        if done < len(chunk):
                            key = chunk[done]
                            results[key] = _failure(key, level, f"the openSMILE worker process died on this file ({died})")
                            bar.update(1)
                        if chunk[done + 1 :]:
                            chunks.put(chunk[done + 1 :])
                        pool[slot].close()
                        pool[slot] = WorkerProcess()
            except BaseException as error:  # surfaced in the calling thread below
                errors.append(error)

        threads = [threading.Thread(target=drain, args=(slot,), daemon=True) for slot in range(len(pool))]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        except BaseException:  # interrupted: the workers' pipes are mid-reply, so they cannot be reused
            for worker in pool:
                worker.kill()
            raise
        finally:
            bar.close()
            self._workers[: len(pool)] = pool
        if errors:
            raise errors[0]
        return results

    # --- Waveforms ----------------------------------------------------------------------------

    def process_signal(self, signal: np.ndarray, sampling_rate: int) -> pd.Series | pd.DataFrame:
        """Features of one waveform (e.g. an excerpt an explainer kept or removed).

        Returns the 88 functionals as a Series named by feature, or for ``"lld"`` a DataFrame
        of 25 descriptors per 10 ms frame indexed by (start, end) seconds.
        """
        table = self.process_signals([signal], sampling_rate)
        if self.level == "functionals":
            return table.iloc[0]
        return table.xs(0, level="excerpt")

    def process_signals(self, signals: Sequence[np.ndarray], sampling_rate: int) -> pd.DataFrame:
        """Features of several waveforms in one round trip to a worker.

        Each waveform (``[n]`` or ``[n, channels]``) is conformed like the models' input
        first (`preprocessing.audio.to_model_rate`: mono, 16 kHz); silence is allowed, and
        openSMILE returns its own values for it. Rows are indexed by the waveform's position
        (``excerpt``; for ``"lld"`` also start, end). Raises `AudioError` naming the first
        waveform openSMILE cannot use.
        """
        checked = []
        for i, waveform in enumerate(signals):
            signal = np.asarray(waveform, dtype=np.float32)
            if signal.ndim not in (1, 2) or signal.size == 0:
                raise AudioError(f"excerpt {i}: expected a non-empty [n] or [n, channels] waveform, got shape {signal.shape}")
            if not np.all(np.isfinite(signal)):
                raise AudioError(f"excerpt {i}: the waveform contains NaN or infinite samples")
            checked.append(signal)
        if not checked:
            return _empty_table(self.level, index_name="excerpt").drop(columns=ERROR_COLUMN)
        request = {"kind": "signals", "level": self.level, "signals": checked, "sample_rate": int(sampling_rate)}
        with self._lock:
            replies = list(self._live(1)[0].request(request))
        frames = []
        for i, (_, _, frame, error) in enumerate(replies):
            if error is not None:
                raise AudioError(f"excerpt {i}: openSMILE could not extract eGeMAPS features ({error})")
            frames.append(_label(frame, i, self.level, index_name="excerpt"))
        return pd.concat(frames).drop(columns=ERROR_COLUMN)

    def _live(self, size: int) -> list[WorkerProcess]:
        """`size` live workers, reusing the running ones (start-up costs about a second each)."""
        alive = [w for w in self._workers if w.alive()]
        for worker in self._workers:
            if worker not in alive:
                worker.close()
        while len(alive) < size:
            alive.append(WorkerProcess())
        self._workers[:] = alive
        return alive[:size]


def extract_egemaps(
    paths: Iterable[str | os.PathLike],
    *,
    workers: int = 1,
    level: str = "functionals",
    progress: bool = True,
    cache: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """`EgemapsExtractor.process_files` with an extractor (and its workers) for this one batch."""
    with EgemapsExtractor(level, workers=workers, cache=cache, progress=progress) as extractor:
        return extractor.process_files(paths)


def functionals_of(egemaps: pd.DataFrame, paths: Sequence[str]) -> pd.DataFrame:
    """The rows of `paths` in a functionals table, in that order (numeric columns only).

    Raises a ValueError naming a path that has no row.
    """
    table = egemaps.copy()
    table.index = table.index.map(str)
    missing = [p for p in paths if p not in table.index]
    if missing:
        raise ValueError(
            f"{len(missing)} clip(s) have no eGeMAPS row, e.g. {missing[0]}; "
            "extract them with seraudit.preprocessing.egemaps.extract_egemaps for the same paths"
        )
    return table.loc[list(paths)].select_dtypes("number")


def _close_all(workers: list[WorkerProcess]) -> None:
    while workers:
        workers.pop().close()


# --- Results as tables ------------------------------------------------------------------------


def _label(frame: pd.DataFrame, key: Any, level: str, index_name: str = "path") -> pd.DataFrame:
    """Index the worker's frame (start/end seconds) by `key`; functionals keep only `key`."""
    frame = frame.copy()
    frame[ERROR_COLUMN] = None
    if level == "functionals":
        frame.index = pd.Index([key] * len(frame), name=index_name)
    else:
        frame.index = pd.MultiIndex.from_arrays(
            [[key] * len(frame), frame.index.get_level_values(0), frame.index.get_level_values(1)],
            names=[index_name, "start", "end"],
        )
    return frame


def _failure(key: str, level: str, error: str) -> pd.DataFrame:
    row = pd.DataFrame(np.nan, index=[0], columns=list(NAMES[level]))
    row[ERROR_COLUMN] = error
    if level == "functionals":
        row.index = pd.Index([key], name="path")
    else:
        row.index = pd.MultiIndex.from_arrays([[key], [np.nan], [np.nan]], names=["path", "start", "end"])
    return row


def _empty_table(level: str, index_name: str = "path") -> pd.DataFrame:
    frame = pd.DataFrame(columns=[*NAMES[level], ERROR_COLUMN], dtype=float)
    frame[ERROR_COLUMN] = frame[ERROR_COLUMN].astype(object)
    if level == "functionals":
        frame.index = pd.Index([], name=index_name)
    else:
        frame.index = pd.MultiIndex.from_arrays([[], [], []], names=[index_name, "start", "end"])
    return frame
