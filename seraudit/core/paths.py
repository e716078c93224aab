"""Where SERAudit keeps downloads and caches: one root, one sub-folder per kind."""

from __future__ import annotations

import os
from pathlib import Path

ENV_CACHE_DIR = "SERAUDIT_CACHE_DIR"


def cache_root() -> Path:
    """`$SERAUDIT_CACHE_DIR`, else `$XDG_CACHE_HOME/seraudit`, else `~/.cache/seraudit`."""
    if os.environ.get(ENV_CACHE_DIR):
        return Path(os.environ[ENV_CACHE_DIR]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "seraudit"


def cache_subdir(kind: str) -> Path:
    """A named cache folder under the root, e.g. "models" or "embeddings"."""
    return cache_root() / kind
