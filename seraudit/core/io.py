"""Atomic writes: an interrupted run never leaves a half-written file or directory."""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from seraudit.core.errors import SerauditError, StorageError

FAILURES_FILE = "failures.csv"  # the files a batch could not use, beside its outputs (columns clip, error)
_REFUSED = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "the disk quota is exhausted",
            errno.EROFS: "the file system is read-only", errno.EACCES: "no permission to write there"}


def _storage_error(target: Path, error: OSError) -> StorageError:
    why = _REFUSED.get(error.errno, error.strerror or str(error))
    return StorageError(f"cannot write {target}: {why} ({error}); nothing was written there (the partial file "
                        "was removed); free some space or choose another output folder and run the command again")


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `target`; move it into place only if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except OSError as error:
        if error.errno in _REFUSED:
            raise _storage_error(target, error) from error
        raise
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_directory(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory; it replaces `target` only when the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent))
    try:
        yield tmp_dir
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(tmp_dir, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp_dir, target)
    except OSError as error:
        if error.errno in _REFUSED:
            raise _storage_error(target, error) from error
        raise
    finally:
        if tmp_dir.exists():
            shutil.rmtree(tmp_dir, ignore_errors=True)


def json_default(obj: Any) -> Any:
    """Let numpy scalars and arrays and paths reach JSON; anything else is a bug and says so."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write JSON atomically (sorted keys, indented, NaN rejected, numpy values converted)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, allow_nan=False, default=json_default) + "\n")


def read_json(
    path: str | os.PathLike,
    what: str = "file",
    fix: str = "",
    error: Callable[[str], SerauditError] = SerauditError,
) -> Any:
    """Parse a JSON file; a missing or unreadable one raises `error` naming the file, `what` it is and the `fix`."""
    path = Path(path)
    tail = f"; {fix}" if fix else ""
    if not path.is_file():
        raise error(f"{what} {path} does not exist{tail}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise error(f"{what} {path} is not readable JSON ({exc}){tail}") from exc


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


@contextlib.contextmanager
def file_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive advisory lock on `path` (created if needed) for the block.

    Two processes filling one cache take it around "is it there? else compute and
    write", so the second waits and then reads what the first wrote instead of
    repeating minutes of work. Writes stay atomic without it; the lock only saves time.
    """
    import fcntl

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def failures_csv(failures: list[dict[str, Any]]) -> str:
    """The failures table as CSV text: columns ``clip,error`` (plus ``stage`` when any failure names one)."""
    columns = ["clip", "error"] + (["stage"] if any("stage" in f for f in failures) else [])
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows({c: f.get(c, "") for c in columns} for f in failures)
    return buffer.getvalue()


def write_failures(folder: str | os.PathLike, failures: list[dict[str, Any]]) -> Path:
    """Write ``failures.csv`` into `folder` atomically (header only when nothing failed); returns its path."""
    out = Path(folder) / FAILURES_FILE
    write_text(out, failures_csv(list(failures)))
    return out


def read_failures(folder: str | os.PathLike) -> list[dict[str, str]]:
    """The rows of `folder`/failures.csv; none when the file is absent."""
    path = Path(folder) / FAILURES_FILE
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return [dict(row) for row in csv.DictReader(handle)]
