"""Where SERAudit keeps downloads and caches, and where it looks for weights and the shared corpora."""

from __future__ import annotations

import os
from pathlib import Path

ENV_CACHE_DIR = "SERAUDIT_CACHE_DIR"
ENV_MODELS_DIR = "SERAUDIT_MODELS_DIR"
ENV_SHARED_DIR = "SERAUDIT_SHARED"


def cache_root() -> Path:
    """`$SERAUDIT_CACHE_DIR`, else `$XDG_CACHE_HOME/seraudit`, else `~/.cache/seraudit`."""
    if os.environ.get(ENV_CACHE_DIR):
        return Path(os.environ[ENV_CACHE_DIR]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "seraudit"


def cache_subdir(kind: str) -> Path:
    """A named cache folder under the root, e.g. "models" or "embeddings"."""
    return cache_root() / kind


def default_models_dir() -> str | None:
    """The weights folder used when no `--models-dir` is given: `$SERAUDIT_MODELS_DIR`, else None.

    None means "no models folder": weights come from the download cache, then a
    download. A `--models-dir` always wins over the variable; `../shared/models` is
    never used implicitly (`make audit` sets the variable to it when it exists).
    """
    return os.environ.get(ENV_MODELS_DIR) or None


def shared_dir() -> Path:
    """`$SERAUDIT_SHARED`, else the `shared` folder beside the repository (read-only corpora and weights)."""
    if os.environ.get(ENV_SHARED_DIR):
        return Path(os.environ[ENV_SHARED_DIR]).expanduser()
    return Path(__file__).resolve().parents[2].parent / "shared"
