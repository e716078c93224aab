"""The index page's "What the model uses" and shortcut sections, read from what the audit saved (no model is run).

`xai.audit.model_use.add_model_use` writes three keys into ``audit.json``: ``interventions``
(verified resynthesised variants of each audited clip, their held-out predictions and the
dose-response tables measured against identity resynthesis), ``encoded_used`` (per model and
eGeMAPS group: probing above its random-network control x interventions beyond the identity
null) and ``shortcuts`` (the edit battery, the speaker and lexical probes). `interventions_data`
and `shortcuts_data` turn them into what the partials show: per model the dose-response figure
(`reports.plots.dose_response_svg`), the identity control, the encoded x used rows with the
figures behind each cell; per clip the A/B players (the original, its identity resynthesis and
each accepted variant with its measured change and level) and the variants left out with their
reason; the shortcut checks as table rows. An audit without these keys (older, or written with
``--no-interventions``) gives None, or a one-line "not run", never an error.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Mapping

from seraudit.reports.model import ModelInfo
from seraudit.reports.plots import dose_response_svg
from seraudit.xai.audit.folder import AUDIT_INDEX, read_audit_index
from seraudit.xai.interventions.resynthesis import FEATURES
from seraudit.xai.shortcuts.edits import EDIT_TITLES, EDITS

#: How the report names each intervention's feature, and its strength axis (the unit is the plan's own).
FEATURE_TITLES: dict[str, tuple[str, str]] = {
    "f0_level": ("F0 level (PSOLA, formants kept)", "shift (semitones)"),
    "f0_range": ("F0 range (contour around its median)", "contour scale (× range; 0 = flat)"),
    "intensity": ("intensity", "gain (dB)"),
    "rate": ("speaking rate (pitch kept)", "rate (× original)"),
    "tilt": ("spectral tilt", "tilt change (dB/octave)"),
}
#: The measure each feature's verification reads (`xai.interventions.verification.changes`) and how it is shown.
MEASURED_CHANGE: dict[str, tuple[str, str]] = {
    "f0_level": ("f0_level_st", "st"),
    "f0_range": ("f0_range_ratio", "× F0 range"),
    "intensity": ("intensity_db", "dB"),
    "rate": ("duration_ratio", "× duration"),
    "tilt": ("tilt_db_per_octave", "dB/octave"),
}
#: What each encoded x used verdict (`xai.interventions.encoded_used.VERDICTS`) means, in one sentence.
VERDICT_WORDS: dict[str, str] = {
    "encoded and used": "the backbone's embedding carries it and the decision follows it",
    "encoded, not used": "the embedding carries it, but changing it does not move the decision beyond the vocoder's own effect",
    "used, not linearly encoded": "changing it moves the decision, though a linear probe does not find it above the random network",
    "neither": "no probe above the random network, and no effect beyond the vocoder's own",
}
NOT_RUN = ("Interventions were not run for this audit (it was written with --no-interventions, or before they "
           "existed): no dose-response, A/B players or encoded × used table.")
SHORTCUT_KINDS = (("speaker", "probe", "speaker probe"), ("speaker", "normalised", "per-speaker normalisation"),
                  ("lexical", "probe", "lexical probe"), ("lexical", "uar", "UAR by sentence"))


@functools.lru_cache(maxsize=4)
def _index(path: str, stamp: float) -> dict[str, Any]:
    return read_audit_index(Path(path).parent)


def audit_index(audit_dir: str | os.PathLike) -> dict[str, Any]:
    """The audit's ``audit.json`` (cached per folder and modification time); {} when it cannot be read."""
    path = Path(audit_dir) / AUDIT_INDEX
    try:
        return _index(str(path), path.stat().st_mtime)
    except Exception:  # noqa: BLE001 - a report of an incomplete folder leaves these sections out
        return {}


def model_title(name: str, models: Mapping[str, ModelInfo], record: Mapping[str, Any] | None = None) -> ModelInfo:
    """The model as every page names it: the report's `ModelInfo`, else one from the interventions' record."""
    if name in models:
        return models[name]
    record = record or {}
    return ModelInfo(name=name, display_name=str(record.get("display_name") or ""),
                     untrained_branches=list(record.get("untrained") or record.get("untrained_branches") or []),
                     labels=list(record.get("labels") or []))


