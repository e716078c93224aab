"""Encoded x used: the four verdicts from the audit's probing controls and the interventions' used rule."""

from __future__ import annotations

import pytest

from seraudit.xai.interventions.encoded_used import FEATURE_GROUPS, encoded_used_table


def control(backbone, category, low, high, weights="pretrained"):
    return {"backbone": backbone, "weights": weights, "category": category, "r2": 0.5, "control_r2": 0.3,
            "above_control": (low + high) / 2, "control_ci_low": low, "control_ci_high": high}


@pytest.fixture()
def table():
    interventions = {
        "models": {"yamnet": {"branches": ["yamnet"]}, "ensemble": {"branches": ["vggish", "yamnet"]},
                   "vggish": {"branches": ["vggish"]}},
        "dose_response": {"used": [
            {"model": "yamnet", "feature": "f0_level", "used": False, "level": 0.9875, "strengths": []},
            {"model": "yamnet", "feature": "f0_range", "used": True, "level": 0.983, "strengths": []},
            {"model": "yamnet", "feature": "intensity", "used": False, "level": 0.975, "strengths": []},
            {"model": "yamnet", "feature": "rate", "used": True, "level": 0.975, "strengths": []},
            {"model": "ensemble", "feature": "tilt", "used": True, "level": 0.975, "strengths": []},
            {"model": "vggish", "feature": "tilt", "used": True, "level": 0.975, "strengths": []},
        ]},
    }
    probing = {"controls": [
        control("yamnet", "frequency/pitch-formant", 0.05, 0.2),  # above its random-network control
        control("yamnet", "energy/loudness", 0.02, 0.1),
        control("yamnet", "temporal", -0.05, 0.04),  # control-level
        control("yamnet", "spectral/balance", -0.1, 0.02),
        control("vggish", "spectral/balance", 0.01, 0.3, weights="random (control)"),  # a control, never a finding
    ]}
    return {(r["model"], r["group"]): r for r in encoded_used_table(interventions, probing)}


def test_the_four_verdicts(table):
    assert table[("yamnet", "frequency/pitch-formant")]["verdict"] == "encoded and used"  # f0_range used
    assert table[("yamnet", "energy/loudness")]["verdict"] == "encoded, not used"
    assert table[("yamnet", "temporal")]["verdict"] == "used, not linearly encoded"
    assert table[("ensemble", "spectral/balance")]["verdict"] == "used, not linearly encoded"  # yamnet control-level
    assert table[("yamnet", "frequency/pitch-formant")]["encoded_figures"][0]["verdict"] == "above control"


def test_a_random_weight_backbone_is_never_evidence_of_encoding(table):
    row = table[("ensemble", "spectral/balance")]
    assert [f["backbone"] for f in row["encoded_figures"]] == ["yamnet"]


def test_what_was_not_measured_is_said(table):
    assert table[("yamnet", "spectral/balance")]["verdict"] == "not measured: no verified intervention scored"
    assert table[("ensemble", "temporal")]["verdict"] == "not measured: no verified intervention scored"
    assert table[("vggish", "spectral/balance")]["verdict"] == "not measured: no probing against a random-weight control"


def test_every_intervention_feature_maps_to_an_egemaps_group():
    from seraudit.preprocessing.egemaps_names import CATEGORIES

    assert set(FEATURE_GROUPS.values()) <= set(CATEGORIES)
    assert FEATURE_GROUPS == {"f0_level": "frequency/pitch-formant", "f0_range": "frequency/pitch-formant",
                              "intensity": "energy/loudness", "rate": "temporal", "tilt": "spectral/balance"}
