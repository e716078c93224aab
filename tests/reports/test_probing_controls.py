"""The probing section says "above control by X [interval]" per feature group, and shows a backbone with random
weights as the control it is, on the index and on each model's page."""

from __future__ import annotations

import json
import re
import shutil

from seraudit.ensemble.run import Run
from seraudit.reports.build import build_report
from seraudit.reports.loading import load_report
from seraudit.reports.run_reader import run_summary
from seraudit.xai.audit.folder import AUDIT_INDEX


def control_row(backbone, weights, category, r2, control, low, high, null=-0.02):
    row = {"backbone": backbone, "weights": weights, "category": category, "n_features": 10, "r2": r2,
           "control_r2": control, "above_control": None if control is None else r2 - control,
           "control_ci_low": low, "control_ci_high": high, "null_r2": null, "above_null": r2 - null,
           "null_ci_low": r2 - null - 0.05, "null_ci_high": r2 - null + 0.05, "n_clips": 356, "n_speakers": 6}
    return row


def test_probing_shows_each_group_against_its_controls_and_the_untrained_backbone_as_a_control(
        audit_dir, run_dir, tmp_path):
    audit = tmp_path / "audit"
    shutil.copytree(audit_dir, audit)
    index = json.loads((audit / AUDIT_INDEX).read_text())
    index["probing"] = {
        "rows": [{"backbone": "yamnet", "emotion": "angry", "category": "energy/loudness", "top dims": 8,
                  "AUC top": 0.8, "AUC all": 0.82, "R² top": 0.3, "R² all": 0.36, "weights": "pretrained"}],
        "controls": [control_row("yamnet", "pretrained", "energy/loudness", 0.36, 0.20, 0.09, 0.23),
                     control_row("yamnet", "pretrained", "spectral", 0.10, 0.12, -0.06, 0.02),
                     control_row("vggish", "random (control)", "energy/loudness", 0.53, None, None, None)],
        "random_weights": ["vggish"], "seconds": {"total": 12.0},
    }
    (audit / AUDIT_INDEX).write_text(json.dumps(index))
    report = load_report(run_summary(Run.open(run_dir)), audit, run_dir=str(run_dir))
    folder = build_report(report, tmp_path / "r").parent
    page = (folder / "index.html").read_text(encoding="utf-8")
    section = page.split('<section id="probing">', 1)[1].split("</section>", 1)[0]
    assert "above control by 0.160 [+0.090, +0.230]" in section
    assert "control-level: -0.020 [-0.060, +0.020]" in section
    assert "— (is the control)" in section  # backbones by their display names, the untrained one marked
    assert re.search(r"VGGish[^<]* has random weights itself: its probe is a control", section)
    assert "<td>VGGish" in section and "<td>vggish" not in section
    assert "356 clips of 6 speakers" in section
    models = {p.name: p.read_text(encoding="utf-8") for p in folder.glob("model-*.html")}
    yamnet = next(text for name, text in models.items() if "yamnet" in name)
    assert "above control by" not in yamnet and "index.html#probing" in yamnet  # shown once, on the index
