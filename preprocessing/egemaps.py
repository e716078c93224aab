"""openSMILE eGeMAPS v02 acoustic features, extracted in a worker process that never imports TensorFlow.

openSMILE aborts the whole Python process when TensorFlow was imported before it. So this
module never imports openSMILE itself: a pool of persistent worker processes does, each
started as a fresh interpreter (``python -c``, not a multiprocessing child, which would
re-import the caller's main script and with it TensorFlow) that imports only openSMILE,
numpy, soundfile/soxr and the project's TensorFlow-free audio loader. Callers can therefore
extract features whatever they imported before.

Audio is fed to openSMILE exactly as the models see it: 16 kHz mono float32
(`seraudit.core.constants.SAMPLE_RATE`).

Example
-------
>>> table = extract_egemaps(["clip.wav"], progress=False)  # doctest: +SKIP
>>> table.loc["clip.wav", "loudness_sma3_amean"]  # doctest: +SKIP
"""

from __future__ import annotations

import atexit
import os
import pickle
import queue
import re
import struct
import subprocess
import sys
import tempfile
import threading
import warnings
from pathlib import Path
from typing import IO, Any, Iterable, Iterator, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from seraudit.core.constants import SAMPLE_RATE
from seraudit.core.errors import AudioError, SerauditError
from seraudit.core.io import atomic_path

FEATURE_SET = "eGeMAPSv02"
LEVELS = ("functionals", "lld")
ERROR_COLUMN = "error"

