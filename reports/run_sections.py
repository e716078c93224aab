"""The run-level sections of the report, read from a run folder's saved records (never recomputed).

Each function takes what `ensemble.run.Run` read (``run.json`` provenance,
``folds.json``, ``predictions.csv``, ``results.json``) and returns plain rows for one
section: the corpus, the fold plan, the metrics with their fold spread, per-class
recall, the GDS ablation, provenance and the model card. A record a run did not
save gives an empty section that says so, never an invented figure.
"""

from __future__ import annotations

import os
from typing import Any, Callable

from seraudit.ensemble.model.naming import model_display
from seraudit.ensemble.model.spec import MODELS as MODEL_BRANCHES

#: Metrics of the metrics table, in order: results.json key -> shown name.
METRICS = {"uar": "UAR", "accuracy": "accuracy", "macro_f1": "macro-F1", "top2_accuracy": "top-2 accuracy",
           "top3_accuracy": "top-3 accuracy"}
INTENDED_USE = ("Research audit of speech-emotion-recognition models: how well frozen audio backbones and their "
                "ensemble recognise acted emotions, and what their explanations point at. Not for decisions about "
                "people, clinical use or emotion surveillance.")
#: What each corpus is and under which terms it may be used (from the data's own documentation).
CORPUS_CARDS = {
    "ravdess": {"name": "RAVDESS, speech part, audio only (Livingstone & Russo, 2018, PLoS ONE 13(5): e0196391)",
                "licence": "CC BY-NC-SA 4.0 (non-commercial, share alike)",
                "truncation": "every clip of this copy is cut to 2.389 s (speech starts about 1 s in, so most "
                              "utterances are cut off); figures are not comparable with published RAVDESS results"},
    "emodb": {"name": "Berlin Database of Emotional Speech, EmoDB (Burkhardt et al., 2005, Interspeech)",
              "licence": "free for research use",
              "truncation": "every clip of this copy is cut or zero-padded to 2.0 s; figures are not comparable "
                            "with published EmoDB results"},
}


def corpus_section(results: dict[str, Any], predictions, provenance: dict[str, Any]) -> dict[str, Any]:
    """Clips, speakers, clips per emotion, clip lengths and GDS-kept/dropped patches."""
    saved = results.get("corpus_summary") or {}
    labels = [str(x) for x in results.get("labels", provenance.get("labels", []))]
    per_emotion = dict(saved.get("clips_per_emotion") or {})
    if not per_emotion and len(predictions):
        clips = predictions.drop_duplicates("path")
        per_emotion = {label: int((clips["label"] == label).sum()) for label in labels}
    gds = results.get("gds") or provenance.get("gds") or {}
    return {
        "corpus": results.get("corpus_display") or provenance.get("corpus_display") or provenance.get("corpus", ""),
        "data": str(provenance.get("data", "")),
        "n_clips": saved.get("n_clips", results.get("n_clips")),
        "n_speakers": saved.get("n_speakers", results.get("n_speakers")),
        "clips_per_emotion": per_emotion,
        "duration_s": saved.get("duration_s") or {},
        "patches": saved.get("patches") or {},
        "gds_enabled": bool(gds.get("enabled", False)),
        "gds_threshold": gds.get("threshold"),
        "gds_kept_fraction": results.get("gds_kept_fraction"),
        "max_clips": (provenance.get("settings") or {}).get("max_clips"),
    }


def folds_section(folds: dict[str, Any], predictions) -> list[dict[str, Any]]:
    """One row per cross-validation fold: its speakers, how many test clips it scored, and the emotions its test
    clips lack (``missing``, with ``missing_text``: which, and how many clips of each the corpus has)."""
    from seraudit.ensemble.data.corpus_data import label_set
    from seraudit.ensemble.data.fold_coverage import fold_coverage, missing_text

    first_model = predictions["model"].iloc[0] if len(predictions) else None
    own = predictions[predictions["model"] == first_model] if first_model is not None else predictions
    coverage = {f["fold"]: f for f in fold_coverage(own, label_set(own["label"].astype(str)))["folds"]} if len(own) else {}
    rows = []
    for fold in folds.get("folds", []):
        index = fold.get("index")
        held = coverage.get(index, {})
        rows.append({
            "index": index,
            "train": len(fold.get("train_speakers", [])),
            "validation": len(fold.get("val_speakers", [])),
            "test_speakers": [str(s) for s in fold.get("test_speakers", [])],
            "test_clips": int((own["fold"] == index).sum()) if len(own) else None,
            "clips_per_emotion": held.get("clips_per_emotion", {}),
            "missing": held.get("missing", []),
            "missing_text": missing_text(held) if held else "",
        })
    return rows


