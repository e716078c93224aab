"""The metric registry: the four members first, and a metric registered later reaches the audit with no other edit."""

from __future__ import annotations

import json

import numpy as np
import pytest

from seraudit.core.errors import SerauditError
from seraudit.xai.attribution import Attribution
from seraudit.xai.audit.clip_identity import ClipSpec
from seraudit.xai.audit.runner import AuditSettings, run_audit
from seraudit.xai.metrics.base import Metric, MetricContext, MetricResult
from seraudit.xai.metrics.registry import build_metrics, register_metric, registered_metrics, unregister_metric

METHODS = ("gradcam", "gradcam++")


class TotalMass(Metric):
    """A toy metric: the map's total mass (a check passes when it is positive)."""

    id = "total_mass"
    name = "Total attribution mass"
    description = "Sum of the map over every cell."
    higher_is_better = True
    threshold = 0.0

    def __call__(self, context: MetricContext) -> MetricResult:
        return self.result(float(np.nansum(context.attribution.clip_map)))


@pytest.fixture()
def toy_metric():
    register_metric(TotalMass)
    yield TotalMass
    unregister_metric(TotalMass.id)


def test_the_four_members_come_first_in_registration_order(toy_metric):
    assert list(registered_metrics()) == ["deletion", "insertion", "model_randomisation", "method_agreement",
                                          "unheard_mass", "non_speech_mass", "total_mass"]
    unregister_metric(TotalMass.id)
    assert "total_mass" not in registered_metrics()
    register_metric(TotalMass)  # again, for the fixture to remove


def test_a_taken_id_or_a_non_metric_is_refused(toy_metric):
    class Other(TotalMass):
        pass

    with pytest.raises(SerauditError, match="'total_mass' is already registered"):
        register_metric(Other)
    with pytest.raises(SerauditError, match="not a Metric subclass"):
        register_metric(dict)
    register_metric(TotalMass)  # the same class again is a no-op


def test_build_metrics_configures_each_member_from_the_settings():
    settings = AuditSettings(faithfulness_steps=7, faithfulness_random=2, seed=3, faithfulness_block=(8, 4),
                             sanity_blocks=1)
    built = {m.id: m for m in build_metrics(settings)}
    assert (built["deletion"].steps, built["deletion"].n_random, built["deletion"].seed, built["deletion"].block) == (
        7, 2, 3, (8, 4))
    assert (built["model_randomisation"].n_blocks, built["model_randomisation"].seed) == (1, 3)


@pytest.fixture()
def toy_audit(toy_metric, tone_model, tone_clip, speech_wav, tmp_path):
    settings = AuditSettings(methods=METHODS, probe=False, faithfulness_steps=2, faithfulness_random=1)
    out = tmp_path / "audit"
    index = run_audit([tone_model], [ClipSpec(str(speech_wav), "tone", "s1")], out, settings,
                      load_features=lambda _path: tone_clip, progress=False)
    return out, index


def test_a_registered_metric_is_computed_summarised_and_checked_in_audit_json(toy_audit):
    out, index = toy_audit
    saved = json.loads((out / "audit.json").read_text())
    section = saved["metrics"]["total_mass"]
    assert section["name"] == "Total attribution mass" and section["higher_is_better"] is True
    (entry,) = saved["clips"]
    record = json.loads((out / entry["dir"] / "clip.json").read_text())
    for method in METHODS:
        rec = record["methods"]["ensemble"][method]
        mass = float(np.nansum(Attribution.load(out / entry["dir"] / rec["attribution"]).clip_map))
        assert rec["scores"]["total_mass"]["value"] == pytest.approx(mass, rel=1e-5)
        cell = section["summary"]["ensemble"][method]
        assert cell["value"] == pytest.approx(mass, rel=1e-5) and cell["n_clips"] == 1 and cell["control"] is None
    rows = json.loads((out / "metrics.json").read_text())["rows"]
    assert all("total_mass" in row["scores"] for row in rows)
    checks = {c["name"]: c for c in saved["checks"]}
    toy = checks["gradcam: Total attribution mass (Ensemble)"]
    assert toy["status"] == "pass" and toy["evidence"] == "index.html#metric-total_mass"


def test_a_clip_audited_before_a_metric_was_registered_is_computed_again(tone_model, tone_clip, speech_wav, tmp_path):
    settings = AuditSettings(methods=("gradcam",), probe=False, faithfulness_steps=2, faithfulness_random=1)

    def audit():
        return run_audit([tone_model], [ClipSpec(str(speech_wav))], tmp_path / "audit", settings,
                         load_features=lambda _path: tone_clip, progress=False)

    assert audit()["metrics"].keys() == {"deletion", "insertion", "model_randomisation", "method_agreement",
                                        "unheard_mass", "non_speech_mass"}
    register_metric(TotalMass)
    try:
        index = audit()
    finally:
        unregister_metric(TotalMass.id)
    assert index["reused"] == 0 and index["metrics"]["total_mass"]["summary"]["ensemble"]["gradcam"]["n_clips"] == 1
    assert audit()["reused"] == 1  # a record holding more metrics than registered is still current


def test_a_registered_metric_reaches_the_report(toy_audit, tmp_path):
    import pandas as pd

    from seraudit.ensemble.run import write_run
    from seraudit.reports.build import write_report

    out, _ = toy_audit
    run_dir = write_run(tmp_path / "run", {"gds": {"enabled": False}}, {}, pd.DataFrame({"path": []}), {}, {},
                        ["no_tone", "tone"], None)
    html = write_report(run_dir, out, tmp_path / "report").read_text(encoding="utf-8")
    assert '<section id="metric-total_mass">' in html and "<h3>Total attribution mass</h3>" in html
    assert "Sum of the map over every cell." in html