def measured_change(variant: Mapping[str, Any]) -> dict[str, Any]:
    """A variant's measured change of its own feature: ``value``, ``unit`` and ``text`` ("+4.1 st", "-6.0 dB",
    "× 1.25 duration"); differences signed with one decimal, ratios with two (as the report's other tables)."""
    feature = str(variant.get("feature", ""))
    measure, unit = MEASURED_CHANGE.get(feature, ("", ""))
    change = variant.get("change") or {}
    value = change.get(measure) if measure else None
    if value is None and (variant.get("intended") or {}).get("measure") == measure:
        value = (variant.get("intended") or {}).get("value")
    if value is None:
        return {"value": None, "unit": unit, "text": "not measured"}
    value = float(value)
    if unit.startswith("×"):
        return {"value": value, "unit": unit, "text": f"× {value:.2f} {unit.removeprefix('× ')}"}
    return {"value": value, "unit": unit, "text": f"{value:+.1f} {unit}"}


def _playback_note(clip: Mapping[str, Any]) -> list[str]:
    """Says how much quieter this clip's files play than the levels shown (the models heard the levels shown)."""
    gain = clip.get("playback_gain_db")
    if gain is None or gain >= 0:
        return []
    return [f"These files play {-gain:.1f} dB below the levels shown, all by the same gain, so that none passes "
            "full scale; the models heard the levels shown."]


def _level(level: Mapping[str, Any] | None) -> dict[str, Any]:
    level = level or {}
    return {"rms_dbfs": level.get("rms_dbfs"), "peak_dbfs": level.get("peak_dbfs")}


def _target(clip: Mapping[str, Any], prediction: Mapping[str, Any]) -> str | None:
    """The class the dose-response follows for a clip: its true emotion, else the identity resynthesis' label."""
    labels = list((prediction.get("identity") or prediction.get("original") or {}).get("probabilities", {}))
    if clip.get("label") is not None and clip["label"] in labels:
        return str(clip["label"])
    identity = prediction.get("identity") or {}
    return identity.get("label")


