"""The verdict's rules: calibrated thresholds beside each value, intervals, ids and evidence; untrained and unusable files always show."""

from __future__ import annotations

from seraudit.xai.audit.checks import audit_checks

INDEX = {
    "reference_model": "ensemble",
    "methods": ["gradcam", "occlusion"],
    "models": {"ensemble": {"display_name": "Ensemble (late fusion; VGGish untrained)", "untrained_branches": ["vggish"]},
               "yamnet": {"display_name": "YAMNet", "untrained_branches": []}},
    "summary": {"ensemble": {
        "gradcam": {"n_clips": 8, "deletion_beats_random": 0.875, "deletion_gain_ci": [0.01, 0.09],
                    "insertion_beats_random": 0.25, "insertion_gain_ci": [-0.09, -0.01]},
        "occlusion": {"n_clips": 2, "deletion_beats_random": 0.5, "deletion_gain_ci": None,
                      "insertion_beats_random": 0.5, "insertion_gain_ci": [-0.02, 0.05]},
    }},
    "sanity": {"rows": [{"model": "ensemble", "method": "gradcam", "spearman": 0.1, "n_clips": 2, "stage_name": "head"},
                        {"model": "ensemble", "method": "occlusion", "spearman": 0.9, "n_clips": 2, "stage_name": "head"}]},
    "failures": [{"clip": "/data/broken.wav", "error": "unreadable"}],
}
RESULTS = {
    "models": {"ensemble": {"display_name": "Ensemble (late fusion; VGGish untrained)", "untrained": ["vggish"]},
               "vggish": {"display_name": "VGGish (untrained)", "untrained": ["vggish"]}},
    "comparisons": [
        {"a": "ensemble", "b": "yamnet", "uar_difference": 4.0, "ci_low": 1.0, "ci_high": 7.0, "p_value": 0.01},
        {"a": "ensemble", "b": "vggish", "uar_difference": -3.0, "ci_low": -6.0, "ci_high": -0.5, "p_value": 0.04},
        {"a": "ensemble", "b": "egemaps", "uar_difference": 1.0, "ci_low": -2.0, "ci_high": 4.0, "p_value": 0.5},
    ],
}


def by_name(checks):
    return {c["name"]: c for c in checks}


def cell(value, control=None, threshold=None, ci=None, n=8, **extra):
    return {"value": value, "control": control, "n_clips": n, "beats_control": None if control is None else 0.8,
            "gain_ci": ci, "threshold": threshold, **extra}


#: An audit with the metrics section: deletion calibrated against random maps, randomisation against random models.
CALIBRATED = {**INDEX, "metrics": {
    "deletion": {"summary": {
        "ensemble": {"gradcam": cell(0.15, 0.20, 0.18, [0.01, 0.09], null_gain_q95=0.02),  # beats both: pass
                     "occlusion": cell(0.19, 0.20, 0.18, [0.001, 0.02], null_gain_q95=0.02)},  # not past random maps
        "yamnet": {"gradcam": cell(0.16, 0.20, 0.18, [-0.01, 0.09], null_gain_q95=0.02),  # past them, CI holds 0
                   "occlusion": cell(0.10, 0.20, 0.18, [0.05, 0.12], null_gain_q95=0.02)}}},
    "model_randomisation": {"summary": {
        "ensemble": {"gradcam": cell(0.2, 0.3, 0.65, margin_ci=[0.3, 0.6], stage_name="head + top 2 blocks"),
                     "occlusion": cell(0.9, 0.8, 0.9, margin_ci=[-0.1, 0.05], stage_name="head + top 2 blocks")}}},
}}


