"""One openSMILE worker process: the loop it runs, the handle its parent holds, and the pipe protocol between them.

openSMILE aborts the whole Python process when TensorFlow was imported before it, so
openSMILE runs only in a worker: a fresh interpreter (``python -c``, not a
multiprocessing child, which would re-import the caller's main script and with it
TensorFlow) that imports this module, openSMILE, numpy/pandas, soundfile/soxr and the
project's TensorFlow-free audio loader, nothing else. Keep it that way: this module may
import only the standard library, numpy, pandas and ``seraudit.core`` /
``seraudit.preprocessing`` modules that do the same (tests check it).

Messages are length-prefixed pickles: the parent sends one request (a batch of files or
waveforms), the worker answers ``(index, key, frame, error)`` per item, then ``None``.
"""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
import tempfile
from typing import IO, Any, Iterator

import numpy as np
import pandas as pd

from seraudit.core.constants import SAMPLE_RATE
from seraudit.core.errors import SerauditError
from seraudit.preprocessing.egemaps_names import FEATURE_SET, NAMES

_HEADER = struct.Struct("<Q")
_FORBIDDEN = ("tensorflow", "keras")  # either one in the worker means openSMILE may abort it


class WorkerDied(RuntimeError):
    """The worker process ended while a request was in flight."""


def send(stream: IO[bytes], message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def receive(stream: IO[bytes]) -> Any:
    """The next message, or EOFError when the other side is gone."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError
    (length,) = _HEADER.unpack(header)
    data = stream.read(length)
    if len(data) < length:
        raise EOFError
    return pickle.loads(data)


# --- Parent side ------------------------------------------------------------------------------


class WorkerProcess:
    """One persistent openSMILE process, started now; its feature names are checked against `NAMES`."""

    def __init__(self) -> None:
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [sys.executable, "-c", f"from {__name__} import serve; serve()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
        )
        try:
            hello = receive(self.process.stdout)
        except EOFError:
            reason = self._died()
            self.close()
            raise SerauditError(f"the openSMILE worker process could not start ({reason})") from None
        if hello.get("fatal"):
            self.close()
            raise SerauditError(f"the openSMILE worker process could not start: {hello['fatal']}")
        for level, names in NAMES.items():
            if tuple(hello["names"][level]) != names:
                self.close()
                raise SerauditError(
                    f"openSMILE {hello['version']} names its {FEATURE_SET} {level} differently from the ones "
                    f"this package expects; install the pinned version (pip install opensmile==2.6.0)"
                )

    def alive(self) -> bool:
        return self.process.poll() is None

    def request(self, message: dict) -> Iterator[tuple[int, str | None, pd.DataFrame | None, str | None]]:
        """Send one request; yield (index, key, frame, error) per item, then stop."""
        finished = False
        try:
            send(self.process.stdin, message)
            while True:
                reply = receive(self.process.stdout)
                if reply is None:
                    finished = True
                    return
                yield reply
        except (EOFError, BrokenPipeError, OSError):
            raise WorkerDied(self._died()) from None
        finally:
            if not finished and self.alive():  # abandoned mid-reply: its pipe is out of step
                self.process.kill()

    def kill(self) -> None:
        """Stop at once (its pipes may be mid-reply); `close` still has to follow."""
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


# --- Worker side ------------------------------------------------------------------------------


def serve() -> None:
    """Main loop of a worker process: answer requests from the parent until its pipe closes."""
    channel = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything a library prints goes to the log, not into the message stream
    sys.stdout = sys.stderr
    requests = sys.stdin.buffer
    try:
        smiles, load_audio, to_model_rate, version = _open_smile()
    except Exception as error:
        send(channel, {"fatal": f"{type(error).__name__}: {error}"})
        return
    send(channel, {"version": version, "names": {level: list(smile.feature_names) for level, smile in smiles.items()}})
    while True:
        try:
            request = receive(requests)
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
                send(channel, (index, key, frame, None))
            except Exception as error:
                send(channel, (index, key, None, f"{type(error).__name__}: {error}"))
        send(channel, None)


def _open_smile():
    """Import openSMILE and the audio loader in this (TensorFlow-free) process."""
    import opensmile

    from seraudit.preprocessing.audio import load_audio, to_model_rate

    imported = [name for name in _FORBIDDEN if name in sys.modules]
    if imported:
        raise RuntimeError(
            f"{' and '.join(imported)} got imported into the openSMILE worker (through seraudit.preprocessing.audio "
            "or the packages above it); keep the worker's imports TensorFlow-free"
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
