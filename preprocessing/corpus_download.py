"""Fetch an openly downloadable corpus from its official address into the cache, verified and safely extracted.

`fetch_corpus("ravdess")` downloads the authors' archive (resuming an interrupted
transfer), checks it against the pinned checksum, refuses archives whose members
would land outside the destination (absolute paths, ``..``, links, devices)
before anything is written, extracts into a temporary folder beside the
destination and renames it into place only after the corpus reader has read it.
Nothing is converted: the readers of `preprocessing.corpora` take the official
layouts. Corpora behind a licence form or a registration are not downloaded;
`ManualCorpusError` says where to get them and how to point ``--data`` at them.

Checksums. Zenodo publishes an MD5 per file, so RAVDESS is pinned by MD5 (and
size). The EmoDB site publishes none: the SHA-256 of the first download is
recorded in ``$SERAUDIT_CACHE_DIR/corpora/checksums.json`` and printed, and
later downloads of the same address are checked against it. ``sha256=`` (the
``--sha256`` flag) replaces the pinned value, e.g. for a mirror's own file.
"""

from __future__ import annotations

import datetime as _dt
import errno
import json
import os
import re
import shutil
import stat
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from seraudit.core.download import ChecksumError, DiskFullError, download_file
from seraudit.core.errors import CorpusError, DownloadError
from seraudit.core.io import atomic_directory, write_json
from seraudit.core.paths import cache_subdir

MARKER_NAME = ".seraudit-fetch.json"  # hidden: the corpus readers skip it
CHECKSUMS_NAME = "checksums.json"

VERIFIED_GIVEN = "verified (sha256 given)"
VERIFIED_PUBLISHED = "verified (published checksum)"
VERIFIED_RECORDED = "verified (sha256 recorded at the first download)"
UNVERIFIED_FIRST = "unverified (first download: sha256 recorded)"


@dataclass(frozen=True)
class CorpusSource:
    """Where a corpus comes from. `url` None: no direct download (licence form or registration), see `manual`."""

    name: str
    display: str
    page: str
    licence: str
    url: str | None = None
    filename: str | None = None
    md5: str | None = None
    sha256: str | None = None
    size: int | None = None
    manual: str = ""
    data_hint: str = ""  # how to pass the fetched or hand-downloaded folder to `train`


SOURCES: dict[str, CorpusSource] = {
    source.name: source
    for source in (
        CorpusSource(
            "ravdess", "RAVDESS speech (24 actors, 1440 clips, 48 kHz wav)",
            "https://zenodo.org/records/1188976 (doi:10.5281/zenodo.1188976)", "CC BY-NC-SA 4.0",
            url="https://zenodo.org/records/1188976/files/Audio_Speech_Actors_01-24.zip?download=1",
            filename="Audio_Speech_Actors_01-24.zip", md5="bc696df654c87fed845eb13823edef8a", size=208_468_073,
            data_hint="--corpus ravdess --data DIR (DIR holds Actor_01 ... Actor_24)",
        ),
        CorpusSource(
            "emodb", "EmoDB, Berlin Database of Emotional Speech (10 speakers, 535 clips, 16 kHz wav)",
            "http://emodb.bilderbar.info/download/", "free for research (see the site)",
            url="http://emodb.bilderbar.info/download/download.zip", filename="emodb-download.zip",
            data_hint="--corpus emodb --data DIR (the wav/ folder inside is found by itself)",
        ),
        CorpusSource(
            "crema-d", "CREMA-D (91 actors, 7442 clips)", "https://github.com/CheyneyComputerScience/CREMA-D",
            "Open Database License (ODbL)",
            manual="the audio is stored with Git LFS: `git lfs install && git clone "
            "https://github.com/CheyneyComputerScience/CREMA-D` (about 7 GB), or download AudioWAV/ from the repository",
            data_hint="--corpus crema-d --data CREMA-D/AudioWAV",
        ),
        CorpusSource(
            "tess", "TESS, Toronto emotional speech set (2 speakers, 2800 clips)",
            "https://borealisdata.ca doi:10.5683/SP2/E8H2MF", "CC BY-NC-ND 4.0",
            manual="download the dataset's files from its Borealis page (University of Toronto Dataverse)",
            data_hint="--corpus tess --data DIR",
        ),
        CorpusSource(
            "savee", "SAVEE (4 male speakers, 480 clips)", "http://kahlan.eps.surrey.ac.uk/savee/",
            "free for research, after registration",
            manual="register on the SAVEE site; the download link comes by e-mail",
            data_hint="--corpus savee --data DIR (the AudioData folder)",
        ),
        CorpusSource(
            "iemocap", "IEMOCAP (10 speakers, about 12 h)", "https://sail.usc.edu/iemocap/",
            "licence agreement with USC SAIL",
            manual="request it with the release form on the IEMOCAP site",
            data_hint="--corpus manifest --data manifest.csv (columns path,label,speaker; SERAudit has no IEMOCAP reader)",
        ),
        CorpusSource(
            "msp-podcast", "MSP-Podcast", "https://ecs.utdallas.edu/research/researchlabs/msp-lab/MSP-Podcast.html",
            "academic licence agreement with UT Dallas",
            manual="request it with the licence agreement on the MSP lab's site",
            data_hint="--corpus manifest --data manifest.csv (columns path,label,speaker)",
        ),
    )
}


