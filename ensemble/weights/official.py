"""Find a backbone's published weight files (models folder, cache, download) and say where they came from.

What each backbone publishes (files, addresses, checksums, where to get them by
hand) is declared once, in its module's `Backbone.official`
(`ensemble.backbones.registry`); this module only looks those files up.

Look-up order for every file: a models folder (``models_dir`` argument, else the
``SERAUDIT_MODELS_DIR`` environment variable) laid out like ``../shared/models``;
then the download cache (``$SERAUDIT_CACHE_DIR/models``, default
``~/.cache/seraudit/models``, same layout); then a download from Google's
address into the cache. Downloads stream to a temporary file, are checked
against a SHA-256 and only then move into the cache, so an interrupted or
corrupted download never leaves a file behind.

Integrity. A file whose SHA-256 equals a published or known value is
"verified". Google publishes no SHA-256 for ``yamnet.h5``, the TF Hub
``yamnet.tflite`` or ``vggish_model.ckpt``; for those the hash seen at the first
download is written to the cache manifest (``manifest.json``), later uses are
checked against it, and the source is marked "unverified (first download)".
Files found in a models folder with an unknown hash are "unverified (local file)".
"""

from __future__ import annotations

import csv
import datetime as _dt
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from seraudit.core.download import ChecksumError, download_file
from seraudit.core.errors import DownloadError, WeightsError
from seraudit.core.io import write_json
from seraudit.core.paths import ENV_CACHE_DIR, ENV_MODELS_DIR, cache_subdir, default_models_dir
from seraudit.ensemble.backbones.backbone import Asset
from seraudit.ensemble.backbones.registry import BACKBONES, backbone_display

ENV_DOWNLOAD_BASE = "SERAUDIT_DOWNLOAD_BASE"

VERIFIED = "verified"
UNVERIFIED_FIRST_DOWNLOAD = "unverified (first download)"
UNVERIFIED_LOCAL = "unverified (local file)"

NUM_AUDIOSET_CLASSES = 521
MANIFEST_NAME = "manifest.json"
DOWNLOAD_TIMEOUT_SECONDS = 60


def official_assets() -> dict[str, Asset]:
    """Every published file of every registered backbone, by key (``"yamnet_tflite"``, ``"vggish_pca"``, ...)."""
    return {a.key: a for b in BACKBONES.values() if b.official is not None for a in b.official.assets}


def manual_source(backbone: str) -> str:
    """Where people get `backbone`'s weights by hand, and which file goes where."""
    official = BACKBONES[backbone].official
    return official.manual_source if official is not None else f"nowhere: {backbone_display(backbone)} publishes no weights"


def _known_local_sha256(relpath: str) -> frozenset[str]:
    return frozenset().union(*(b.official.known_local_sha256.get(relpath, ()) for b in BACKBONES.values()
                               if b.official is not None))


class ChecksumMismatchError(WeightsError):
    """A downloaded file whose SHA-256 differs from the published one (never silently skipped)."""


@dataclass(frozen=True)
class WeightsSource:
    """Where one backbone's weights come from; recorded in every run's provenance."""

    backbone: str
    path: Path | None
    format: str
    sha256: str | None
    pretrained: bool
    origin: str
    integrity: str | None = None
    url: str | None = None
    files: dict[str, str] | None = None  # relative path -> SHA-256, for multi-file weights from a model handle

    def describe(self) -> str:
        """One line for reports, e.g. "YAMNet — pretrained (yamnet.tflite, sha256 2d5e1e05…)"."""
        name = backbone_display(self.backbone)
        if not self.pretrained:
            return f"{name} — untrained (seeded random weights)"
        parts = [self.path.name if self.path is not None else self.format]
        if self.sha256:
            parts.append(f"sha256 {self.sha256[:8]}…")
        if self.integrity and self.integrity != VERIFIED:
            parts.append(self.integrity)
        return f"{name} — pretrained ({', '.join(parts)})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready provenance record."""
        record = asdict(self)
        record["path"] = str(self.path) if self.path is not None else None
        record["description"] = self.describe()
        return record


@dataclass(frozen=True)
class LocatedFile:
    """A weights file (or checkpoint/SavedModel) found on disk, with its hash and integrity."""

    path: Path
    format: str
    sha256: str
    origin: str
    integrity: str
    url: str | None = None


# --------------------------------------------------------------------------- places


def default_cache_dir() -> Path:
    """`$SERAUDIT_CACHE_DIR/models` (default `~/.cache/seraudit/models`)."""
    return cache_subdir("models")


