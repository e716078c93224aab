"""Which clip an audit record belongs to: the clip's spec and folder id, which model explains it, and the cache key that
says a record is current.

A clip folder is reused only when its record carries the same cache key: the
same file (path, size, modification time), label and speaker, the same trained
models (and which fold's), and the same audit settings.

Which model explains a clip (`explained_by`, saved in ``clip.json`` as ``explained_by``):

* a corpus clip (a row of the run's ``predictions.csv``) is explained by the model of the
  fold whose test speakers include its speaker (``folds.json``): a model that never trained
  on that speaker, whose prediction is the clip's out-of-fold row ("held-out");
* in a cross-corpus run every test clip is held out of the final model already;
* a corpus clip of a run that kept no fold models (runs from before, fine-tuned runs) can
  only be explained by the final model, which trained on its speaker: "in-sample";
* a file outside the corpus is explained by the final model ("final model; not a corpus clip").

Aggregates over clips (summaries, checks, class maps, method agreement) leave in-sample
clips out (`in_aggregates`). A record written before this rule has no ``explained_by``:
`record_source` reads it as in-sample (a corpus clip) or as the final model's (any other file).
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
    explained_by: dict[str, Any] | None = None  # which model explains it (`explained_by`); set by `run_audit`

    @property
    def fold(self) -> int | None:
        """The fold whose model explains the clip; None when the final (or a given) model does."""
        source = self.explained_by or {}
        return source.get("fold") if source.get("model") == FOLD_MODEL else None


HELD_OUT, IN_SAMPLE, OUTSIDE, GIVEN = "held-out", "in-sample", "outside", "given"
FOLD_MODEL, FINAL_MODEL = "fold", "final"
#: What pages say for each kind of clip.
SOURCE_TEXT = {
    HELD_OUT: "speaker not seen in training",
    IN_SAMPLE: "in-sample: explained by the final model, which trained on this speaker",
    OUTSIDE: "final model; not a corpus clip",
    GIVEN: "models given to the audit (no run: not checked against a fold plan)",
}


def _source(kind: str, model: str, fold: int | None, text: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "model": model, "fold": fold, "held_out": kind == HELD_OUT, "in_sample": kind == IN_SAMPLE,
            "text": text or SOURCE_TEXT[kind], **extra}


def explained_by(run: Run | None, spec: ClipSpec, names: Sequence[str]) -> dict[str, Any]:
    """Which model explains `spec` among the run's models `names` (see the module's rule), with the clip's out-of-fold
    predictions from ``predictions.csv`` (``cv_predictions``: model -> label, probability, fold)."""
    if run is None:
        return _source(GIVEN, FINAL_MODEL, None)
    try:
        rows = run.corpus_row(spec.path)
    except SerauditError:  # an unreadable predictions table: nothing is known about the clip
        rows = None
    if rows is None or rows.empty:
        return _source(OUTSIDE, FINAL_MODEL, None)
    cv = {}
    for _, row in rows.iterrows():
        probability = row.get(f"p_{row['prediction']}")
        cv[str(row["model"])] = {"label": str(row["prediction"]), "fold": int(row["fold"]),
                                 "probability": None if probability is None or probability != probability else float(probability)}
    speaker = spec.speaker if spec.speaker is not None else str(rows["speaker"].iloc[0])
    if run.cross_corpus:  # the final model was trained on another corpus: every test speaker is held out
        return _source(HELD_OUT, FINAL_MODEL, int(rows["fold"].iloc[0]),
                       "final model, trained on another corpus; speaker not seen in training", cv_predictions=cv)
    fold = run.fold_of(speaker)
    if fold is not None and names and all(run.has_fold_model(name, fold) for name in names):
        return _source(HELD_OUT, FOLD_MODEL, fold, f"fold {fold} model; {SOURCE_TEXT[HELD_OUT]}", cv_predictions=cv)
    return _source(IN_SAMPLE, FINAL_MODEL, fold, cv_predictions=cv)


def record_source(record: dict[str, Any]) -> dict[str, Any]:
    """A clip record's ``explained_by``; for a record written before the rule: in-sample when it is a corpus clip
    (it has a speaker), else the final model's."""
    source = record.get("explained_by")
    if isinstance(source, dict) and source.get("kind"):
        return source
    return _source(IN_SAMPLE if record.get("speaker") is not None else OUTSIDE, FINAL_MODEL, None)


def in_aggregates(record: dict[str, Any]) -> bool:
    """Whether a clip record enters aggregates over clips: every clip but an in-sample one."""
    return not record_source(record)["in_sample"]


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
            "explained_by": spec.explained_by,
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
