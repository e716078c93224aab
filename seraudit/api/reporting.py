"""Writing the HTML report of a run and its audit (saved artefacts only: nothing is recomputed)."""

from __future__ import annotations

import os
from pathlib import Path

from seraudit.api.auditing import Audit
from seraudit.ensemble.run import Run
from seraudit.xai.audit import plan as audit_plan


def report(run: Run | str | os.PathLike, audit: Audit | str | os.PathLike, out: str | os.PathLike | None = None, *,
           self_contained: bool = False, title: str | None = None, redact_paths: bool = False) -> Path:
    """Write the report of `run` and `audit` into `out` (default: the run's ``report/`` folder); returns its index page.

    `self_contained` writes one HTML file with every image and sound inlined; `redact_paths`
    shows file names only (by default, paths relative to the corpus folder).
    """
    from seraudit.reports.build import write_report

    run_dir = run.path if isinstance(run, Run) else Path(run)
    audit_dir = audit.path if isinstance(audit, Audit) else Path(audit)
    out = Path(out) if out is not None else run_dir / audit_plan.REPORT_DIR
    return write_report(run_dir, audit_dir, out, self_contained=self_contained, title=title, redact_paths=redact_paths)
