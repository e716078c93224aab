"""The model page's late-fusion weights (per fold and final, untrained branch flagged) and calibration (ECE, reliability
diagrams raw and temperature-scaled), read from the run folder; a run from before shows what it can."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from seraudit.reports.build import write_report


def _with_histories(run: Path) -> None:
    path = run / "run.json"
    info = json.loads(path.read_text(encoding="utf-8"))
    info["cv_histories"] = [
        {"fold": f, "late_fusion_weights": [0.625, 0.375],
         "late_fusion": {"fitted": [0.75, 0.25], "shrinkage": 0.5, "n_speakers": 3, "criterion": "pooled"},
         "calibration": {"temperature": {m: 1.5 + f for m in ("ensemble", "yamnet", "vggish", "egemaps")},
                         "applied": False}} for f in (0, 1)]
    path.write_text(json.dumps(info), encoding="utf-8")


def test_the_ensemble_page_shows_its_fusion_weights_and_every_page_its_calibration(run_dir, audit_dir, tmp_path):
    run = Path(shutil.copytree(run_dir, tmp_path / "run"))
    _with_histories(run)
    index = write_report(run, audit_dir, tmp_path / "r")
    ensemble = (index.parent / "model-ensemble.html").read_text(encoding="utf-8")
    fusion = ensemble.split('id="fusion-weights"', 1)[1].split("</table>", 1)[0]
    assert "fold 0" in fusion and "fold 1" in fusion and "0.62" in fusion and "0.38 <span class=\"tag-untrained\">untrained</span>" in fusion
    assert "0.75, 0.25" in fusion and "final model" in fusion and "unknown" in fusion  # no saved config: final unknown
    calibration = ensemble.split('id="calibration"', 1)[1].split("<h2 ", 1)[0]
    assert calibration.count("<svg") == 2 and "temperature-scaled" in calibration and "fold 1 2.50" in calibration
    yamnet = (index.parent / "model-yamnet.html").read_text(encoding="utf-8")
    assert 'id="calibration"' in yamnet and 'id="fusion-weights"' not in yamnet  # weights belong to the ensemble


def test_a_run_from_before_shows_raw_calibration_and_no_weights(run_dir, audit_dir, tmp_path):
    index = write_report(run_dir, audit_dir, tmp_path / "r")
    ensemble = (index.parent / "model-ensemble.html").read_text(encoding="utf-8")
    assert 'id="fusion-weights"' not in ensemble
    calibration = ensemble.split('id="calibration"', 1)[1].split("<h2 ", 1)[0]
    assert calibration.count("<svg") == 1 and "unknown (the run records no temperatures)" in calibration
