"""Which clip an audit record belongs to: the clip's spec and folder id, and the cache key that says a record is current.

A clip folder is reused only when its record carries the same cache key: the
same file (path, size, modification time), label and speaker, the same trained
models and the same audit settings.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from seraudit.core.errors import SerauditError
from seraudit.core.naming import slug
from seraudit.ensemble.run import Run
from seraudit.xai.audit.folder import AUDIT_FORMAT_VERSION, CLIP_INDEX


@dataclass
class ClipSpec:
    """One clip to audit, with what is known about it (label and speaker come from a corpus table)."""

    path: str
    true_label: str | None = None
    speaker: str | None = None


def clip_id_for(path: str | os.PathLike) -> str:
    """A folder-safe, collision-free id for a clip: its file stem plus a hash of its absolute path."""
    path = os.path.abspath(os.fspath(path))
    return f"{slug(Path(path).stem, 'clip', max_length=60)}-{hashlib.sha1(path.encode('utf-8')).hexdigest()[:8]}"


def model_fingerprint(model: Any) -> str:
    """Identity of a trained model for the cache: name, labels, untrained branches, provenance."""
    payload = json.dumps(
        {
            "name": model.name,
            "labels": list(model.labels),
            "untrained": list(getattr(model, "untrained_branches", [])),
            "provenance": getattr(model, "provenance", {}),
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha1(payload.encode("utf-8")).hexdigest()[:16]


def cache_key(spec: ClipSpec, models: Sequence[Any], settings_key: dict[str, Any]) -> str:
    """The key a clip record must carry to be reused; ``settings_key`` is `AuditSettings.key()`."""
    stat = os.stat(spec.path)
    payload = json.dumps(
        {
            "path": os.path.abspath(spec.path),
            "size": stat.st_size,
            "mtime": stat.st_mtime_ns,
            "label": spec.true_label,
            "speaker": spec.speaker,
            "models": [model_fingerprint(m) for m in models],
            "settings": settings_key,
            "format": AUDIT_FORMAT_VERSION,
        },
        sort_keys=True,
    )
    return hashlib.sha1(payload.encode("utf-8")).hexdigest()


def cached_record(clip_dir: str | os.PathLike, key: str) -> dict[str, Any] | None:
    """The clip record in ``clip_dir`` if it is complete and was computed with cache key ``key``; None otherwise."""
    path = Path(clip_dir) / CLIP_INDEX
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("cache_key") != key:
        return None
    return record if _artefacts_present(Path(clip_dir), record) else None


def _artefacts_present(folder: Path, record: dict[str, Any]) -> bool:
    """Every file the record names exists and is not empty (a damaged clip folder is recomputed, never shown)."""
    names = [record.get("original")]
    for per_method in (record.get("methods") or {}).values():
        for entry in per_method.values():
            names += [entry.get(k) for k in ("attribution", "overlay", "listened", "ignored", "excerpt")]
    try:
        return all((folder / name).stat().st_size > 0 for name in names if name)
    except OSError:
        return False


def specs_from_run(run: Run, paths: Sequence[str | os.PathLike]) -> list[ClipSpec]:
    """Clip specs for `paths`, with true label and speaker where the run's predictions list the file.

    A file the run never saw (or a run whose predictions cannot be read) gets no
    label and no speaker: it is still audited, just without the true label.
    """
    known: dict[str, tuple[str, str]] = {}
    try:
        table = run.predictions
        for path, label, speaker in zip(table["path"], table["label"], table["speaker"]):
            known[os.path.abspath(str(path))] = (str(label), str(speaker))
    except SerauditError:
        pass
    specs = []
    for path in paths:
        label, speaker = known.get(os.path.abspath(os.fspath(path)), (None, None))
        specs.append(ClipSpec(os.fspath(path), label, speaker))
    return specs