class ManualCorpusError(CorpusError):
    """A corpus that cannot be downloaded without a licence form or registration."""


class UnsafeArchiveError(CorpusError):
    """An archive with members that would be written outside the destination (or links, devices)."""


@dataclass(frozen=True)
class FetchedCorpus:
    """The folder a corpus was fetched into, with the checksum of the archive it came from."""

    name: str
    path: Path
    url: str
    sha256: str
    md5: str
    integrity: str
    reused: bool = False


def default_dest(name: str) -> Path:
    """`$SERAUDIT_CACHE_DIR/corpora/NAME`."""
    return cache_subdir("corpora") / name


def manual_instructions(source: CorpusSource) -> str:
    return (
        f"{source.display} is not downloaded by SERAudit ({source.licence}). Get it from {source.page}: "
        f"{source.manual}. Then train with {source.data_hint}."
    )


def fetch_corpus(
    name: str,
    dest: str | os.PathLike | None = None,
    *,
    url: str | None = None,
    sha256: str | None = None,
    progress: bool = True,
    keep_archive: bool = False,
) -> FetchedCorpus:
    """Download, verify and extract corpus `name` into `dest` (default `default_dest(name)`).

    A destination already filled by an earlier fetch is reused as it is. Raises
    `ManualCorpusError` (no direct download), `ChecksumError`, `IncompleteDownloadError`,
    `DiskFullError` (`seraudit.core.download`), `UnsafeArchiveError` or `CorpusError`
    (truncated or corrupt archive, a layout the reader does not take).
    """
    key = name.strip().lower().replace("_", "-")
    if key not in SOURCES:
        raise CorpusError(f"unknown corpus {name!r}: fetch-corpus knows {', '.join(SOURCES)}")
    source = SOURCES[key]
    if sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
        raise CorpusError(f"`sha256` {sha256!r} is not a SHA-256 (64 hexadecimal digits)")
    address = url or source.url
    if address is None:
        raise ManualCorpusError(manual_instructions(source))
    target = Path(dest).expanduser() if dest is not None else default_dest(key)
    reused = _already_fetched(target, key)
    if reused is not None:
        return reused
    work = target.parent / f".{target.name}.download"
    archive = work / (source.filename or PurePosixPath(address.split("?")[0]).name or "archive")
    expected_sha, expected_md5, integrity = _expected(source, address, sha256, url is not None)
    try:
        got = download_file(address, archive, sha256=expected_sha, md5=expected_md5,
                            desc=f"downloading {key}", progress=progress, keep_partial=True)
    except ChecksumError:
        shutil.rmtree(work, ignore_errors=True)
        raise
    try:
        with atomic_directory(target) as tmp:
            extract_safely(archive, tmp)
            _check_readable(key, tmp, archive)
            record = {"corpus": key, "url": address, "sha256": got.sha256, "md5": got.md5, "size": got.size,
                      "integrity": integrity, "fetched": _now()}
            write_json(tmp / MARKER_NAME, record)
    except (CorpusError, DownloadError):
        shutil.rmtree(work, ignore_errors=True)
        raise
    if integrity == UNVERIFIED_FIRST:
        _record_checksum(key, address, got.sha256, got.size)
    if not keep_archive:
        shutil.rmtree(work, ignore_errors=True)
    return FetchedCorpus(key, target, address, got.sha256, got.md5, integrity)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _already_fetched(target: Path, key: str) -> FetchedCorpus | None:
    marker = target / MARKER_NAME
    if marker.is_file():
        try:
            record = json.loads(marker.read_text())
        except (OSError, ValueError) as error:
            raise CorpusError(f"{marker} is unreadable ({error}); delete {target} and fetch again") from error
        return FetchedCorpus(key, target, record["url"], record["sha256"], record["md5"], record["integrity"], True)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise CorpusError(
            f"{target} already exists and was not written by fetch-corpus; choose another --dest or remove it"
        )
    return None


def _checksums_path() -> Path:
    return cache_subdir("corpora") / CHECKSUMS_NAME


def _recorded_sha256(key: str, address: str) -> str | None:
    path = _checksums_path()
    if not path.is_file():
        return None
    try:
        entry = json.loads(path.read_text()).get(key, {}).get(address)
    except (OSError, ValueError) as error:
        raise CorpusError(f"{path} is unreadable ({error}); delete it to record the checksums again") from error
    return entry["sha256"] if entry else None


