"""What a run, an audit or a report records about how it was made: the software, the time, the clip list.

* `software`: SERAudit's version and, when the package is imported from a git checkout,
  its commit (and whether the checkout had local changes); "unknown" otherwise (an
  installed wheel, no git);
* `utc_now`: the time, ISO 8601 in UTC to the second;
* `clip_list_digest`: a SHA-256 of the sorted clip list (each clip's path relative to the
  corpus folder and its label), so two runs can tell whether they saw the same clips
  (the shared RAVDESS copy holds 1434 of the 1440 files) wherever the corpus lies.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import os
import re
import subprocess
from pathlib import Path
from typing import Any, Iterable

UNKNOWN = "unknown"
_PACKAGE_DIR = Path(__file__).resolve().parents[1]  # seraudit/


def version() -> str:
    """The installed distribution's version, else the package's ``__version__`` line."""
    import importlib.metadata as metadata

    try:
        return metadata.version("seraudit")
    except metadata.PackageNotFoundError:  # a source tree never installed: the package's own line
        found = re.search(r'^__version__ = "([^"]+)"', (_PACKAGE_DIR / "__init__.py").read_text(encoding="utf-8"), re.M)
        return found.group(1) if found else UNKNOWN


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False,
                             env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"})
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_commit(package_dir: str | os.PathLike = _PACKAGE_DIR) -> dict[str, Any]:
    """``{"commit": sha, "dirty": bool}`` of the checkout `package_dir` is tracked in; ``{"commit": "unknown"}`` when
    it is not one (an installed copy that merely lies inside some other repository does not count)."""
    folder = Path(package_dir).resolve()
    top = _git(["rev-parse", "--show-toplevel"], folder)
    if not top or _git(["ls-files", "--error-unmatch", "__init__.py"], folder) is None:
        return {"commit": UNKNOWN, "dirty": None}
    commit = _git(["rev-parse", "HEAD"], folder)
    status = _git(["status", "--porcelain", "--untracked-files=no"], Path(top))
    return {"commit": commit or UNKNOWN, "dirty": None if status is None else bool(status)}


@functools.lru_cache(maxsize=1)
def software() -> dict[str, Any]:
    """``{"seraudit": version, "commit": sha or "unknown", "dirty": bool or None}`` of the code running now."""
    return {"seraudit": version(), **git_commit()}


def utc_now() -> str:
    """The time now, e.g. ``2026-12-04T19:45:03Z``."""
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def file_time(path: str | os.PathLike) -> str | None:
    """When `path` was last written, like `utc_now`; None when it does not exist."""
    try:
        stamp = os.stat(path).st_mtime
    except OSError:
        return None
    return _dt.datetime.fromtimestamp(stamp, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def clip_list_digest(clips: Iterable[tuple[str, str]], root: str | os.PathLike | None = None) -> dict[str, Any]:
    """``{"sha256", "n_clips"}`` of a clip list: (path, label) pairs, each clip once.

    A path below `root` (the corpus folder; a manifest's folder) is taken relative to it with
    "/" separators, so the same corpus copied elsewhere gives the same digest; the lines
    ``path<TAB>label`` are sorted and joined with newlines (UTF-8) before hashing.
    """
    base = os.path.abspath(os.fspath(root)) if root else None
    lines = set()
    for path, label in clips:
        text = os.fspath(path)
        if base and os.path.isabs(text):
            rel = os.path.relpath(os.path.abspath(text), base)
            if not rel.startswith(os.pardir):
                text = rel
        lines.add(f"{Path(text).as_posix()}\t{label}")
    digest = hashlib.sha256("\n".join(sorted(lines)).encode("utf-8")).hexdigest()
    return {"sha256": digest, "n_clips": len({line.split(chr(9), 1)[0] for line in lines})}
