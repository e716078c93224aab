"""The model page's calibration and late-fusion sections, read from the run folder through `Run` (no model is run).

`calibration(page)`: the model's expected calibration error (10 bins) and reliability diagram from its
out-of-fold predictions, raw and with each fold's temperature (`ensemble.evaluation.calibration`).
`fusion(page)`: the ensemble's late-fusion weights per fold and of the final model, an untrained branch flagged
(`ensemble.evaluation.scoring.fusion_summary`). A run from before these were recorded shows what it can
(raw ECE; the final weights) and says the rest is unknown; a report without its run folder shows neither.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any


@functools.lru_cache(maxsize=4)
def _run_figures(run_dir: str, stamp: float) -> dict[str, Any] | None:
    from seraudit.ensemble.evaluation.calibration import calibration_summary
    from seraudit.ensemble.evaluation.scoring import fusion_summary
    from seraudit.ensemble.run import Run

    try:
        run = Run.open(run_dir)
        labels = run.provenance.get("labels") or run.results.get("labels") or []
        figures = {"calibration": calibration_summary(run.predictions, labels, run.provenance.get("cv_histories")),
                   "fusion": fusion_summary(run, run.results)}
    except Exception:  # noqa: BLE001 - a report still builds when the run folder is gone or older
        return None
    return figures


def run_figures(run_dir: str | os.PathLike | None) -> dict[str, Any] | None:
    """Calibration of every model and the fusion weights of a run folder (cached per folder and its predictions)."""
    if not run_dir:
        return None
    predictions = Path(run_dir) / "predictions.csv"
    if not predictions.is_file():
        return None
    return _run_figures(str(run_dir), predictions.stat().st_mtime)


def calibration(page) -> dict[str, Any] | None:
    from seraudit.reports.plots import reliability_svg

    figures = run_figures(page.report.run_dir)
    entry = (figures or {}).get("calibration", {}).get(page.subject.info.name)
    if not entry:
        return None
    raw, scaled = entry["raw"], entry.get("scaled")  # the page's heading names the model: short plot titles
    return {"entry": entry, "raw": raw, "scaled": scaled, "shown": entry["shown"],
            "raw_svg": reliability_svg(raw["bins"], "out of fold, raw"),
            "scaled_svg": reliability_svg(scaled["bins"], "temperature-scaled per fold") if scaled else None}


def fusion(page) -> dict[str, Any] | None:
    figures = run_figures(page.report.run_dir)
    record = (figures or {}).get("fusion")
    if not record or page.subject.info.name != "ensemble":
        return None
    return record