def test_each_check_has_an_id_a_number_its_threshold_a_status_and_evidence(tmp_path):
    import json

    (tmp_path / "run" / "audit").mkdir(parents=True)
    (tmp_path / "run" / "results.json").write_text(json.dumps(RESULTS), encoding="utf-8")
    index = {**CALIBRATED, "run": str(tmp_path / "run")}
    checks = audit_checks(index, RESULTS, [{"clip": "/data/silent.wav", "error": "no speech detected"}],
                          audit_dir=tmp_path / "run" / "audit")
    for c in checks:
        assert {"id", "name", "status", "value", "threshold", "control", "figure", "evidence", "evidence_audit"} <= set(c)
        assert c["status"] in ("pass", "warn", "fail") and c["figure"] and c["evidence"]
        assert c["value"] is None or isinstance(c["value"], float)
        assert c["threshold"] is None or isinstance(c["threshold"], float)
    assert len({c["id"] for c in checks}) == len(checks)  # stable ids, one per check
    assert [c["id"] for c in checks] == [c["id"] for c in audit_checks(index, RESULTS, audit_dir=tmp_path / "run" / "audit")]
    named = by_name(checks)
    assert named["Ensemble beats YAMNet"]["status"] == "pass"
    assert named["Ensemble beats VGGish"]["status"] == "fail"
    baseline = named["Ensemble beats eGeMAPS baseline"]
    assert baseline["status"] == "warn" and baseline["figure"].startswith("+1.0 UAR points [-2.0, +4.0], McNemar p = 0.5")
    assert baseline["value"] == 1.0 and baseline["threshold"] == 0.0 and baseline["id"] == "comparison.ensemble.egemaps"
    assert baseline["evidence"] == "index.html#comparisons"
    # evidence from the audit folder: a file there (or in the run beside it) and, in it, the figure judged
    audit_dir = tmp_path / "run" / "audit"
    (audit_dir / "audit.json").write_text(json.dumps(index), encoding="utf-8")
    (audit_dir / "failures.csv").write_text("clip,error\n", encoding="utf-8")
    for c in checks:
        target, _, pointer = c["evidence_audit"].partition("#")
        assert (audit_dir / target).is_file(), c["evidence_audit"]
        if pointer:
            node = json.loads((audit_dir / target).read_text(encoding="utf-8"))
            for key in pointer.strip("/").split("/"):
                key = key.replace("~1", "/").replace("~0", "~")
                node = node[int(key)] if isinstance(node, list) else node[key]
            if c["id"].startswith(("deletion.", "model_randomisation.")) and not c["id"].endswith("not_run"):
                assert node["value"] == c["value"] and node["threshold"] == c["threshold"]
    assert baseline["evidence_audit"] == "../results.json#/comparisons/2"


def test_the_file_status_is_the_worst_check():
    from seraudit.xai.audit.checks import overall_status

    checks = audit_checks(CALIBRATED, RESULTS)
    assert overall_status(checks) == "fail"
    assert overall_status([c for c in checks if c["status"] != "fail"]) == "warn"
    assert overall_status([c for c in checks if c["status"] == "pass"]) == "pass"
    assert overall_status([]) == "warn"  # nothing checked is not a pass


def test_calibrated_checks_pass_only_past_the_control_threshold_and_with_an_interval_above_0():
    named = by_name(audit_checks(CALIBRATED, RESULTS))
    suffix = "(Ensemble)"
    deletion = named[f"gradcam beats its random baseline on deletion {suffix}"]
    assert deletion["status"] == "pass" and (deletion["value"], deletion["threshold"], deletion["control"]) == (
        0.15, 0.18, 0.20)
    assert "random orders 0.200; passes below 0.180" in deletion["figure"]  # value, control and threshold side by side
    assert deletion["evidence"] == "model-ensemble.html#faithfulness-ensemble"
    assert named[f"occlusion beats its random baseline on deletion {suffix}"]["status"] == "fail"  # a random map's
    assert named["gradcam beats its random baseline on deletion (YAMNet)"]["status"] == "warn"  # interval holds 0
    assert named["occlusion beats its random baseline on deletion (YAMNet)"]["status"] == "pass"  # every model


