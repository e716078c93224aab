"""The verdict shows each check's value, threshold and control (a family of checks as a method x model matrix); every
evidence link lands on the report; the cascade is drawn."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from seraudit.core.naming import slug
from seraudit.reports.build import build_report
from seraudit.reports.loading import load_report
from seraudit.xai.audit.checks import audit_checks, overall_status
from seraudit.xai.audit.summary import metric_sections

STAGES = ["head", "head + top 1 block", "head + top 2 blocks"]


def _sanity(models: list[str]) -> dict:
    stages, rows = [], []
    for model in models:
        for method, last in (("gradcam", 0.2), ("occlusion", 0.95)):
            sims = [0.8, 0.5, last]
            stages += [{"model": model, "method": method, "stage": i, "stage_name": name, "similarity": s,
                        "spearman": s, "n_clips": 8} for i, (name, s) in enumerate(zip(STAGES, sims))]
            rows.append({"model": model, "method": method, "similarity": last, "control": 0.3, "threshold": 0.65,
                         "spearman": last, "n_clips": 8, "stage_name": STAGES[-1]})
    return {"rows": rows, "stages": stages, "clips": [f"c{i}" for i in range(8)], "seconds": 48.0,
            "seconds_per_clip_model": 3.0}


def _audit(audit_dir: Path, out: Path) -> tuple[Path, dict]:
    audit = Path(shutil.copytree(audit_dir, out))
    index = json.loads((audit / "audit.json").read_text(encoding="utf-8"))
    models = list(index["models"])
    index["sanity"] = _sanity(models)
    sections = metric_sections(index)
    sections["model_randomisation"]["summary"] = {
        model: {row["method"]: {"value": row["similarity"], "control": row["control"], "threshold": row["threshold"],
                                "n_clips": 8, "beats_control": None, "gain_ci": None,
                                "margin_ci": [0.3, 0.5] if row["similarity"] < 0.5 else [-0.4, -0.2],
                                "stage_name": row["stage_name"]}
                for row in index["sanity"]["rows"] if row["model"] == model} for model in models}
    index["metrics"] = sections
    index["checks"] = audit_checks(index, None, [], audit_dir=audit)
    index["status"] = overall_status(index["checks"])
    (audit / "audit.json").write_text(json.dumps(index), encoding="utf-8")
    return audit, index


def test_the_verdict_shows_value_threshold_and_control_and_every_evidence_link_lands(audit_dir, tmp_path):
    audit, index = _audit(audit_dir, tmp_path / "audit")
    out = build_report(load_report(None, audit), tmp_path / "r").parent
    page = (out / "index.html").read_text(encoding="utf-8")
    verdict = page.split('<table id="checks-table">', 1)[1].split("</table>", 1)[0]
    assert "<th>Value</th><th>Threshold</th><th>Control</th>" in verdict
    randomised = [c for c in index["checks"] if c["id"].startswith("model_randomisation.")]
    assert {c["model"] for c in randomised} == set(index["models"])  # every audited model
    section = page.split('<section id="verdict">', 1)[1].split("</section>", 1)[0]
    for check in randomised:  # a cell of the model-randomisation matrix: value, threshold and control
        cell = section.split(f'id="check-{slug(check["id"])}"', 1)[1].split("</td>", 1)[0]
        assert f'<span class="value">{check["value"]:.3f}</span>' in cell, cell
        assert '<span class="threshold">&lt; 0.650</span>' in cell and '<span class="control">ctrl 0.300</span>' in cell, cell
    assert f"Overall: <span class=\"status status-{index['status']}\">" in page
    for check in index["checks"]:
        name, _, anchor = check["evidence"].partition("#")
        target = out / name
        assert target.is_file(), check["evidence"]
        assert f'id="{anchor}"' in target.read_text(encoding="utf-8"), check["evidence"]


def test_the_randomisation_cascade_is_drawn_per_model_without_a_network_address(audit_dir, tmp_path):
    audit, index = _audit(audit_dir, tmp_path / "audit")
    out = build_report(load_report(None, audit), tmp_path / "r").parent
    page = (out / "index.html").read_text(encoding="utf-8")
    section = page.split('<section id="metric-model_randomisation">', 1)[1].split("</section>", 1)[0]
    for model in index["models"]:
        assert f'<figure id="cascade-{model}"><svg' in section
    assert "3.0 s per clip and model" in section and "Threshold: calibrated per clip" in section
    assert not re.search(r"https?://", page)
