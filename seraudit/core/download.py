"""Stream one file from a URL to disk: progress bar, resume with HTTP Range, checksum before the file appears.

One downloader serves the weights (`seraudit.ensemble.weights.official`) and the corpora
(`seraudit.preprocessing.corpus_download`). The bytes go to ``<target>.part``
first; only a complete transfer whose checksums match is renamed to `target`.
With ``keep_partial=True`` an interrupted transfer keeps its ``.part`` file and
the next call asks the server for the rest (``Range: bytes=N-``); a server that
ignores the range sends the whole file again and the download restarts cleanly.
A checksum mismatch always deletes the partial file: those bytes are not wanted.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import os
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from seraudit.core.errors import DownloadError

TIMEOUT_SECONDS = 60
CHUNK_BYTES = 1 << 20
USER_AGENT = "seraudit (speech-emotion audit tool)"
PARTIAL_SUFFIX = ".part"


class ChecksumError(DownloadError):
    """The downloaded bytes are not the published ones (wrong file, tampering, corruption)."""


class IncompleteDownloadError(DownloadError):
    """The transfer stopped before the announced size; a resumable download keeps its partial file."""


class DiskFullError(DownloadError):
    """No space left while writing the download."""


@dataclass(frozen=True)
class Downloaded:
    """A completed, verified download."""

    path: Path
    url: str
    size: int
    sha256: str
    md5: str
    resumed_from: int = 0


def partial_path(target: str | os.PathLike) -> Path:
    target = Path(target)
    return target.with_name(target.name + PARTIAL_SUFFIX)


def file_digests(path: str | os.PathLike) -> tuple[str, str]:
    """(sha256, md5) of one file, read once."""
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            sha.update(chunk)
            md5.update(chunk)
    return sha.hexdigest(), md5.hexdigest()


def _open(url: str, start: int, timeout: float):
    headers = {"User-Agent": USER_AGENT}
    if start:
        headers["Range"] = f"bytes={start}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)


def _resume_offset(response, start: int) -> int:
    """Where the body of `response` starts in the file: `start` for a matching 206, else 0 (whole file)."""
    if start and response.status == 206:
        content_range = response.headers.get("Content-Range", "")
        if content_range.startswith(f"bytes {start}-"):
            return start
    return 0


def _total_size(response, offset: int) -> int | None:
    length = response.headers.get("Content-Length")
    return offset + int(length) if length and length.isdigit() else None


def _disk_full(target: Path, total: int | None, received: int) -> DiskFullError:
    free = shutil.disk_usage(target.parent).free if target.parent.exists() else 0
    need = f"; the file needs {total / 1e6:.0f} MB" if total else ""
    return DiskFullError(
        f"disk full while writing {partial_path(target)} after {received / 1e6:.1f} MB{need}, "
        f"{free / 1e6:.0f} MB free in {target.parent}; free some space (or choose a folder on another disk) "
        "and run the same command again"
    )


def download_file(
    url: str,
    target: str | os.PathLike,
    *,
    sha256: str | None = None,
    md5: str | None = None,
    desc: str | None = None,
    progress: bool = True,
    keep_partial: bool = True,
    timeout: float = TIMEOUT_SECONDS,
) -> Downloaded:
    """Download `url` to `target`, checking `sha256` and/or `md5` (when given) before `target` appears.

    Raises `DownloadError` (network, HTTP status), `IncompleteDownloadError` (the
    connection closed early; run again to resume), `ChecksumError` (bytes differ
    from the expected hash; the partial file is deleted) or `DiskFullError`.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    part = partial_path(target)
    start = part.stat().st_size if keep_partial and part.exists() else 0
    received, total, offset = 0, None, 0
    try:
        try:
            response = _open(url, start, timeout)
        except urllib.error.HTTPError as error:
            if error.code != 416 or not start:  # 416: the partial file is no prefix the server knows; restart
                raise
            start = 0
            response = _open(url, 0, timeout)
        with response:
            offset = _resume_offset(response, start)
            total = _total_size(response, offset)
            received = offset
            with (
                open(part, "ab" if offset else "wb") as out,
                tqdm(total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
                     desc=desc or f"downloading {target.name}", disable=None if progress else True, leave=False) as bar,
            ):
                while chunk := response.read(CHUNK_BYTES):
                    out.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as error:
        _discard(part, keep_partial)
        raise DownloadError(f"download of {url} failed: HTTP {error.code} {error.reason}") from error
    except OSError as error:
        _discard(part, keep_partial)
        if error.errno == errno.ENOSPC:
            raise _disk_full(target, total, received) from error
        reason = getattr(error, "reason", None) or error
        raise _stopped(url, received, total, keep_partial, f" ({reason})") from error
    except http.client.HTTPException as error:  # IncompleteRead and friends: the server closed early
        _discard(part, keep_partial)
        raise _stopped(url, received, total, keep_partial, f" ({type(error).__name__})") from error
    if total is not None and received != total:
        _discard(part, keep_partial)
        raise _stopped(url, received, total, keep_partial, "")
    actual_sha, actual_md5 = file_digests(part)
    for name, expected, actual in (("sha256", sha256, actual_sha), ("md5", md5, actual_md5)):
        if expected is not None and actual != expected.lower():
            part.unlink(missing_ok=True)
            raise ChecksumError(
                f"download of {url} is corrupt or not the expected file: expected {name} {expected.lower()}, "
                f"got {actual}; the file was discarded (run again, or check the address and the checksum)"
            )
    os.replace(part, target)
    return Downloaded(target, url, received, actual_sha, actual_md5, offset)


def _discard(part: Path, keep_partial: bool) -> None:
    if not keep_partial:
        part.unlink(missing_ok=True)


def _stopped(url: str, received: int, total: int | None, keep_partial: bool, reason: str) -> IncompleteDownloadError:
    of = f" of {total}" if total is not None else ""
    again = "run the same command again to resume" if keep_partial and received else "run again"
    return IncompleteDownloadError(f"download of {url} stopped after {received}{of} bytes{reason}; {again}")
