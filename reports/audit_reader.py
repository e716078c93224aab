"""An audit folder read back for a report: ``audit.json`` and one ``clip.json`` per clip, as `reports.model` records.

Reads through `xai.audit.folder`, the audit's own reader; artefact paths become relative
to the audit folder, clip paths become what pages show (`reports.model.display_path`).
"""

from __future__ import annotations

import os
from typing import Any

from seraudit.reports.metric_records import clip_scores
from seraudit.reports.model import ClipReport, MethodResult, Prediction, display_path
from seraudit.xai.audit.clip_identity import record_source
from seraudit.xai.audit.folder import read_audit_index, read_clip_record
from seraudit.xai.audit.runner import REFERENCE_MODEL


def load_audit(audit_dir: str | os.PathLike, corpus_root: str | None = None,
               redact: bool = False) -> tuple[dict[str, Any], list[ClipReport]]:
    """Read an audit folder written by `xai.audit.runner.run_audit` (``seraudit explain``, ``seraudit audit-all``)."""
    index = read_audit_index(audit_dir)
    reference = index.get("reference_model", REFERENCE_MODEL)
    clips = [_clip_from_json(read_clip_record(audit_dir, entry), entry["dir"], reference, corpus_root, redact)
             for entry in index.get("clips", [])]
    return index, clips


def _rel(base: str, value: str | None) -> str | None:
    return None if not value else f"{base}/{value}"


def _clip_from_json(data: dict[str, Any], base: str, reference: str, root: str | None = None,
                    redact: bool = False) -> ClipReport:
    methods: dict[str, dict[str, MethodResult]] = {}
    for model, per_method in data.get("methods", {}).items():
        methods[model] = {
            method: MethodResult(
                method=method,
                target_label=str(rec.get("target_label", "")),
                overlay=_rel(base, rec.get("overlay")),
                excerpt=_rel(base, rec.get("excerpt")),
                listened=_rel(base, rec.get("listened")),
                ignored=_rel(base, rec.get("ignored")),
                attribution=_rel(base, rec.get("attribution")),
                metrics={k: v for k, v in rec.get("metrics", {}).items() if v is not None},
                scores=clip_scores(rec),
                renders=rec.get("renders") or {},
            )
            for method, rec in per_method.items()
        }
    return ClipReport(
        clip_id=data["id"],
        path=data.get("path", ""),
        true_label=data.get("true_label"),
        original=_rel(base, data.get("original")),
        predictions={
            m: Prediction(label=str(p["label"]), probabilities={str(k): float(v) for k, v in p["probabilities"].items()})
            for m, p in data.get("predictions", {}).items()
        },
        methods=methods,
        agreement=data.get("agreement", {}),
        egemaps_deviation=data.get("egemaps_deviation") or [],
        time_profile={m: _rel(base, p) for m, p in data.get("time_profile", {}).items() if p},
        faithfulness_curves={m: _rel(base, p) for m, p in data.get("faithfulness_curves", {}).items() if p},
        duration_s=data.get("duration_s"),
        reference_model=reference,
        speaker=data.get("speaker"),
        patches=data.get("patches"),
        shown_path=display_path(data.get("path", ""), root, redact),
        warnings=[str(w) for w in data.get("warnings", [])],
        speech_fraction=data.get("speech_fraction"),
        explained_by=record_source(data),
    )
