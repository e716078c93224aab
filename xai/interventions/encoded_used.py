"""Encoded x used: per model and eGeMAPS group, whether probing finds it above its control and whether interventions move the decision.

"Encoded" comes from the audit's probing controls (``audit.json["probing"]["controls"]``, written by
`xai.probing.run_probing.probe_corpus`): a group is encoded by a backbone when the speaker-bootstrap
interval of its probe R² minus the random-weight network's R² lies above 0
(`xai.probing.controls.control_verdict` says "above control"); a model encodes it when any of its
pretrained branches does. "Used" comes from `xai.interventions.dose_response` (`USED_RULE`): any feature of
the group moves the decision beyond the identity-resynthesis null.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from seraudit.xai.probing.controls import control_verdict

#: The eGeMAPS parameter group (`preprocessing.egemaps_names.CATEGORIES`) each intervention changes.
FEATURE_GROUPS: dict[str, str] = {
    "f0_level": "frequency/pitch-formant",
    "f0_range": "frequency/pitch-formant",
    "intensity": "energy/loudness",
    "rate": "temporal",
    "tilt": "spectral/balance",
}
VERDICTS = {(True, True): "encoded and used", (True, False): "encoded, not used",
            (False, True): "used, not linearly encoded", (False, False): "neither"}


def _controls(probing_controls: Any) -> list[Mapping[str, Any]]:
    if isinstance(probing_controls, Mapping):  # the audit's whole "probing" section
        return list(probing_controls.get("controls") or [])
    return list(probing_controls or [])


def encoded_used_table(interventions: Mapping[str, Any], probing_controls: Any) -> list[dict[str, Any]]:
    """One row per model and eGeMAPS group with an intervention: ``encoded``, ``used``, the ``verdict`` and the figures.

    `interventions` is `xai.interventions.stage.run_interventions`' result (its ``models`` and
    ``dose_response["used"]``); `probing_controls` the control rows (or the audit's ``probing`` section).
    ``encoded`` is None when no pretrained branch of the model was probed against a random-weight control,
    ``used`` None when no verified variant of the group was scored; the verdict then says what is missing.
    """
    controls = _controls(probing_controls)
    used_rows = interventions.get("dose_response", {}).get("used", [])
    rows = []
    for model, info in interventions.get("models", {}).items():
        branches = list(info.get("branches") or [model])
        for group in dict.fromkeys(FEATURE_GROUPS.values()):
            features = [f for f, g in FEATURE_GROUPS.items() if g == group]
            probes = [r for r in controls if r.get("category") == group and r.get("backbone") in branches
                      and r.get("weights", "pretrained") == "pretrained"]
            encoded_figures = [{
                "backbone": r.get("backbone"), "r2": r.get("r2"), "control_r2": r.get("control_r2"),
                "above_control": r.get("above_control"), "ci_low": r.get("control_ci_low"),
                "ci_high": r.get("control_ci_high"),
                "verdict": control_verdict(_num(r.get("control_ci_low")), _num(r.get("control_ci_high")))}
                for r in probes]
            encoded = any(f["verdict"] == "above control" for f in encoded_figures) if encoded_figures else None
            used_figures = [u for u in used_rows if u.get("model") == model and u.get("feature") in features]
            used = any(u.get("used") for u in used_figures) if used_figures else None
            if encoded is None or used is None:
                lacking = [what for what, value in (("no probing against a random-weight control", encoded),
                                                    ("no verified intervention scored", used)) if value is None]
                verdict = "not measured: " + "; ".join(lacking)
            else:
                verdict = VERDICTS[(encoded, used)]
            rows.append({"model": model, "group": group, "features": features, "encoded": encoded, "used": used,
                         "verdict": verdict, "encoded_figures": encoded_figures,
                         "used_figures": [{"feature": u["feature"], "used": u["used"], "level": u.get("level"),
                                           "strengths": u.get("strengths", [])} for u in used_figures]})
    return rows


def _num(value: Any) -> float:
    return float(value) if value is not None else float("nan")