def _models_dir(models_dir: str | os.PathLike | None) -> Path | None:
    chosen = models_dir if models_dir is not None else default_models_dir()
    if chosen is None:
        return None
    folder = Path(chosen).expanduser()
    if not folder.is_dir():
        raise WeightsError(
            f"models folder {folder} does not exist; point `models_dir` / {ENV_MODELS_DIR} at a folder "
            "laid out like ../shared/models (yamnet/yamnet.tflite, vggish/vggish_model.ckpt, ...)"
        )
    return folder


def _download_url(asset: Asset, download_base: str | None) -> str:
    base = download_base if download_base is not None else os.environ.get(ENV_DOWNLOAD_BASE) or None
    return f"{base.rstrip('/')}/{asset.filename}" if base else asset.url


# --------------------------------------------------------------------------- hashing


def sha256_file(path: str | os.PathLike) -> str:
    """SHA-256 of one file, streamed."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def sha256_tree(files: list[Path], root: Path) -> str:
    """One SHA-256 for several files (checkpoint pair, SavedModel): hash of sorted "relpath sha256" lines."""
    lines = sorted(f"{p.relative_to(root).as_posix()} {sha256_file(p)}\n" for p in files)
    return hashlib.sha256("".join(lines).encode()).hexdigest()


# --------------------------------------------------------------------------- manifest


def _read_manifest(cache: Path) -> dict[str, Any]:
    path = cache / MANIFEST_NAME
    if not path.is_file():
        return {"files": {}}
    try:
        manifest = json.loads(path.read_text())
        manifest.setdefault("files", {})
        return manifest
    except (ValueError, OSError) as error:
        raise WeightsError(f"cache manifest {path} is unreadable ({error}); delete it and run again") from error


def _record_download(cache: Path, asset: Asset, sha256: str, size: int, url: str, integrity: str) -> None:
    manifest = _read_manifest(cache)
    manifest["files"][asset.relpath] = {
        "sha256": sha256,
        "size": size,
        "url": url,
        "integrity": integrity,
        "downloaded": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    write_json(cache / MANIFEST_NAME, manifest)


# --------------------------------------------------------------------------- finding files


def _saved_model_dir(folder: Path) -> Path | None:
    """`folder` itself or its first sub-folder (sorted) holding a saved_model.pb."""
    if (folder / "saved_model.pb").is_file():
        return folder
    if folder.is_dir():
        for child in sorted(p for p in folder.iterdir() if p.is_dir()):
            if (child / "saved_model.pb").is_file():
                return child
    return None


def _find_weights(root: Path, backbone: str) -> tuple[Path, str, list[Path]] | None:
    """(path, format, files to hash) of the backbone's weights inside a models-folder-like `root`.

    Its downloadable files in order of preference (a checkpoint also as its ``.index`` +
    ``.data-*`` pair), then a SavedModel in its folder.
    """
    official = BACKBONES[backbone].official
    for asset in official.downloads if official is not None else ():
        path = root / asset.relpath
        if path.is_file():
            return path, asset.format, [path]
        index = path.with_name(path.name + ".index")
        if asset.format == "ckpt" and index.is_file():
            shards = sorted(path.parent.glob(path.name + ".data-*"))
            if not shards:
                raise WeightsError(
                    f"checkpoint {index} has no data file beside it ({path.name}.data-00000-of-00001); "
                    "copy the complete checkpoint (.index and .data-*) into the same folder"
                )
            return path, "ckpt", [index, *shards]
    saved = _saved_model_dir(root / backbone)
    if saved is not None:
        return saved, "savedmodel", sorted(p for p in saved.rglob("*") if p.is_file())
    return None


def _find_asset_file(root: Path, asset: Asset) -> tuple[Path, str, list[Path]] | None:
    path = root / asset.relpath
    return (path, asset.format, [path]) if path.is_file() else None


def _integrity_local(relpath: str, sha256: str, asset: Asset | None) -> str:
    known = set(_known_local_sha256(relpath))
    if asset is not None and asset.sha256:
        known.add(asset.sha256)
    return VERIFIED if sha256 in known else UNVERIFIED_LOCAL


def _hash_found(found: tuple[Path, str, list[Path]]) -> str:
    path, _, files = found
    if files == [path]:
        return sha256_file(path)
    return sha256_tree(files, path if path.is_dir() else path.parent)


def _from_models_dir(root: Path, found: tuple[Path, str, list[Path]], asset: Asset | None) -> LocatedFile:
    path, fmt, _ = found
    digest = _hash_found(found)
    relpath = path.relative_to(root).as_posix()
    return LocatedFile(path, fmt, digest, "models_dir", _integrity_local(relpath, digest, asset))


def _from_cache(cache: Path, found: tuple[Path, str, list[Path]], asset: Asset | None) -> LocatedFile:
    path, fmt, _ = found
    digest = _hash_found(found)
    relpath = path.relative_to(cache).as_posix()
    entry = _read_manifest(cache)["files"].get(relpath)
    if entry is None:  # copied into the cache by hand
        return LocatedFile(path, fmt, digest, "cache", _integrity_local(relpath, digest, asset))
    if entry["sha256"] != digest:
        raise WeightsError(
            f"cached file {path} changed since it was downloaded from {entry.get('url')} "
            f"(sha256 recorded {entry['sha256']}, now {digest}); delete it to download it again"
        )
    return LocatedFile(path, fmt, digest, "cache", entry.get("integrity", UNVERIFIED_FIRST_DOWNLOAD), entry.get("url"))


# --------------------------------------------------------------------------- downloading


def download(asset: Asset, cache: Path, url: str) -> LocatedFile:
    """Stream `url` into the cache at `asset.relpath`, checking its SHA-256 before the file appears.

    Raises WeightsError naming the URL on network errors, truncated transfers and
    hash mismatches; nothing is left in the cache in those cases.
    """
    try:
        got = download_file(url, cache / asset.relpath, sha256=asset.sha256, desc=f"downloading {asset.filename}",
                            keep_partial=False, timeout=DOWNLOAD_TIMEOUT_SECONDS)
    except ChecksumError as error:
        raise ChecksumMismatchError(str(error)) from error
    except DownloadError as error:
        raise WeightsError(str(error)) from error
    integrity = VERIFIED if asset.sha256 is not None else UNVERIFIED_FIRST_DOWNLOAD
    _record_download(cache, asset, got.sha256, got.size, url, integrity)
    return LocatedFile(got.path, asset.format, got.sha256, "download", integrity, url)


# --------------------------------------------------------------------------- public API


def _how_to_fix(backbone: str, cache: Path, tried: list[str]) -> str:
    name = backbone_display(backbone)
    lines = [f"{name} pretrained weights not found:"]
    lines += [f"  - {line}" for line in tried]
    lines += [
        f"Get them from {manual_source(backbone)}.",
        "Put them in a folder laid out like ../shared/models (paths above are relative to it) and pass "
        f"`models_dir=FOLDER` or set {ENV_MODELS_DIR}=FOLDER; or copy them into the cache {cache}/ "
        f"(same layout; moved with {ENV_CACHE_DIR}).",
        f'To run without them, pass `allow_untrained=["{backbone}"]`: {name} then gets seeded random weights '
        'and every output is marked "untrained".',
    ]
    return "\n".join(lines)


def _locate(
    find,
    asset_keys: tuple[str, ...],
    *,
    models_dir: str | os.PathLike | None,
    cache_dir: str | os.PathLike | None,
    download_allowed: bool,
    download_base: str | None,
    tried: list[str],
) -> LocatedFile | None:
    """Shared look-up: models folder, cache, then each downloadable asset in turn."""
    root = _models_dir(models_dir)
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    assets = official_assets()
    single = assets[asset_keys[0]] if len(asset_keys) == 1 else None
    if root is not None:
        found = find(root)
        if found is not None:
            return _from_models_dir(root, found, single)
        tried.append(f"models folder {root}: nothing there")
    else:
        tried.append(f"no models folder given (`models_dir` / {ENV_MODELS_DIR})")
    found = find(cache) if cache.is_dir() else None
    if found is not None:
        return _from_cache(cache, found, single)
    tried.append(f"cache {cache}: nothing there")
    if not download_allowed:
        tried.append("download: not attempted (downloads disabled)")
        return None
    for key in asset_keys:
        asset = assets[key]
        url = _download_url(asset, download_base)
        try:
            return download(asset, cache, url)
        except ChecksumMismatchError:
            raise
        except WeightsError as error:
            tried.append(str(error))
    return None


def resolve_weights(
    backbone: str,
    models_dir: str | os.PathLike | None = None,
    allow_untrained: bool = False,
    download: bool = True,
    *,
    cache_dir: str | os.PathLike | None = None,
    download_base: str | None = None,
) -> WeightsSource:
    """Find a backbone's pretrained weights: models folder, then cache, then a download.

    Parameters
    ----------
    backbone : a registered backbone (`ensemble.backbones.registry`): "yamnet", "vggish", ...
    models_dir : folder laid out like ``../shared/models``; default ``$SERAUDIT_MODELS_DIR``.
    allow_untrained : return an "untrained" source instead of failing when no weights exist.
    download : allow a download into the cache when nothing is found locally.
    cache_dir : default ``$SERAUDIT_CACHE_DIR/models`` (``~/.cache/seraudit/models``).
    download_base : replaces Google's addresses by ``<download_base>/<file name>``
        (default ``$SERAUDIT_DOWNLOAD_BASE``), e.g. for a local mirror.

    Raises
    ------
    WeightsError
        No weights and `allow_untrained` is False (the message says where to get
        them and where to put them), or a download failed its SHA-256 check.

    Examples
    --------
    >>> import tempfile
    >>> empty = tempfile.mkdtemp()  # a models folder and cache with no VGGish checkpoint, from any directory
    >>> resolve_weights("vggish", models_dir=empty, cache_dir=empty, allow_untrained=True, download=False).describe()
    'VGGish — untrained (seeded random weights)'
    """
    if backbone not in BACKBONES:
        raise WeightsError(f"unknown backbone {backbone!r}; the known backbones are {', '.join(BACKBONES)}")
    official = BACKBONES[backbone].official
    tried: list[str] = []
    located = _locate(
        lambda root: _find_weights(root, backbone),
        tuple(a.key for a in official.downloads) if official is not None else (),
        models_dir=models_dir,
        cache_dir=cache_dir,
        download_allowed=download,
        download_base=download_base,
        tried=tried,
    )
    if official is None:
        tried.append(f"{backbone_display(backbone)} publishes no weights (seeded random weights only)")
    if located is not None:
        return WeightsSource(
            backbone, located.path, located.format, located.sha256, True, located.origin, located.integrity, located.url
        )
    if allow_untrained:
        return WeightsSource(backbone, None, "untrained", None, False, "untrained")
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    raise WeightsError(_how_to_fix(backbone, cache, tried))


def resolve_file(
    key: str,
    models_dir: str | os.PathLike | None = None,
    download: bool = True,
    *,
    cache_dir: str | os.PathLike | None = None,
    download_base: str | None = None,
) -> LocatedFile:
    """Find one published file of a backbone (`official_assets`: class map, PCA parameters) the way the weights are found."""
    assets = official_assets()
    if key not in assets:
        raise WeightsError(f"no backbone publishes a file {key!r}; the published files are {', '.join(assets)}")
    asset = assets[key]
    tried: list[str] = []
    located = _locate(
        lambda root: _find_asset_file(root, asset),
        (key,),
        models_dir=models_dir,
        cache_dir=cache_dir,
        download_allowed=download,
        download_base=download_base,
        tried=tried,
    )
    if located is None:
        details = "; ".join(tried)
        raise WeightsError(
            f"{asset.relpath} not found ({details}); download {asset.url} ({asset.size_hint}) into "
            f"<MODELS_DIR>/{asset.relpath} and pass `models_dir=<MODELS_DIR>` or set {ENV_MODELS_DIR}"
        )
    return located


def class_map(models_dir: str | os.PathLike | None = None, **kwargs: Any) -> list[str]:
    """The 521 AudioSet display names, in YAMNet's output order (from yamnet_class_map.csv)."""
    located = resolve_file("yamnet_class_map", models_dir, **kwargs)
    with open(located.path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if len(rows) != NUM_AUDIOSET_CLASSES or any("display_name" not in row for row in rows):
        raise WeightsError(
            f"{located.path} should list {NUM_AUDIOSET_CLASSES} classes with a display_name column, "
            f"found {len(rows)} rows; replace it with {official_assets()['yamnet_class_map'].url}"
        )
    return [row["display_name"] for row in rows]


def vggish_pca_params(models_dir: str | os.PathLike | None = None, **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
    """VGGish's PCA post-processing parameters: means [128] and eigenvectors [128, 128]."""
    located = resolve_file("vggish_pca", models_dir, **kwargs)
    size = BACKBONES["vggish"].embedding_size
    url = official_assets()["vggish_pca"].url
    try:
        with np.load(located.path) as params:
            means = np.asarray(params["pca_means"]).reshape(-1)
            eigen = np.asarray(params["pca_eigen_vectors"])
    except (KeyError, ValueError, OSError) as error:
        raise WeightsError(
            f"{located.path} is not VGGish's PCA file ({error}); replace it with {url}"
        ) from error
    if means.shape != (size,) or eigen.shape != (size, size):
        raise WeightsError(
            f"{located.path} holds PCA parameters of shapes {means.shape} and {eigen.shape}, expected "
            f"({size},) and ({size}, {size}); replace it with {url}"
        )
    return means, eigen