def test_randomisation_passes_only_below_its_calibrated_threshold():
    named = by_name(audit_checks(CALIBRATED, RESULTS))
    passing = named["gradcam changes when Ensemble is randomised"]
    assert passing["status"] == "pass" and passing["threshold"] == 0.65 and passing["control"] == 0.3
    assert "two random-weight models 0.30; passes below 0.65" in passing["figure"]
    failing = named["occlusion changes when Ensemble is randomised"]
    assert failing["status"] == "fail" and "passes below 0.90" in failing["figure"]
    not_run = named["model-randomisation check (YAMNet)"]  # every audited model has its check
    assert not_run["status"] == "warn" and "--sanity" in not_run["figure"] and not_run["id"] == (
        "model_randomisation.yamnet.not_run")
    legacy = by_name(audit_checks(INDEX, RESULTS))  # an audit from before the calibration: nothing to judge against
    assert legacy["gradcam changes when Ensemble is randomised"]["status"] == "warn"


def test_the_gain_rule_still_reads_audits_written_before_the_calibration():
    named = by_name(audit_checks(INDEX, RESULTS))
    suffix = "(Ensemble)"
    deletion = named[f"gradcam beats its random baseline on deletion {suffix}"]
    assert deletion["status"] == "pass" and deletion["figure"].startswith("beats random orders on 88 % of 8 clips")
    assert named[f"gradcam beats its random baseline on insertion {suffix}"]["status"] == "fail"
    too_few = named[f"occlusion beats its random baseline on deletion {suffix}"]
    assert too_few["status"] == "warn" and "too few clips" in too_few["figure"]


def test_untrained_backbones_and_unusable_files_always_show():
    named = by_name(audit_checks(INDEX, RESULTS, [{"clip": "/data/silent.wav", "error": "no speech detected"}]))
    untrained = named["untrained backbones"]
    assert untrained["status"] == "warn" and untrained["figure"] == "VGGish untrained (random weights) in Ensemble, VGGish"
    assert untrained["value"] == 2.0 and untrained["id"] == "untrained_backbones"
    files = named["files that could not be used"]
    assert (files["status"], files["value"], files["figure"], files["evidence"], files["evidence_audit"]) == (
        "warn", 2.0, "2 files", "index.html#failures", "failures.csv")
    clean = by_name(audit_checks({**INDEX, "models": {}, "failures": []}, {"comparisons": []}))
    assert clean["every backbone pretrained"]["status"] == "pass"
    assert clean["files that could not be used"]["status"] == "pass"


def test_each_metric_derives_its_check_from_what_it_declares():
    from seraudit.xai.audit.summary import metric_sections
    from seraudit.xai.metrics.base import Metric
    from seraudit.xai.metrics.registry import register_metric, unregister_metric

    class Spread(Metric):
        id, name, threshold, higher_is_better = "spread", "Spread", 0.3, False

        def __call__(self, context):
            return self.result(0.0)

    class Sampled(Spread):
        id, name, on_every_clip = "sampled", "Sampled", False

    register_metric(Spread)
    register_metric(Sampled)
    try:
        sections = metric_sections(INDEX)  # the legacy keys, then a generic section for each new metric
        sections["spread"]["summary"] = {"ensemble": {"gradcam": {"value": 0.1, "n_clips": 3},
                                                      "occlusion": {"value": 0.6, "n_clips": 3}}}
        named = by_name(audit_checks({**INDEX, "metrics": sections}, RESULTS))
    finally:
        unregister_metric("spread")
        unregister_metric("sampled")
    suffix = "(Ensemble)"
    assert named[f"gradcam: Spread {suffix}"]["status"] == "pass"  # below the threshold, lower is better
    occlusion = named[f"occlusion: Spread {suffix}"]
    assert occlusion["status"] == "fail" and occlusion["figure"] == "Spread 0.600 over 3 clips; passes below 0.300"
    assert (occlusion["value"], occlusion["threshold"]) == (0.6, 0.3)
    assert occlusion["evidence"] == "index.html#metric-spread"
    sampled = named["Sampled check (Ensemble)"]
    assert (sampled["status"], sampled["figure"], sampled["evidence"]) == (
        "warn", "not run on this audit", "index.html#metric-sampled")
    assert not any("agreement" in name.lower() for name in named)  # reported without a verdict
    # the generic section gives the same verdicts as the legacy keys it replaces
    assert by_name(audit_checks({**INDEX, "metrics": metric_sections(INDEX)}, RESULTS)) == by_name(
        audit_checks(INDEX, RESULTS))