def _scored(prediction: Mapping[str, Any] | None, target: str | None,
            reference: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """One prediction as a player shows it: label, p(target) and its change from `reference` (the identity's)."""
    if not prediction:
        return None
    p = (prediction.get("probabilities") or {}).get(target) if target else None
    ref = (reference or {}).get("probabilities", {}).get(target) if target and reference else None
    return {"label": prediction.get("label"), "p_target": p,
            "dp": None if p is None or ref is None else float(p) - float(ref)}


def _audio(rel: str | None, audit_dir: Path | None) -> str | None:
    """An audio path relative to the audit folder, when the file is there (a player of a missing file is left out)."""
    if not rel:
        return None
    if audit_dir is not None and not (Path(audit_dir) / rel).is_file():
        return None
    return rel


def clip_rows(interventions: Mapping[str, Any], models: Mapping[str, ModelInfo],
              audit_dir: Path | None = None) -> list[dict[str, Any]]:
    """Per audited clip: its facts and notes, the identity control's verdict, one player per kept sound (original,
    identity, accepted variants: measured change, level, duration, each model's prediction) and the variants left
    out with their reason."""
    out = []
    records = interventions.get("models") or {}
    for clip in interventions.get("clips") or []:
        audio = clip.get("audio") or {}
        levels = clip.get("level") or {}
        measures = clip.get("measures") or {}
        predictions = clip.get("predictions") or {}
        targets = {m: _target(clip, p) for m, p in predictions.items()}

        def scores(key: str) -> list[dict[str, Any]]:
            rows = []
            for m, p in predictions.items():
                chosen = p.get(key) if key in ("original", "identity") else (p.get("variants") or {}).get(key)
                scored = _scored(chosen, targets[m], p.get("identity") if key != "identity" else p.get("original"))
                if scored is not None:
                    rows.append({"model": model_title(m, models, records.get(m)), "target": targets[m], **scored})
            return rows

        players = []
        for key, title in (("original", "original"), ("identity", "identity resynthesis (the control)")):
            if key in levels or key in audio:
                players.append({"key": key, "title": title, "change": None, "level": _level(levels.get(key)),
                                "duration_s": (measures.get(key) or {}).get("duration_s") or clip.get("duration_s"),
                                "audio": _audio(audio.get(key), audit_dir), "predictions": scores(key)})
        left_out = []
        for v in clip.get("variants") or []:
            if v.get("accepted"):
                players.append({"key": v.get("key"), "title": v.get("label") or v.get("key"),
                                "feature": v.get("feature"), "strength": v.get("strength"),
                                "change": measured_change(v), "level": _level(v.get("level")),
                                "duration_s": (v.get("measures") or {}).get("duration_s"),
                                "audio": _audio(v.get("audio"), audit_dir), "predictions": scores(str(v.get("key"))),
                                "params": v.get("params") or {}})
            else:
                left_out.append({"key": v.get("key"), "title": v.get("label") or v.get("key"),
                                 "skipped": bool(v.get("skipped")), "reason": v.get("reason") or "",
                                 "change": None if v.get("skipped") else measured_change(v)})
        identity = clip.get("identity") or {}
        groups: dict[tuple[bool, str], list[dict[str, Any]]] = {}
        for v in left_out:
            groups.setdefault((v["skipped"], v["reason"]), []).append(v)
        out.append({"path": clip.get("path", ""), "label": clip.get("label"), "speaker": clip.get("speaker"),
                    "duration_s": clip.get("duration_s"), "notes": list(clip.get("notes") or []) + _playback_note(clip),
                    "identity_accepted": bool(identity.get("accepted")), "identity_reason": identity.get("reason") or "",
                    "identity_noted": any("identity resynthesis" in str(n) for n in clip.get("notes") or []),
                    "explained_by": {m: (p.get("explained_by") or {}).get("text", "") for m, p in predictions.items()},
                    "players": players, "left_out": left_out,
                    "left_out_groups": [{"skipped": k[0], "reason": k[1], "variants": vs} for k, vs in groups.items()],
                    "n_accepted": sum(1 for v in clip.get("variants") or [] if v.get("accepted"))})
    return out


def dose_panels(curves: list[Mapping[str, Any]], model: str, emotion: str = "all") -> list[dict[str, Any]]:
    """The dose-response panels of `model` (one per feature, in the plan's order): title, axis label, the strength that
    changes nothing, and per strength the mean change of p(target) against identity, its interval and the flip rate."""
    rows = [r for r in curves if r.get("model") == model and r.get("emotion") == emotion]
    order = [f for f in FEATURES if f != "identity"]
    features = sorted({str(r.get("feature")) for r in rows}, key=lambda f: (order.index(f) if f in order else len(order), f))
    panels = []
    for feature in features:
        own = sorted((r for r in rows if r.get("feature") == feature), key=lambda r: float(r.get("strength", 0.0)))
        unit = str(own[0].get("unit") or (FEATURES[feature].unit if feature in FEATURES else ""))
        title, axis = FEATURE_TITLES.get(feature, (feature, f"strength ({unit})" if unit else "strength"))
        panels.append({"feature": feature, "title": title, "xlabel": axis,
                       "neutral": FEATURES[feature].neutral if feature in FEATURES else 0.0,
                       "points": [{k: r.get(k) for k in ("strength", "mean_dp", "ci_low", "ci_high", "flip_rate",
                                                          "n_clips", "n_speakers")} for r in own]})
    return panels


def smallest_flip_rows(rows: list[Mapping[str, Any]], model: str, emotion: str = "all") -> list[dict[str, Any]]:
    """Per feature of `model`, the weakest strength (each direction) that flips any label and at least half of them."""
    own = [r for r in rows if r.get("model") == model and r.get("emotion") == emotion]
    order = [f for f in FEATURES if f != "identity"]
    out = []
    for feature in sorted({str(r.get("feature")) for r in own}, key=lambda f: (order.index(f) if f in order else 99, f)):
        unit = FEATURES[feature].unit if feature in FEATURES else ""

        def shown(value: Any) -> str | None:
            if value is None:
                return None
            return f"× {float(value):g}" if unit.startswith("x") else f"{float(value):+g} {unit}".strip()

        entry: dict[str, Any] = {"feature": feature, "title": FEATURE_TITLES.get(feature, (feature, ""))[0]}
        for r in own:
            if r.get("feature") == feature:
                entry[str(r.get("direction"))] = {"any": shown(r.get("any_flip")), "half": shown(r.get("half_flip"))}
        out.append(entry)
    return out


def identity_row(identity_rows: list[Mapping[str, Any]], model: str) -> dict[str, Any] | None:
    """The identity resynthesis' own effect against the original for `model`, all emotions pooled."""
    return next((dict(r) for r in identity_rows if r.get("model") == model and r.get("emotion") == "all"), None)


def largest_effect(used_figures: list[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The strongest effect beyond the identity null among a group's features (largest mean excess over the
    identity's own change, among strengths whose interval lies above 0; without any, the largest of all)."""
    candidates = [{"feature": u.get("feature"), "level": u.get("level"), **s}
                  for u in used_figures for s in (u.get("strengths") or []) if s.get("excess") is not None]
    if not candidates:
        return None
    beyond = [c for c in candidates if c.get("beyond_null")]
    best = max(beyond or candidates, key=lambda c: float(c["excess"]))
    feature = str(best.get("feature"))
    unit = FEATURES[feature].unit if feature in FEATURES else ""
    strength = float(best.get("strength", 0.0))
    best["strength_text"] = (f"× {strength:g}" if unit.startswith("x") else f"{strength:+g} {unit}").strip()
    best["title"] = FEATURE_TITLES.get(feature, (feature, ""))[0]
    return best


def encoded_used_rows(rows: list[Mapping[str, Any]], model: str) -> list[dict[str, Any]]:
    """The encoded x used table of `model`: per eGeMAPS group its verdict (and what it means) and the figures behind
    each cell (each pretrained backbone's probe against its random-weight control; the largest effect beyond the null)."""
    out = []
    for r in rows:
        if r.get("model") != model:
            continue
        verdict = str(r.get("verdict") or "")
        out.append({"group": r.get("group"), "features": [FEATURE_TITLES.get(f, (f, ""))[0] for f in r.get("features", [])],
                    "encoded": r.get("encoded"), "used": r.get("used"), "verdict": verdict,
                    "meaning": VERDICT_WORDS.get(verdict, ""),
                    "verdict_class": "measured" if verdict in VERDICT_WORDS else "not-measured",
                    "encoded_figures": list(r.get("encoded_figures") or []),
                    "used_effect": largest_effect(list(r.get("used_figures") or []))})
    return out


def flat(settings: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested settings as one level (``to_manipulation.pitch_floor_hz``), in their stored order."""
    out: dict[str, Any] = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flat(value, f"{name}."))
        else:
            out[name] = value
    return out


def reproduce(interventions: Mapping[str, Any]) -> dict[str, Any] | None:
    """What reproduces a variant: one accepted variant's stored parameters (where it sits in ``audit.json``), the
    Praat settings and library versions every variant shares."""
    settings = interventions.get("settings") or {}
    for ci, clip in enumerate(interventions.get("clips") or []):
        for vi, v in enumerate(clip.get("variants") or []):
            if v.get("accepted") and v.get("params"):
                params = v["params"]
                return {"clip": clip.get("path", ""), "key": v.get("key"), "feature": params.get("feature"),
                        "strength": params.get("strength"), "unit": params.get("unit"),
                        "describes": params.get("describes"),
                        "pointer": f"audit.json#/interventions/clips/{ci}/variants/{vi}/params",
                        "praat": flat(params.get("praat") or settings.get("praat") or {}),
                        "versions": params.get("versions") or settings.get("versions") or {},
                        "synthesis_key": settings.get("synthesis_key")}
    return None


def interventions_data(index: Mapping[str, Any], models: Mapping[str, ModelInfo],
                       audit_dir: Path | None = None) -> dict[str, Any] | None:
    """What the "What the model uses" section shows; None when the audit has neither interventions nor shortcut
    checks (the section is left out), ``{"ran": False, "note": NOT_RUN}`` when only the battery ran."""
    interventions = index.get("interventions")
    if not isinstance(interventions, Mapping) or not interventions.get("clips") and not interventions.get("models"):
        return {"ran": False, "note": NOT_RUN} if index.get("shortcuts") else None
    dose = interventions.get("dose_response") or {}
    records = interventions.get("models") or {}
    names = list(dict.fromkeys([*records, *(r.get("model") for r in dose.get("curves", []) if r.get("model"))]))
    per_model = []
    for name in names:
        info = model_title(name, models, records.get(name))
        panels = dose_panels(list(dose.get("curves") or []), name)
        identity = identity_row(list(dose.get("identity") or []), name)
        per_model.append({
            "name": name, "info": info, "identity": identity, "panels": panels,
            "svg": dose_response_svg(panels, f"{info.title}: change of p(target) against identity resynthesis",
                                     null_abs_dp=(identity or {}).get("mean_abs_dp")) if panels else None,
            "smallest_flip": smallest_flip_rows(list(dose.get("smallest_flip") or []), name),
            "encoded_used": encoded_used_rows(list(index.get("encoded_used") or []), name),
        })
    clips = clip_rows(interventions, models, audit_dir)
    counts = interventions.get("counts") or {}
    return {"ran": True, "rule": dose.get("rule") or "", "models": per_model, "clips": clips,
            "n_clips": len(clips), "counts": counts,
            "accepted": sum(c.get("accepted", 0) for k, c in counts.items() if k != "identity"),
            "rejected": sum(c.get("rejected", 0) for k, c in counts.items() if k != "identity"),
            "skipped": sum(c.get("skipped", 0) for k, c in counts.items() if k != "identity"),
            "failures": list(interventions.get("failures") or []), "reproduce": reproduce(interventions),
            "tolerances": (interventions.get("settings") or {}).get("tolerances") or {},
            "level_rule": (interventions.get("settings") or {}).get("level") or "",
            "seconds": (interventions.get("seconds") or {}).get("total")}


def _check_row(check: Mapping[str, Any], model: ModelInfo, what: str) -> dict[str, Any]:
    skipped = check.get("status") == "skipped"
    return {"id": check.get("id", ""), "model": model, "what": what, "status": check.get("status", ""),
            "value": check.get("value"), "control": check.get("control"), "threshold": check.get("threshold"),
            "interval": check.get("interval"), "control_interval": check.get("control_interval"),
            "n_clips": check.get("n_clips"), "figure": check.get("figure", ""),
            "reason": (check.get("reason") or str(check.get("figure", "")).removeprefix("not applicable: "))
            if skipped else ""}


def shortcut_rows(shortcuts: Mapping[str, Any], models: Mapping[str, ModelInfo]) -> dict[str, list[dict[str, Any]]]:
    """The battery as table rows: ``edits`` (edit x model: flip rate and its interval, the null edit's, the threshold,
    the status, clips left out) and ``probes`` (speaker probe, per-speaker normalisation, lexical probe, UAR by
    sentence: the check's value, control, threshold, status; a check that does not apply with its reason)."""
    edits = []
    for model, per_edit in (shortcuts.get("edits") or {}).items():
        info = model_title(model, models)
        order = list(EDITS)
        for edit, check in sorted(per_edit.items(), key=lambda item: (order.index(item[0]) if item[0] in order
                                                                        else len(order), item[0])):
            row = _check_row(check, info, EDIT_TITLES.get(edit, edit))
            row.update({"edit": edit, "flips": check.get("flips"), "control_flips": check.get("control_flips"),
                        "control_n": check.get("control_n"), "delta_p": check.get("delta_p"),
                        "control_delta_p": check.get("control_delta_p"),
                        "left_out": list(check.get("skipped") or [])})
            edits.append(row)
    probes = []
    for group, part, what in SHORTCUT_KINDS:
        for model, parts in (shortcuts.get(group) or {}).items():
            if part not in parts:
                continue
            check = parts[part]
            row = _check_row(check, model_title(model, models), what)
            row.update({"kind": f"{group}.{part}", "chance": check.get("chance"), "uar_plain": check.get("uar_plain"),
                        "uar_normalised": check.get("uar_normalised"), "per_code": check.get("per_code") or {}})
            probes.append(row)
    return {"edits": edits, "probes": probes}


def shortcuts_data(index: Mapping[str, Any], models: Mapping[str, ModelInfo]) -> dict[str, Any] | None:
    """What the shortcut section shows; None when the audit ran no shortcut battery."""
    shortcuts = index.get("shortcuts")
    if not isinstance(shortcuts, Mapping):
        return None
    rows = shortcut_rows(shortcuts, models)
    null = shortcuts.get("null_edit") or ""
    return {**rows, "rule": shortcuts.get("rule") or "", "null_edit": null,
            "null_title": "a 1-sample shift" if null == "shift_1_sample" else EDIT_TITLES.get(null, null),
            "failures": list(shortcuts.get("failures") or [])}


def model_use(page) -> dict[str, Any] | None:
    """The section's data for the index page (`reports.sections.Page`)."""
    report = page.report
    return interventions_data(audit_index(report.audit_dir), report.models, Path(report.audit_dir))


def shortcuts(page) -> dict[str, Any] | None:
    """The shortcut section's data for the index page (`reports.sections.Page`)."""
    report = page.report
    return shortcuts_data(audit_index(report.audit_dir), report.models)
