"""Hide TensorFlow's C++ start-up lines from a command's stderr; everything else passes through.

TensorFlow's native code logs to file descriptor 2 before Python can configure
anything: the absl pre-init notice, oneDNN and CPU-feature notes, "Could not find
cuda drivers", and on a CPU-only machine an ``E0000 ... failed call to cuInit``
that reads like a failure. `TF_CPP_MIN_LOG_LEVEL` does not reach the lines logged
before absl is initialised, so `quiet_native_logs` puts a pipe in front of fd 2
and a thread forwards every line except those. Python warnings, tracebacks,
progress bars and TensorFlow errors from anywhere else pass unchanged.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
from typing import Iterator

# "I0000 00:00:1796181119.446985    7906 port.cc:153] ..." (glog/absl layout)
_NATIVE_LINE = re.compile(rb"^[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ (?P<file>[\w.\-]+):\d+\] ")
# Error-level lines that only report a missing GPU on a CPU machine, or plugins registered twice at import;
# any other error (a cuDNN handle that cannot be made, an op that fails) is kept.
_START_UP_ERRORS = (b"failed call to cuInit", b"Unable to register cuDNN factory", b"Unable to register cuFFT factory",
                    b"Unable to register cuBLAS factory")
_NOISE_PREFIXES = (
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    b"To enable the following instructions:",  # continuation of cpu_feature_guard's note
)
# What the start of an unfinished line may be if it turns out to be noise: held back until its end.
_MAYBE_NOISE = re.compile(rb"^([IWEF]\d{0,4}( |$)|[IWEF]\d{4} [\d:. ]*$|WARNING: A|To enable)")


def is_native_noise(line: bytes) -> bool:
    """True for a TensorFlow C++ start-up line: info/warning logs, the cuInit probe on a CPU machine, the absl notice."""
    stripped = line.rstrip(b"\r\n")
    if stripped.startswith(_NOISE_PREFIXES):
        return True
    match = _NATIVE_LINE.match(stripped)
    if match is None:
        return False
    level = stripped[:1]
    return level in (b"I", b"W") or (level == b"E" and any(text in stripped for text in _START_UP_ERRORS))


class _Filter:
    """Reads the pipe that replaced fd 2 and writes the lines worth seeing to the original stderr."""

    def __init__(self, read_fd: int, out_fd: int):
        self.read_fd, self.out_fd = read_fd, out_fd
        self.pending = b""
        self.thread = threading.Thread(target=self._run, name="native-log-filter", daemon=True)

    def _emit(self, data: bytes) -> None:
        while data:
            written = os.write(self.out_fd, data)
            data = data[written:]

    def feed(self, chunk: bytes) -> None:
        data = self.pending + chunk
        lines = data.split(b"\n")
        self.pending = lines.pop()
        kept = b"".join(line + b"\n" for line in lines if not is_native_noise(line))
        if self.pending and not _MAYBE_NOISE.match(self.pending):  # progress bars end with \r, not \n
            kept += self.pending
            self.pending = b""
        if kept:
            self._emit(kept)

    def flush(self) -> None:
        if self.pending and not is_native_noise(self.pending):
            self._emit(self.pending)
        self.pending = b""

    def _run(self) -> None:
        try:
            while chunk := os.read(self.read_fd, 65536):
                self.feed(chunk)
            self.flush()
        except OSError:
            pass
        finally:
            os.close(self.read_fd)


@contextlib.contextmanager
def quiet_native_logs() -> Iterator[None]:
    """Filter fd 2 for the duration of the block (a no-op where fd 2 cannot be duplicated)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
        read_fd, write_fd = os.pipe()
    except (OSError, ValueError):
        yield
        return
    filt = _Filter(read_fd, saved)
    filt.thread.start()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's last write end held here: the thread sees the end and drains
        filt.thread.join(timeout=2.0)
        if not filt.thread.is_alive():
            os.close(saved)