def _record_checksum(key: str, address: str, sha256: str, size: int) -> None:
    path = _checksums_path()
    table = json.loads(path.read_text()) if path.is_file() else {}
    table.setdefault(key, {})[address] = {"sha256": sha256, "size": size, "recorded": _now()}
    write_json(path, table)


def _expected(source: CorpusSource, address: str, sha256: str | None, mirror: bool) -> tuple[str | None, str | None, str]:
    """(sha256, md5, integrity label) the download is checked against."""
    if sha256 is not None:
        return sha256.lower(), None, VERIFIED_GIVEN
    if source.sha256 or source.md5:  # a mirror serves the same file: the published checksum still applies
        return source.sha256, source.md5, VERIFIED_PUBLISHED
    recorded = _recorded_sha256(source.name, address)
    if recorded is not None:
        return recorded, None, VERIFIED_RECORDED
    return None, None, UNVERIFIED_FIRST


# --------------------------------------------------------------------------- safe extraction


def _member_problem(name: str, root: Path) -> str | None:
    """Why the member path `name` may not be written under `root` (None when it may)."""
    text = name.replace("\\", "/")
    if text.startswith("/") or re.match(r"^[A-Za-z]:", text):
        return "has an absolute path"
    resolved = (root / text).resolve()
    if resolved != root and root not in resolved.parents:
        return "would land outside the destination"
    return None


def _zip_members(archive: zipfile.ZipFile) -> list[tuple[str, str | None]]:
    members = []
    for info in archive.infolist():
        mode = info.external_attr >> 16  # Unix mode when made on Unix; many tools store permissions only
        kind = None
        if stat.S_ISLNK(mode):
            kind = "is a symbolic link"
        elif stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            kind = "is not a regular file or folder"
        members.append((info.filename, kind))
    return members


def _tar_members(archive: tarfile.TarFile) -> list[tuple[str, str | None]]:
    members = []
    for member in archive.getmembers():
        kind = None
        if member.issym() or member.islnk():
            kind = "is a link"
        elif not (member.isfile() or member.isdir()):
            kind = "is not a regular file or folder"
        members.append((member.name, kind))
    return members


def _refuse_unsafe(members: list[tuple[str, str | None]], archive_path: Path, root: Path) -> None:
    bad = []
    for name, kind in members:
        problem = kind or _member_problem(name, root)
        if problem:
            bad.append(f"{name!r} {problem}")
    if bad:
        shown = "; ".join(bad[:5]) + (f"; and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise UnsafeArchiveError(
            f"archive {archive_path.name} was refused and nothing was extracted: {shown}. "
            "Check where the archive came from (--url) and download it from the corpus's official page"
        )


def extract_safely(archive_path: str | os.PathLike, dest: str | os.PathLike) -> None:
    """Extract a .zip or .tar(.gz) into the existing folder `dest`, after checking every member.

    Every member is checked before the first byte is written: an absolute path, a
    ``..`` that climbs out of `dest`, a symbolic or hard link, or a device refuses
    the whole archive (`UnsafeArchiveError`). A truncated or corrupt archive raises
    `CorpusError`; a full disk raises `seraudit.core.download.DiskFullError`.
    """
    archive_path, root = Path(archive_path), Path(dest).resolve()
    corrupt = (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error)
    try:
        if zipfile.is_zipfile(archive_path):
            with zipfile.ZipFile(archive_path) as archive:
                _refuse_unsafe(_zip_members(archive), archive_path, root)
                archive.extractall(root)
        elif tarfile.is_tarfile(archive_path):
            with tarfile.open(archive_path) as archive:
                _refuse_unsafe(_tar_members(archive), archive_path, root)
                archive.extractall(root, filter="data")
        else:
            raise zipfile.BadZipFile("neither a zip nor a tar archive (no central directory or header found)")
    except corrupt as error:
        raise CorpusError(
            f"archive {archive_path.name} is truncated or corrupt ({error}); it was deleted: fetch it again"
        ) from error
    except OSError as error:
        if error.errno == errno.ENOSPC:
            raise DiskFullError(
                f"disk full while extracting {archive_path.name} into {root.parent}; free some space "
                "(or choose --dest on another disk) and run again"
            ) from error
        raise


def _check_readable(key: str, folder: Path, archive: Path) -> None:
    """The extracted folder must be what the corpus's reader takes (nothing is converted)."""
    from seraudit.preprocessing.corpora import CORPORA, read_corpus

    if key not in CORPORA:
        return
    try:
        read_corpus(key, folder)
    except CorpusError as error:
        raise CorpusError(
            f"archive {archive.name} does not hold the {key} layout, so nothing was kept: {error}"
        ) from error
