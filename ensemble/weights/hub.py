"""Backbone weights from a TF Hub or Kaggle model handle, resolved and cached by `tensorflow_hub.resolve`.

``--weights https://tfhub.dev/google/yamnet/1`` (or the Kaggle handle, or any
http(s) address of a ``.tar.gz`` SavedModel) is handed to `tensorflow_hub.resolve`:
it asks for the compressed format (``?tf-hub-format=compressed``), downloads the
archive once, extracts it into ``$TFHUB_CACHE_DIR/<sha1 of the handle>`` and
returns that folder; later calls read the folder without a download. SERAudit
sets ``TFHUB_CACHE_DIR`` to ``$SERAUDIT_CACHE_DIR/tfhub`` unless it is already
set (tensorflow_hub's own default is a folder under the system's temp directory,
which is cleared on reboot). The SavedModel is then read by the backbone's own
SavedModel loader (`ensemble.weights.savedmodel_reader`). TF Hub publishes no
checksums, so the provenance records the handle, the SHA-256 of every file of
the SavedModel and one hash over them; it is marked "unverified (TF Hub handle)".

tensorflow_hub needs tf-keras under Keras 3 (it imports it on start); both are
pinned in requirements.txt and imported only when a handle is used.
"""

from __future__ import annotations

import os
from pathlib import Path

from seraudit.core.errors import WeightsError
from seraudit.core.paths import cache_subdir
from seraudit.ensemble.backbones.registry import backbone_display
from seraudit.ensemble.weights.official import WeightsSource, sha256_file, sha256_tree

ENV_TFHUB_CACHE_DIR = "TFHUB_CACHE_DIR"
UNVERIFIED_HUB = "unverified (TF Hub handle)"
HANDLE_SCHEMES = ("https://", "http://", "gs://")


def is_handle(text: str) -> bool:
    """True for a model handle tensorflow_hub resolves (an http(s) or gs:// address)."""
    return text.startswith(HANDLE_SCHEMES)


def hub_cache_dir() -> Path:
    """`$TFHUB_CACHE_DIR`, else `$SERAUDIT_CACHE_DIR/tfhub` (what `resolve_hub_weights` hands tensorflow_hub)."""
    return Path(os.environ.get(ENV_TFHUB_CACHE_DIR) or cache_subdir("tfhub")).expanduser()


def _saved_model_folder(folder: Path) -> Path | None:
    if (folder / "saved_model.pb").is_file():
        return folder
    found = sorted(p.parent for p in folder.rglob("saved_model.pb"))
    return found[0] if found else None


def resolve_hub_weights(backbone: str, handle: str) -> WeightsSource:
    """Resolve `handle` through tensorflow_hub's cache and describe the SavedModel it gives.

    Raises WeightsError when the handle cannot be resolved (network, not an
    archive) or does not hold a SavedModel.
    """
    if not is_handle(handle):
        raise WeightsError(f"{handle!r} is not a TF Hub / Kaggle model handle (an https:// address)")
    os.environ.setdefault(ENV_TFHUB_CACHE_DIR, str(cache_subdir("tfhub")))
    try:
        import tensorflow_hub as hub
    except ImportError as error:
        raise WeightsError(
            f"`weights` {handle} needs tensorflow-hub and tf-keras: pip install -r requirements.txt ({error})"
        ) from error
    name = backbone_display(backbone)
    try:
        folder = Path(hub.resolve(handle))
    except Exception as error:  # tensorflow_hub raises URLError, IOError, ValueError, tf errors ...
        raise WeightsError(
            f"{name} weights: the model handle {handle} could not be resolved ({type(error).__name__}: {error}); "
            f"check the address, or download the SavedModel by hand and extract it into <models-dir>/{backbone}/"
        ) from error
    saved = _saved_model_folder(folder)
    if saved is None:
        raise WeightsError(
            f"{name} weights: {handle} resolved to {folder}, which holds no saved_model.pb; "
            f"delete that folder (cache {hub_cache_dir()}) and check the handle"
        )
    files = sorted(p for p in saved.rglob("*") if p.is_file())
    return WeightsSource(
        backbone, saved, "savedmodel", sha256_tree(files, saved), True, "hub", UNVERIFIED_HUB, handle,
        files={p.relative_to(saved).as_posix(): sha256_file(p) for p in files},
    )