# The 88 eGeMAPSv02 functionals and 25 low-level descriptors, in openSMILE's order. Every
# worker checks them against its openSMILE at start-up, so a different version fails loudly.
FUNCTIONAL_NAMES: tuple[str, ...] = (
    "F0semitoneFrom27.5Hz_sma3nz_amean", "F0semitoneFrom27.5Hz_sma3nz_stddevNorm",
    "F0semitoneFrom27.5Hz_sma3nz_percentile20.0", "F0semitoneFrom27.5Hz_sma3nz_percentile50.0",
    "F0semitoneFrom27.5Hz_sma3nz_percentile80.0", "F0semitoneFrom27.5Hz_sma3nz_pctlrange0-2",
    "F0semitoneFrom27.5Hz_sma3nz_meanRisingSlope", "F0semitoneFrom27.5Hz_sma3nz_stddevRisingSlope",
    "F0semitoneFrom27.5Hz_sma3nz_meanFallingSlope", "F0semitoneFrom27.5Hz_sma3nz_stddevFallingSlope",
    "loudness_sma3_amean", "loudness_sma3_stddevNorm", "loudness_sma3_percentile20.0",
    "loudness_sma3_percentile50.0", "loudness_sma3_percentile80.0", "loudness_sma3_pctlrange0-2",
    "loudness_sma3_meanRisingSlope", "loudness_sma3_stddevRisingSlope", "loudness_sma3_meanFallingSlope",
    "loudness_sma3_stddevFallingSlope", "spectralFlux_sma3_amean", "spectralFlux_sma3_stddevNorm",
    "mfcc1_sma3_amean", "mfcc1_sma3_stddevNorm", "mfcc2_sma3_amean", "mfcc2_sma3_stddevNorm",
    "mfcc3_sma3_amean", "mfcc3_sma3_stddevNorm", "mfcc4_sma3_amean", "mfcc4_sma3_stddevNorm",
    "jitterLocal_sma3nz_amean", "jitterLocal_sma3nz_stddevNorm", "shimmerLocaldB_sma3nz_amean",
    "shimmerLocaldB_sma3nz_stddevNorm", "HNRdBACF_sma3nz_amean", "HNRdBACF_sma3nz_stddevNorm",
    "logRelF0-H1-H2_sma3nz_amean", "logRelF0-H1-H2_sma3nz_stddevNorm", "logRelF0-H1-A3_sma3nz_amean",
    "logRelF0-H1-A3_sma3nz_stddevNorm", "F1frequency_sma3nz_amean", "F1frequency_sma3nz_stddevNorm",
    "F1bandwidth_sma3nz_amean", "F1bandwidth_sma3nz_stddevNorm", "F1amplitudeLogRelF0_sma3nz_amean",
    "F1amplitudeLogRelF0_sma3nz_stddevNorm", "F2frequency_sma3nz_amean", "F2frequency_sma3nz_stddevNorm",
    "F2bandwidth_sma3nz_amean", "F2bandwidth_sma3nz_stddevNorm", "F2amplitudeLogRelF0_sma3nz_amean",
    "F2amplitudeLogRelF0_sma3nz_stddevNorm", "F3frequency_sma3nz_amean", "F3frequency_sma3nz_stddevNorm",
    "F3bandwidth_sma3nz_amean", "F3bandwidth_sma3nz_stddevNorm", "F3amplitudeLogRelF0_sma3nz_amean",
    "F3amplitudeLogRelF0_sma3nz_stddevNorm", "alphaRatioV_sma3nz_amean", "alphaRatioV_sma3nz_stddevNorm",
    "hammarbergIndexV_sma3nz_amean", "hammarbergIndexV_sma3nz_stddevNorm", "slopeV0-500_sma3nz_amean",
    "slopeV0-500_sma3nz_stddevNorm", "slopeV500-1500_sma3nz_amean", "slopeV500-1500_sma3nz_stddevNorm",
    "spectralFluxV_sma3nz_amean", "spectralFluxV_sma3nz_stddevNorm", "mfcc1V_sma3nz_amean",
    "mfcc1V_sma3nz_stddevNorm", "mfcc2V_sma3nz_amean", "mfcc2V_sma3nz_stddevNorm", "mfcc3V_sma3nz_amean",
    "mfcc3V_sma3nz_stddevNorm", "mfcc4V_sma3nz_amean", "mfcc4V_sma3nz_stddevNorm",
    "alphaRatioUV_sma3nz_amean", "hammarbergIndexUV_sma3nz_amean", "slopeUV0-500_sma3nz_amean",
    "slopeUV500-1500_sma3nz_amean", "spectralFluxUV_sma3nz_amean", "loudnessPeaksPerSec",
    "VoicedSegmentsPerSec", "MeanVoicedSegmentLengthSec", "StddevVoicedSegmentLengthSec",
    "MeanUnvoicedSegmentLength", "StddevUnvoicedSegmentLength", "equivalentSoundLevel_dBp",
)
LLD_NAMES: tuple[str, ...] = (
    "Loudness_sma3", "alphaRatio_sma3", "hammarbergIndex_sma3", "slope0-500_sma3", "slope500-1500_sma3",
    "spectralFlux_sma3", "mfcc1_sma3", "mfcc2_sma3", "mfcc3_sma3", "mfcc4_sma3",
    "F0semitoneFrom27.5Hz_sma3nz", "jitterLocal_sma3nz", "shimmerLocaldB_sma3nz", "HNRdBACF_sma3nz",
    "logRelF0-H1-H2_sma3nz", "logRelF0-H1-A3_sma3nz", "F1frequency_sma3nz", "F1bandwidth_sma3nz",
    "F1amplitudeLogRelF0_sma3nz", "F2frequency_sma3nz", "F2bandwidth_sma3nz", "F2amplitudeLogRelF0_sma3nz",
    "F3frequency_sma3nz", "F3bandwidth_sma3nz", "F3amplitudeLogRelF0_sma3nz",
)
_NAMES = {"functionals": FUNCTIONAL_NAMES, "lld": LLD_NAMES}

# --- Feature categories for the probing report ------------------------------------------------
# The parameter groups of the eGeMAPS paper (Eyben et al., 2016, IEEE Trans. Affective
# Computing 7(2), section 3), decided by the descriptor name in front of "_sma…" (or the
# whole name for the summary features), first matching rule wins:
#   temporal                 – rates and lengths of loudness peaks and (un)voiced segments
#   frequency/pitch-formant  – F0 (semitones), jitter, formant 1–3 frequencies and bandwidths
#   energy/loudness          – loudness, shimmer, harmonics-to-noise ratio, equivalent sound level
#   spectral/balance         – everything else: alpha ratio, Hammarberg index, spectral slopes,
#                              H1–H2, H1–A3, formant relative energies, MFCC 1–4, spectral flux
CATEGORIES = ("energy/loudness", "frequency/pitch-formant", "spectral/balance", "temporal")
_CATEGORY_RULES: tuple[tuple[str, re.Pattern], ...] = (
    ("temporal", re.compile(r"PerSec$|SegmentLength")),
    ("frequency/pitch-formant", re.compile(r"^(F0semitone|jitter|F\dfrequency|F\dbandwidth)")),
    ("energy/loudness", re.compile(r"^(loudness|Loudness|shimmer|HNR|equivalentSoundLevel)")),
    ("spectral/balance", re.compile(r"^(alphaRatio|hammarbergIndex|slope|logRelF0|F\damplitude|mfcc|spectralFlux)")),
)


