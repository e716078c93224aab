"""The verdict's rules: an interval above 0 passes, one below fails, one holding 0 warns; untrained and unusable files always show."""

from __future__ import annotations

from seraudit.xai.audit.checks import SANITY_MAX_SPEARMAN, audit_checks, read_run_failures

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


def test_each_check_has_a_status_a_figure_and_evidence():
    checks = audit_checks(INDEX, RESULTS, [{"clip": "/data/silent.wav", "error": "no speech detected"}])
    assert all(set(c) == {"name", "status", "value", "evidence"} for c in checks)
    assert all(c["status"] in ("pass", "warn", "fail") and c["value"] and c["evidence"] for c in checks)
    named = by_name(checks)
    assert named["Ensemble (late fusion; VGGish untrained) beats YAMNet"]["status"] == "pass"
    assert named["Ensemble (late fusion; VGGish untrained) beats VGGish (untrained)"]["status"] == "fail"
    baseline = named["Ensemble (late fusion; VGGish untrained) beats eGeMAPS baseline"]
    assert baseline["status"] == "warn" and baseline["value"] == "+1.0 UAR points [-2.0, +4.0], McNemar p = 0.5"
    assert baseline["evidence"] == "index.html#comparisons"


def test_faithfulness_checks_follow_the_gain_interval_and_name_the_share_of_clips():
    named = by_name(audit_checks(INDEX, RESULTS))
    suffix = "(Ensemble (late fusion; VGGish untrained))"
    deletion = named[f"gradcam beats its random baseline on deletion {suffix}"]
    assert deletion["status"] == "pass" and deletion["value"].startswith("beats random on 88 % of 8 clips")
    assert deletion["evidence"] == "model-ensemble.html#faithfulness-ensemble"
    assert named[f"gradcam beats its random baseline on insertion {suffix}"]["status"] == "fail"
    too_few = named[f"occlusion beats its random baseline on deletion {suffix}"]
    assert too_few["status"] == "warn" and "too few clips" in too_few["value"]
    assert named[f"occlusion beats its random baseline on insertion {suffix}"]["status"] == "warn"


def test_randomisation_passes_only_when_the_rank_correlation_falls():
    named = by_name(audit_checks(INDEX, RESULTS))
    assert named["gradcam changes when Ensemble (late fusion; VGGish untrained) is randomised"]["status"] == "pass"
    failing = named["occlusion changes when Ensemble (late fusion; VGGish untrained) is randomised"]
    assert failing["status"] == "fail" and f"passes below {SANITY_MAX_SPEARMAN}" in failing["value"]
    not_run = by_name(audit_checks({**INDEX, "sanity": None}, RESULTS))["model-randomisation check"]
    assert not_run["status"] == "warn" and "--sanity" in not_run["value"]


def test_untrained_backbones_and_unusable_files_always_show():
    named = by_name(audit_checks(INDEX, RESULTS, [{"clip": "/data/silent.wav", "error": "no speech detected"}]))
    untrained = named["untrained backbones"]
    assert untrained["status"] == "warn" and untrained["value"] == "VGGish untrained (random weights) in ensemble, vggish"
    assert named["files that could not be used"] == {
        "name": "files that could not be used", "status": "warn", "value": "2 files", "evidence": "index.html#failures"}
    clean = by_name(audit_checks({**INDEX, "models": {}, "failures": []}, {"comparisons": []}))
    assert clean["every backbone pretrained"]["status"] == "pass"
    assert clean["files that could not be used"]["status"] == "pass"


def test_the_runs_failures_csv_is_read_when_present(tmp_path):
    assert read_run_failures(tmp_path) == [] and read_run_failures(None) == []
    (tmp_path / "failures.csv").write_text('clip,error\n/data/a.wav,"no speech detected, 0.0 s voiced"\n', encoding="utf-8")
    assert read_run_failures(tmp_path) == [{"clip": "/data/a.wav", "error": "no speech detected, 0.0 s voiced",
                                             "stage": "training"}]


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
    suffix = "(Ensemble (late fusion; VGGish untrained))"
    assert named[f"gradcam: Spread {suffix}"]["status"] == "pass"  # below the threshold, lower is better
    occlusion = named[f"occlusion: Spread {suffix}"]
    assert occlusion["status"] == "fail" and occlusion["value"] == "Spread 0.60 over 3 clips; passes below 0.3"
    assert occlusion["evidence"] == "index.html#metric-spread"
    assert named["Sampled check"] == {"name": "Sampled check", "status": "warn", "value": "not run on this audit",
                                      "evidence": "index.html#metric-sampled"}
    assert not any("agreement" in name.lower() for name in named)  # reported without a verdict
    # the generic section gives the same verdicts as the legacy keys it replaces
    assert by_name(audit_checks({**INDEX, "metrics": metric_sections(INDEX)}, RESULTS)) == by_name(
        audit_checks(INDEX, RESULTS))