def metrics_section(results: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """(metric names shown, one row per model): mean ± std, min–max over folds and pooled, in percent."""
    present = [k for k in METRICS if any(isinstance(m.get(k), dict) for m in results.get("models", {}).values())]
    rows = []
    for name, rec in results.get("models", {}).items():
        cells = {}
        for key in present:
            value = rec.get(key)
            if not isinstance(value, dict):
                cells[METRICS[key]] = None
                continue
            folds = [float(v) for v in value.get("folds", []) if v is not None]
            cells[METRICS[key]] = {"mean": value.get("mean"), "std": value.get("std"), "pooled": value.get("pooled"),
                                   "min": min(folds) if folds else None, "max": max(folds) if folds else None}
        rows.append({"model": name, "display_name": rec.get("display_name", name), "cells": cells,
                     "n_folds": len((rec.get("uar") or {}).get("folds", []))})
    return [METRICS[k] for k in present], rows


def recall_section(results: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """(labels, one row per model): pooled recall of each emotion over all test clips, in percent."""
    labels = [str(x) for x in results.get("labels", [])]
    rows = [{"model": name, "display_name": rec.get("display_name", name),
             "recall": {label: (rec.get("per_class_recall") or {}).get(label) for label in labels}}
            for name, rec in results.get("models", {}).items() if rec.get("per_class_recall")]
    return labels, rows


def provenance_section(provenance: dict[str, Any], path_display: Callable[[str], str]) -> dict[str, Any]:
    """Weights (source, SHA-256, pretrained or not), library versions, seeds and the command line."""
    weights = []
    for backbone, w in (provenance.get("weights") or {}).items():
        weights.append({
            "backbone": model_display(backbone),
            "pretrained": bool(w.get("pretrained")),
            "description": w.get("description", ""),
            "origin": w.get("origin", ""),
            "path": path_display(str(w["path"])) if w.get("path") else "",
            "url": w.get("url") or "",
            "sha256": w.get("sha256") or "",
            "integrity": w.get("integrity") or "",
        })
    command = provenance.get("command_line")
    if isinstance(command, (list, tuple)):
        command = " ".join(str(part) for part in command)
    settings = provenance.get("settings") or {}
    return {
        "weights": weights,
        "library_versions": dict(provenance.get("library_versions") or {}),
        "seeds": dict(provenance.get("seeds") or {}),
        "command_line": command or "",
        "training": provenance.get("training", ""),
        "settings": {k: settings[k] for k in ("models", "fusion", "head", "gds", "max_clips", "n_boot", "allow_untrained")
                     if k in settings},
    }


#: run.json "seconds" keys (training's own timings) -> phase names, for runs without the main job's timings.json.
TRAINING_SECONDS = {"prepare": "layer features + eGeMAPS", "cross_validation": "cross-validation"}


def run_record(provenance: dict[str, Any], predictions, root: str, *, n_left_out: int = 0,
               run_file: str | os.PathLike | None = None, timings: dict[str, Any] | None = None,
               timings_file: str | os.PathLike | None = None) -> dict[str, Any]:
    """How the run was made beyond its settings: the software that trained it, its date, the clip list's SHA-256 and
    count (`core.provenance.clip_list_digest` over predictions.csv: path relative to the corpus folder, label), the
    files training left out, and where the main job's time went (``timings.json``; else training's own ``seconds``).

    What the run did not record says so: software None, the date from ``run.json``'s file time (``date_source``).
    """
    from seraudit.core.provenance import clip_list_digest, file_time

    recorded = provenance.get("created")
    clip_list = provenance.get("clip_list")
    if not clip_list and len(predictions) and {"path", "label"} <= set(predictions.columns):
        clips = predictions.drop_duplicates("path")
        clip_list = clip_list_digest(zip(clips["path"].astype(str), clips["label"].astype(str)), root)
    return {
        "software": provenance.get("software") or None,
        "date": recorded or (file_time(run_file) if run_file else None),
        "date_source": "recorded" if recorded else "file time",
        "clip_list": clip_list or None,
        "n_left_out": n_left_out,
        "timings": timings_table(timings, provenance, timings_file),
    }


def timings_table(timings: dict[str, Any] | None, provenance: dict[str, Any],
                  timings_file: str | os.PathLike | None = None) -> dict[str, Any] | None:
    """``{"source", "written", "phases": [{name, seconds, note, parts}], "total_seconds"}`` from the main job's
    ``timings.json`` (`core.timing.Timings.to_dict`), else from training's ``seconds`` in run.json; None without both."""
    from seraudit.core.provenance import file_time

    if isinstance(timings, dict) and timings.get("phases"):
        phases = [{"name": str(p.get("name", "")), "seconds": p.get("seconds"), "note": p.get("note") or "",
                   "parts": [{"name": str(q.get("name", "")), "seconds": q.get("seconds")} for q in p.get("parts") or []]}
                  for p in timings["phases"]]
        return {"source": "the main job (timings.json)", "written": file_time(timings_file) if timings_file else None,
                "phases": phases, "total_seconds": timings.get("total_seconds")}
    seconds = provenance.get("seconds")
    if isinstance(seconds, dict) and seconds:
        phases = [{"name": TRAINING_SECONDS.get(k, k.replace("_", " ")), "seconds": v, "note": "", "parts": []}
                  for k, v in seconds.items() if k != "total"]
        return {"source": "training (run.json)", "written": None, "phases": phases, "total_seconds": seconds.get("total")}
    return None


def gds_ablation_section(results: dict[str, Any]) -> dict[str, Any] | None:
    """The run's saved GDS ablation (UAR with GDS against every patch pooled); None when the run saved none."""
    ablation = results.get("gds_ablation")
    return ablation if isinstance(ablation, dict) and ablation.get("rows") else None


def model_card(results: dict[str, Any], provenance: dict[str, Any]) -> dict[str, Any] | None:
    """The run's model card: intended use, data and licence, what each model holds pretrained, limitations, cross-corpus figures."""
    if not results.get("models"):
        return None
    corpus = str(results.get("corpus") or provenance.get("corpus") or "").lower()
    test_corpus = str(results.get("test_corpus") or "").lower()
    data = [CORPUS_CARDS[c] for c in dict.fromkeys([corpus, test_corpus]) if c in CORPUS_CARDS]
    weights = provenance.get("weights") or {}
    max_clips = (provenance.get("settings") or {}).get("max_clips")
    cross = bool(results.get("cross_corpus"))
    models = []
    for name, rec in results.get("models", {}).items():
        untrained = list(rec.get("untrained") or [])
        parts = []
        if name == "egemaps":
            parts.append("no pretrained part: 88 eGeMAPS functionals (openSMILE) and a logistic regression trained here")
        for b in (b for b in MODEL_BRANCHES.get(name, ()) if b in weights):
            shown = model_display(b)
            if b in untrained or not weights[b].get("pretrained", False):
                parts.append(f"{shown}: NOT pretrained (seeded random weights); its figures measure an untrained network")
            else:
                parts.append(f"{shown}: pretrained ({weights[b].get('description', 'official weights')}), frozen")
        if name != "egemaps":
            parts.append("classification head: trained here on this corpus")
        uar = rec.get("uar") or {}
        models.append({"model": name, "display_name": rec.get("display_name", name), "parts": parts,
                       "untrained": bool(untrained), "uar_mean": uar.get("mean"), "uar_std": uar.get("std"),
                       "uar_pooled": uar.get("pooled")})
    # a corpus's clip-length note holds for the cut copies only: a run titled without a cut length ("RAVDESS", from
    # its clips' measured lengths) used full-length clips; runs that recorded no title were made on the cut copies
    titles = {corpus: str(results.get("corpus_display") or "").split(" -> ")[0],
              test_corpus: str(results.get("test_corpus_display") or "")}
    limitations = [CORPUS_CARDS[c]["truncation"] for c in dict.fromkeys([corpus, test_corpus])
                   if c in CORPUS_CARDS and (not titles.get(c) or titles[c].endswith(" s)"))]
    if max_clips:
        limitations.append(f"trained on at most {max_clips} clips of the corpus (a quick run), not the whole corpus")
    if cross:
        limitations.append("trained on one corpus and tested on another, over the shared emotions only "
                           f"({', '.join(results.get('shared_labels', []))})")
    else:
        limitations.append("folds are speaker-independent within one corpus only: the figures say nothing about "
                           "other corpora, languages, recording set-ups or spontaneous speech")
    limitations.append("acted emotions spoken by a small number of actors")
    return {
        "intended_use": INTENDED_USE,
        "data": data,
        "models": models,
        "limitations": limitations,
        "cross_corpus": ({"corpus": results.get("corpus_display", ""), "over": results.get("metrics_over", "")}
                         if cross else None),
    }
