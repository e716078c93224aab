"""The verdict's calibration check: each model's out-of-fold ECE against fixed bounds (pass <= 0.10, fail > 0.20)."""

from seraudit.xai.audit.checks import audit_checks, calibration_checks


def _results(**eces):
    return {"models": {name: {"display_name": name, "calibration": {
        "ece": ece, "shown": "raw", "n_clips": 40, "raw": {"ece": ece, "mean_confidence": 0.8, "accuracy": 0.6}}}
        for name, ece in eces.items()}}


def test_each_model_gets_a_calibration_check_with_its_ece_threshold_and_evidence():
    checks = {c["id"]: c for c in calibration_checks({}, _results(ensemble=0.05, yamnet=0.15, egemaps=0.31))}
    assert [checks[f"calibration.{m}"]["status"] for m in ("ensemble", "yamnet", "egemaps")] == ["pass", "warn", "fail"]
    ensemble = checks["calibration.ensemble"]
    assert ensemble["value"] == 0.05 and ensemble["threshold"] == 0.10 and ensemble["model"] == "ensemble"
    assert ensemble["evidence"] == "model-ensemble.html#calibration" and "ECE 0.050" in ensemble["figure"]
    assert any(c["id"] == "calibration.egemaps" for c in audit_checks({}, _results(egemaps=0.31)))


def test_a_run_from_before_calibration_was_measured_gets_no_calibration_check():
    assert calibration_checks({}, {"models": {"yamnet": {"display_name": "YAMNet"}}}) == []