def egemaps_category(name: str) -> str:
    """The eGeMAPS parameter group of a functional or LLD name (see the rules above)."""
    for category, rule in _CATEGORY_RULES:
        if rule.search(name):
            return category
    raise KeyError(f"{name!r} is not an eGeMAPS feature name")


EGEMAPS_CATEGORIES: dict[str, str] = {name: egemaps_category(name) for name in FUNCTIONAL_NAMES}


# --- Public API -------------------------------------------------------------------------------


def extract_egemaps(
    paths: Iterable[str | os.PathLike],
    *,
    workers: int = 1,
    level: str = "functionals",
    progress: bool = True,
    cache: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """eGeMAPS v02 features of audio files, one failure never stopping the batch.

    Parameters
    ----------
    paths : audio files, read with `preprocessing.audio.load_audio` (its rules and padding apply).
    workers : number of openSMILE worker processes run in parallel.
    level : ``"functionals"`` (88 per file) or ``"lld"`` (25 per 10 ms frame).
    progress : show a progress bar.
    cache : optional cache file for functionals: CSV when its name ends in ``.csv``, else
        Parquet. Files whose absolute path, modification time and size match a cached row
        are not extracted again; failures are not cached. Written atomically.

    Returns
    -------
    DataFrame indexed by ``path`` (the strings given; for ``"lld"`` a (path, start, end)
    index with times in seconds), with the feature columns in openSMILE's order
    (`FUNCTIONAL_NAMES` / `LLD_NAMES`) and a final ``error`` column: None where extraction
    worked, else why it failed (that row's features are NaN).
    """
    level = _check_level(level)
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    keys = [os.fspath(p) for p in paths]
    if cache is not None and level != "functionals":
        raise ValueError("the eGeMAPS cache stores functionals only; pass cache=None for level='lld'")
    results: dict[str, pd.DataFrame] = {}
    cache_table = _FeatureCache(Path(cache)) if cache is not None else None
    if cache_table is not None:
        results.update(cache_table.lookup(keys))
    todo = list(dict.fromkeys(k for k in keys if k not in results))
    if todo:
        with _POOL_LOCK:
            results.update(_run_files(todo, level, workers, progress))
    if cache_table is not None:
        cache_table.store({k: results[k] for k in dict.fromkeys(keys)})
    frames = [results[k] for k in keys]
    if not frames:
        return _empty_table(level)
    return pd.concat(frames)


def extract_egemaps_signal(
    waveform: np.ndarray, sample_rate: int, *, level: str = "functionals"
) -> pd.Series | pd.DataFrame:
    """eGeMAPS v02 features of one mono waveform (e.g. an excerpt an explainer kept or removed).

    Returns the 88 functionals as a Series named by feature, or for ``level="lld"`` a DataFrame
    of 25 descriptors per 10 ms frame indexed by (start, end) seconds. The waveform is
    conformed like the models' input first (`preprocessing.audio.to_model_rate`: mono, 16 kHz).
    Silence is allowed here: openSMILE returns its own values for it.
    """
    table = extract_egemaps_signals([waveform], sample_rate, level=level)
    if _check_level(level) == "functionals":
        return table.iloc[0]
    return table.xs(0, level="excerpt")


def extract_egemaps_signals(
    waveforms: Sequence[np.ndarray], sample_rate: int, *, level: str = "functionals"
) -> pd.DataFrame:
    """eGeMAPS v02 features of several mono waveforms in one round trip to the worker.

    Rows are indexed by the waveform's position (``excerpt``; for ``"lld"`` also start, end).
    Raises `AudioError` naming the first waveform openSMILE cannot use.
    """
    level = _check_level(level)
    signals = []
    for i, waveform in enumerate(waveforms):
        signal = np.asarray(waveform, dtype=np.float32)
        if signal.ndim not in (1, 2) or signal.size == 0:
            raise AudioError(f"excerpt {i}: expected a non-empty [n] or [n, channels] waveform, got shape {signal.shape}")
        if not np.all(np.isfinite(signal)):
            raise AudioError(f"excerpt {i}: the waveform contains NaN or infinite samples")
        signals.append(signal)
    if not signals:
        return _empty_table(level, index_name="excerpt").drop(columns=ERROR_COLUMN)
    with _POOL_LOCK:
        worker = _pool(1)[0]
        replies = list(worker.request({"kind": "signals", "level": level, "signals": signals, "sample_rate": int(sample_rate)}))
    frames = []
    for i, (_, _, frame, error) in enumerate(replies):
        if error is not None:
            raise AudioError(f"excerpt {i}: openSMILE could not extract eGeMAPS features ({error})")
        frames.append(_label(frame, i, level, index_name="excerpt"))
    return pd.concat(frames).drop(columns=ERROR_COLUMN)


def shutdown_workers() -> None:
    """Stop the openSMILE worker processes (they are restarted on the next extraction)."""
    with _POOL_LOCK:
        while _POOL:
            _POOL.pop().close()


# --- Results as tables ------------------------------------------------------------------------


def _check_level(level: str) -> str:
    if level not in LEVELS:
        raise ValueError(f"unknown eGeMAPS level {level!r}: choose one of {', '.join(LEVELS)}")
    return level


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
    row = pd.DataFrame(np.nan, index=[0], columns=list(_NAMES[level]))
    row[ERROR_COLUMN] = error
    if level == "functionals":
        row.index = pd.Index([key], name="path")
    else:
        row.index = pd.MultiIndex.from_arrays([[key], [np.nan], [np.nan]], names=["path", "start", "end"])
    return row


def _empty_table(level: str, index_name: str = "path") -> pd.DataFrame:
    frame = pd.DataFrame(columns=[*_NAMES[level], ERROR_COLUMN], dtype=float)
    frame[ERROR_COLUMN] = frame[ERROR_COLUMN].astype(object)
    if level == "functionals":
        frame.index = pd.Index([], name=index_name)
    else:
        frame.index = pd.MultiIndex.from_arrays([[], [], []], names=[index_name, "start", "end"])
    return frame


# --- Running file batches on the pool ---------------------------------------------------------

_CHUNK = 16  # files per request: small enough to balance workers, large enough to amortise


def _run_files(paths: list[str], level: str, workers: int, progress: bool) -> dict[str, pd.DataFrame]:
    """Extract every path on `workers` workers; a worker that dies costs only the file it was on."""
    chunks: queue.SimpleQueue[list[str]] = queue.SimpleQueue()
    for start in range(0, len(paths), _CHUNK):
        chunks.put(paths[start : start + _CHUNK])
    results: dict[str, pd.DataFrame] = {}
    errors: list[BaseException] = []
    bar = tqdm(total=len(paths), desc="eGeMAPS", unit="file", disable=not progress)
    pool = _pool(min(workers, -(-len(paths) // _CHUNK)))

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
                except _WorkerDied as died:
                    if done < len(chunk):
                        key = chunk[done]
                        results[key] = _failure(key, level, f"the openSMILE worker process died on this file ({died})")
                        bar.update(1)
                    if chunk[done + 1 :]:
                        chunks.put(chunk[done + 1 :])
                    pool[slot].close()
                    pool[slot] = _Worker()
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
            worker.process.kill()
        raise
    finally:
        bar.close()
        _POOL[: len(pool)] = pool
    if errors:
        raise errors[0]
    return results


# --- Cache ------------------------------------------------------------------------------------


class _FeatureCache:
    """Functionals already extracted, keyed by absolute path + modification time (ns) + size."""

    KEY = ("path", "mtime_ns", "size")

    def __init__(self, path: Path):
        self.path = path
        self.csv = path.suffix.lower() == ".csv"  # any other name is a Parquet file
        self.table = self._load()

    def _load(self) -> pd.DataFrame:
        columns = [*self.KEY, *FUNCTIONAL_NAMES]
        if not self.path.is_file():
            return pd.DataFrame(columns=columns)
        try:
            table = pd.read_csv(self.path) if self.csv else pd.read_parquet(self.path)
        except Exception as error:  # a cache is disposable: rebuild it rather than stop
            warnings.warn(f"eGeMAPS cache {self.path} is unreadable ({error}); it will be rebuilt", stacklevel=3)
            return pd.DataFrame(columns=columns)
        if list(table.columns) != columns:
            warnings.warn(f"eGeMAPS cache {self.path} has other columns than this version writes; it will be rebuilt", stacklevel=3)
            return pd.DataFrame(columns=columns)
        return table.astype({"path": str, "mtime_ns": "int64", "size": "int64"}).set_index("path")

    @staticmethod
    def _stamp(key: str) -> tuple[str, int, int] | None:
        try:
            stat = os.stat(key)
        except OSError:
            return None
        return os.path.abspath(key), stat.st_mtime_ns, stat.st_size

    def lookup(self, keys: list[str]) -> dict[str, pd.DataFrame]:
        stamps = {key: stamp for key in dict.fromkeys(keys) if (stamp := self._stamp(key)) is not None}
        if not stamps or self.table.empty:
            return {}
        wanted = pd.DataFrame.from_dict(stamps, orient="index", columns=["absolute", "mtime_now", "size_now"])
        found = wanted.join(self.table, on="absolute", how="inner")
        found = found[(found["mtime_now"] == found["mtime_ns"]) & (found["size_now"] == found["size"])]
        features = found[list(FUNCTIONAL_NAMES)].astype(float)
        return {key: _label(features.loc[[key]], key, "functionals") for key in features.index}

    def store(self, results: dict[str, pd.DataFrame]) -> None:
        """Add the successful rows of `results` and write the cache atomically."""
        rows = {}
        for key, frame in results.items():
            stamp = self._stamp(key)
            if stamp is None or frame[ERROR_COLUMN].notna().any():
                continue
            rows[stamp[0]] = [stamp[1], stamp[2], *frame.iloc[0][list(FUNCTIONAL_NAMES)].astype(float)]
        if not rows:
            return
        new = pd.DataFrame.from_dict(rows, orient="index", columns=[*self.KEY[1:], *FUNCTIONAL_NAMES])
        new.index.name = "path"
        kept = self.table.drop(index=new.index, errors="ignore")
        self.table = pd.concat([kept, new]) if len(kept) else new
        self.table = self.table.sort_index()
        out = self.table.reset_index()
        with atomic_path(self.path) as tmp:
            if self.csv:
                out.to_csv(tmp, index=False)
            else:
                out.to_parquet(tmp, index=False)


# --- Worker processes (parent side) -----------------------------------------------------------

_POOL: list["_Worker"] = []
_POOL_LOCK = threading.RLock()
_HEADER = struct.Struct("<Q")


class _WorkerDied(RuntimeError):
    """The worker process ended while a request was in flight."""


def _pool(size: int) -> list["_Worker"]:
    """`size` live workers, reusing the running ones (start-up costs about a second each)."""
    alive = [w for w in _POOL if w.alive()]
    for worker in _POOL:
        if worker not in alive:
            worker.close()
    while len(alive) < size:
        alive.append(_Worker())
    _POOL[:] = alive
    return alive[:size]


def _send(stream: IO[bytes], message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def _receive(stream: IO[bytes]) -> Any:
    """The next message, or EOFError when the other side is gone."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError
    (length,) = _HEADER.unpack(header)
    data = stream.read(length)
    if len(data) < length:
        raise EOFError
    return pickle.loads(data)


class _Worker:
    """One persistent openSMILE process, spoken to through length-prefixed pickles on its pipes."""

    def __init__(self) -> None:
        self.log = tempfile.TemporaryFile()
        package_root = str(Path(__file__).resolve().parents[1])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from preprocessing.egemaps import _serve; _serve()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            env=env,
        )
        try:
            hello = _receive(self.process.stdout)
        except EOFError:
            reason = self._died()
            self.close()
            raise SerauditError(f"the openSMILE worker process could not start ({reason})") from None
        if hello.get("fatal"):
            self.close()
            raise SerauditError(f"the openSMILE worker process could not start: {hello['fatal']}")
        for level, names in _NAMES.items():
            if tuple(hello["names"][level]) != names:
                self.close()
                raise SerauditError(
                    f"openSMILE {hello['version']} names its {FEATURE_SET} {level} differently from the ones "
                    f"this module expects; install the pinned version (pip install opensmile==2.6.0)"
                )

    def alive(self) -> bool:
        return self.process.poll() is None

    def request(self, message: dict) -> Iterator[tuple[int, str, pd.DataFrame | None, str | None]]:
        """Send one request; yield (index, key, frame, error) per item, then stop."""
        finished = False
        try:
            _send(self.process.stdin, message)
            while True:
                reply = _receive(self.process.stdout)
                if reply is None:
                    finished = True
                    return
                yield reply
        except (EOFError, BrokenPipeError, OSError):
            raise _WorkerDied(self._died()) from None
        finally:
            if not finished and self.alive():  # abandoned mid-reply: its pipe is out of step
                self.process.kill()

    def _died(self) -> str:
        try:
            code = self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self.log.seek(0)
        tail = self.log.read().decode("utf-8", "replace").strip().splitlines()[-5:]
        return f"exit code {code}" + (": " + " | ".join(tail) if tail else "")

    def close(self) -> None:
        try:
            self.process.stdin.close()  # the worker's loop ends at end of input
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()
        self.log.close()


atexit.register(shutdown_workers)


# --- Worker process (child side) --------------------------------------------------------------


def _serve() -> None:
    """Main loop of a worker process: answer requests from the parent until its pipe closes."""
    channel = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything a library prints goes to the log, not into the message stream
    sys.stdout = sys.stderr
    requests = sys.stdin.buffer
    try:
        smiles, load_audio, to_model_rate, version = _open_smile()
    except Exception as error:
        _send(channel, {"fatal": f"{type(error).__name__}: {error}"})
        return
    _send(channel, {"version": version, "names": {level: list(smile.feature_names) for level, smile in smiles.items()}})
    while True:
        try:
            request = _receive(requests)
        except EOFError:
            return
        smile = smiles[request["level"]]
        if request["kind"] == "files":
            items = [(path, lambda path=path: load_audio(path)) for path in request["paths"]]
        else:
            rate = request["sample_rate"]
            items = [(None, lambda s=s: to_model_rate(s, rate)) for s in request["signals"]]
        for index, (key, load) in enumerate(items):
            try:
                frame = _features(smile, load())
                _send(channel, (index, key, frame, None))
            except Exception as error:
                _send(channel, (index, key, None, f"{type(error).__name__}: {error}"))
        _send(channel, None)


def _open_smile():
    """Import openSMILE and the audio loader in this (TensorFlow-free) process."""
    import opensmile

    from seraudit.preprocessing.audio import load_audio, to_model_rate

    if "tensorflow" in sys.modules:
        raise RuntimeError(
            "TensorFlow was imported into the openSMILE worker (through preprocessing.audio or the "
            "preprocessing package); keep those imports TensorFlow-free"
        )
    smiles = {
        "functionals": opensmile.Smile(opensmile.FeatureSet.eGeMAPSv02, opensmile.FeatureLevel.Functionals),
        "lld": opensmile.Smile(opensmile.FeatureSet.eGeMAPSv02, opensmile.FeatureLevel.LowLevelDescriptors),
    }
    return smiles, (lambda path: load_audio(path).waveform), to_model_rate, opensmile.__version__


def _features(smile, signal: np.ndarray) -> pd.DataFrame:
    """openSMILE on 16 kHz mono float32; index (start, end) in seconds, float64 features."""
    frame = smile.process_signal(np.ascontiguousarray(signal, dtype=np.float32), SAMPLE_RATE)
    start = frame.index.get_level_values("start").total_seconds()
    end = frame.index.get_level_values("end").total_seconds()
    frame = frame.astype(np.float64)
    frame.index = pd.MultiIndex.from_arrays([start, end], names=["start", "end"])
    return frame
