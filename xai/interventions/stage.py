"""Interventions over clips x models: cached synthesis, verification, held-out predictions, dose-response, audio to listen to.

`run_interventions` resynthesises each clip with every intervention of a plan
(`xai.interventions.resynthesis`), re-measures every variant and keeps the verified ones
(`xai.interventions.verification`), scores the original, the identity resynthesis and each
kept variant with the held-out fold model of each asked model (`Run.model_for_clip`), and
summarises with `xai.interventions.dose_response`. Synthesis and measurements are cached
on disk by (clip content hash, feature, strength, synthesis settings and library versions),
so a second call synthesises and measures nothing. Each kept variant's audio is written
under `out` (FLAC) with its measured change and level; every variant carries the
parameters that reproduce it.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from seraudit.core.errors import AudioError, SerauditError
from seraudit.core.io import atomic_path, write_json
from seraudit.core.naming import slug
from seraudit.ensemble.inference.shared_backbones import EmbeddingMemo, share_towers
from seraudit.xai.interventions.dose_response import ClipScores, dose_response
from seraudit.xai.interventions.resynthesis import (
    DEFAULT_PLAN,
    PRAAT_SETTINGS,
    Intervention,
    apply_plan,
    library_versions,
)
from seraudit.xai.interventions.verification import (
    TOLERANCES,
    egemaps_measures,
    measure,
    pitch_note,
    verify,
)

RESULT_FILE = "interventions.json"
AUDIO_DIR = "audio"
CACHE_KIND = "interventions"
SYNTHESIS_VERSION = 1  # raise when resynthesis or measurement changes: cached variants of older versions are not reused


def synthesis_key() -> str:
    """What a cached variant depends on besides its clip and intervention: settings, tolerances-free, versions."""
    record = {"version": SYNTHESIS_VERSION, "praat": PRAAT_SETTINGS, "libraries": library_versions()}
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:12]


def content_hash(waveform: np.ndarray, sample_rate: int) -> str:
    """SHA-256 of a clip's float32 samples and rate: the clip part of the cache key (a renamed file still hits)."""
    digest = hashlib.sha256(np.ascontiguousarray(waveform, dtype=np.float32).tobytes())
    digest.update(str(int(sample_rate)).encode())
    return digest.hexdigest()


class SynthesisCache:
    """Variants (float32 ``.npy``) and their measurements (``.json``) under ``dir/<synthesis key>/<clip hash>/``."""

    def __init__(self, root: str | os.PathLike | None):
        from seraudit.core.paths import cache_subdir

        self.root = Path(root) if root is not None else cache_subdir(CACHE_KIND)
        self.folder = self.root / synthesis_key()
        self.synthesised = 0
        self.measured = 0
        self.reused = 0

    def _clip(self, clip_hash: str) -> Path:
        return self.folder / clip_hash[:2] / clip_hash

    def audio(self, clip_hash: str, key: str) -> np.ndarray | None:
        path = self._clip(clip_hash) / f"{key}.npy"
        if not path.is_file():
            return None
        self.reused += 1
        return np.load(path)

    def store_audio(self, clip_hash: str, key: str, samples: np.ndarray) -> None:
        with atomic_path(self._clip(clip_hash) / f"{key}.npy") as tmp:
            with open(tmp, "wb") as handle:
                np.save(handle, np.asarray(samples, dtype=np.float32))
        self.synthesised += 1

    def measures(self, clip_hash: str, key: str) -> dict[str, Any] | None:
        path = self._clip(clip_hash) / f"{key}.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def store_measures(self, clip_hash: str, key: str, measures: dict[str, Any]) -> None:
        write_json(self._clip(clip_hash) / f"{key}.json", measures)
        self.measured += 1


def _level(samples: np.ndarray) -> dict[str, float | None]:
    x = np.asarray(samples, dtype=np.float64)
    peak, rms = float(np.max(np.abs(x))), float(np.sqrt(np.mean(x ** 2)))
    return {"peak_dbfs": 20 * np.log10(peak) if peak > 0 else None, "rms_dbfs": 20 * np.log10(rms) if rms > 0 else None}


#: Headroom left below full scale when a clip's listening files are attenuated.
PLAYBACK_HEADROOM_DB = 0.1


def playback_gain_db(signals: Sequence[np.ndarray]) -> float:
    """The one gain (dB, <= 0) that keeps every listening file of a clip below full scale.

    Original, identity and variants are attenuated together, so what a listener compares keeps
    the levels the models heard relative to each other (a +6 dB variant stays 6 dB louder).
    """
    peak = max((float(np.max(np.abs(x))) for x in signals if np.size(x)), default=0.0)
    if peak <= 0.0:
        return 0.0
    return min(0.0, -20.0 * np.log10(peak) - PLAYBACK_HEADROOM_DB)


def _write_flac(path: Path, samples: np.ndarray, sample_rate: int, gain_db: float = 0.0) -> None:
    import soundfile as sf

    scaled = np.asarray(samples, dtype=np.float64) * 10.0 ** (gain_db / 20.0)
    with atomic_path(path) as tmp:
        sf.write(str(tmp), np.clip(scaled, -1.0, 1.0), sample_rate, format="FLAC", subtype="PCM_16")


def _corpus_facts(run, path: str) -> tuple[str | None, str | None]:
    """(true label, speaker) of a corpus clip; (None, None) for a file outside the run's corpus."""
    rows = run.corpus_row(path)
    if not len(rows):
        return None, None
    row = rows.iloc[0]
    return str(row["label"]), str(row["speaker"])


def run_interventions(run, paths: Sequence[str | os.PathLike], models: Sequence[str] | None = None,
                      out: str | os.PathLike | None = None, plan: Sequence[Intervention] = DEFAULT_PLAN,
                      cache_dir: str | os.PathLike | None = None, *, extractor=None, n_boot: int = 1000,
                      seed: int = 0, log=None) -> dict[str, Any]:
    """Verified interventions of `paths` for `models` of `run` (`Run`), as a JSON-ready dict (also ``out/interventions.json``).

    Keys: ``run``, ``out``, ``plan`` (each intervention's parameters), ``settings`` (Praat settings, tolerances,
    library versions, synthesis key), ``models`` (name -> branches, untrained branches), ``clips`` (per clip: path,
    hash, label, speaker, duration, ``notes``, ``measures`` of the original and identity, ``identity`` verdict,
    ``audio`` and ``level`` of original and identity, ``variants`` (feature, strength, key, label, accepted, reason,
    change, intended, checks, measures, level, audio, params), ``predictions`` per model (``explained_by``,
    ``original``, ``identity``, ``variants`` by key: label and probabilities)), ``counts`` (accepted/rejected/skipped
    per variant key), ``dose_response`` (`xai.interventions.dose_response.dose_response`), ``failures`` (clip, error,
    stage), ``cache`` (folder, synthesised, measured, reused), ``seconds``.
    """
    from seraudit.preprocessing.audio import load_audio

    say = log or (lambda text: None)
    started = time.perf_counter()
    seconds: dict[str, float] = {}
    plan = list(dict.fromkeys([Intervention("identity", 0.0), *plan]))
    names = list(models) if models else run.model_names
    missing = [n for n in names if n not in run.model_names]
    if missing:
        raise SerauditError(f"{run.path} has no model(s) {', '.join(missing)} (it holds: {', '.join(run.model_names)}); "
                            "pass `models` with some of those")
    out_dir = Path(out) if out is not None else None
    cache = SynthesisCache(cache_dir)
    failures: list[dict[str, str]] = []
    clips: list[dict[str, Any]] = []
    waveforms: dict[tuple[int, str], np.ndarray] = {}

    # 1. Synthesis and Praat measures, cached.
    t0 = time.perf_counter()
    for path in map(str, paths):
        try:
            loaded = load_audio(path)
        except AudioError as error:
            failures.append({"clip": path, "error": str(error), "stage": "load"})
            continue
        rate = loaded.sample_rate
        samples = np.asarray(loaded.waveform[: int(round(loaded.duration_s * rate))], dtype=np.float32)
        clip_hash = content_hash(samples, rate)
        label, speaker = _corpus_facts(run, path)
        index = len(clips)
        record: dict[str, Any] = {"path": path, "hash": clip_hash, "label": label, "speaker": speaker,
                                  "duration_s": samples.size / rate, "sample_rate": rate, "notes": [],
                                  "dir": f"{index:03d}-{slug(Path(path).stem)}"}
        original = cache.measures(clip_hash, "original")
        if original is None:
            original = measure(samples, rate)
            cache.store_measures(clip_hash, "original", original)
        note = pitch_note(original)
        if note:
            record["notes"].append(note)
        todo = []
        for intervention in plan:
            if intervention.needs_pitch and note:
                continue
            cached = cache.audio(clip_hash, intervention.key)
            if cached is None:
                todo.append(intervention)
            else:
                waveforms[(index, intervention.key)] = cached
        errors: dict[str, str] = {}
        if todo:
            made = apply_plan(samples.astype(np.float64), rate, todo)
            for intervention, result in made.items():
                if isinstance(result, AudioError):
                    errors[intervention.key] = str(result)
                    continue
                result = np.asarray(result, dtype=np.float32)  # what is cached is what is measured and scored
                cache.store_audio(clip_hash, intervention.key, result)
                waveforms[(index, intervention.key)] = result
        waveforms[(index, "original")] = samples
        record["_measures"] = {"original": original}
        record["_errors"] = errors
        for intervention in plan:
            key = intervention.key
            if (index, key) in waveforms:
                m = cache.measures(clip_hash, key)
                if m is None:
                    m = measure(waveforms[(index, key)], rate)
                    cache.store_measures(clip_hash, key, m)
                record["_measures"][key] = m
        clips.append(record)
        say(f"  synthesised {path}")
    seconds["synthesis and Praat measures"] = time.perf_counter() - t0

    # 2. eGeMAPS of everything not measured yet, in one batch.
    t0 = time.perf_counter()
    pending = [(i, key) for i, c in enumerate(clips) for key, m in c["_measures"].items() if "egemaps" not in m]
    if pending:
        found = egemaps_measures([waveforms[(i, key)] for i, key in pending], clips[0]["sample_rate"], extractor)
        for (i, key), values in zip(pending, found):
            clips[i]["_measures"][key].update(values)
            clips[i]["_measures"][key]["egemaps"] = "egemaps_error" not in values
            cache.store_measures(clips[i]["hash"], key, clips[i]["_measures"][key])
    seconds["eGeMAPS"] = time.perf_counter() - t0

    # 3. Verification.
    counts: dict[str, dict[str, int]] = {iv.key: {"accepted": 0, "rejected": 0, "skipped": 0} for iv in plan}
    for i, c in enumerate(clips):
        ms = c.pop("_measures")
        errors = c.pop("_errors")
        c["measures"] = {"original": ms["original"], "identity": ms.get("identity")}
        c["level"] = {"original": _level(waveforms[(i, "original")])}
        identity = verify(plan[0], ms["identity"], ms["original"]) if "identity" in ms else None
        c["identity"] = identity.as_dict() if identity else {"accepted": False, "reason": errors.get("identity", "")}
        if identity is not None:
            c["level"]["identity"] = _level(waveforms[(i, "identity")])
        if identity is not None and not identity.accepted:
            c["notes"].append(f"identity resynthesis is not a faithful copy of this clip ({identity.reason}); "
                              "its variants are left out")
        c["variants"] = []
        for intervention in plan[1:]:
            key = intervention.key
            entry: dict[str, Any] = {"feature": intervention.feature, "strength": intervention.strength, "key": key,
                                     "label": intervention.label, "params": intervention.as_dict()}
            if key not in ms:
                why = errors.get(key) or (c["notes"][0] if intervention.needs_pitch and c["notes"] else "not made")
                entry.update({"accepted": False, "skipped": True, "reason": why})
                counts[key]["skipped"] += 1
            else:
                verdict = verify(intervention, ms[key], ms["identity"])
                entry.update(verdict.as_dict())
                entry.update({"skipped": False, "measures": ms[key], "level": _level(waveforms[(i, key)])})
                if verdict.accepted and not c["identity"]["accepted"]:
                    entry.update({"accepted": False, "reason": "the identity resynthesis (the control) of this clip "
                                                               f"failed its check: {c['identity']['reason']}"})
                counts[key]["accepted" if entry["accepted"] else "rejected"] += 1
            c["variants"].append(entry)
        counts["identity"]["accepted" if c["identity"]["accepted"] else "rejected"] += 1

    # 4. Audio to listen to.
    if out_dir is not None:
        for i, c in enumerate(clips):
            folder = out_dir / AUDIO_DIR / c["dir"]
            keys = ["original"] + (["identity"] if (i, "identity") in waveforms else [])
            keys += [v["key"] for v in c["variants"] if v["accepted"]]
            c["audio"] = {}
            c["playback_gain_db"] = gain = playback_gain_db([waveforms[(i, key)] for key in keys])
            for key in keys:
                target = folder / f"{key}.flac"
                _write_flac(target, waveforms[(i, key)], c["sample_rate"], gain)
                c["audio"][key] = str(target.relative_to(out_dir))
            for v in c["variants"]:
                v["audio"] = c["audio"].get(v["key"])

    # 5. Held-out predictions.
    t0 = time.perf_counter()
    features: dict[tuple[int, str], Any] = {}
    scores: list[ClipScores] = []
    model_info: dict[str, Any] = {}
    memo = EmbeddingMemo()  # frozen towers run once per distinct patch, whichever model or fold asks
    for name in names:
        base = run.model(name)
        model_info[name] = {"branches": sorted(base.branch_untrained), "untrained": base.untrained_branches,
                            "display_name": base.display_name, "labels": list(base.labels)}
        loaded_models: dict[Any, Any] = {}
        for i, c in enumerate(clips):
            label, speaker = c["label"], c["speaker"]
            fold = run.fold_of(speaker) if speaker is not None else None
            key = fold if run.has_fold_model(name, fold) else None
            if key not in loaded_models:
                loaded_models[key] = run.model_for_clip(name, c["path"], base=base)
                share_towers(loaded_models[key], memo)
            model = loaded_models[key]
            explained_by = ({"fold": key, "held_out": True, "text": f"fold {key} model; speaker not seen in training"}
                            if key is not None else
                            {"fold": None, "held_out": False,
                             "text": "final model; not a corpus clip" if label is None else "final model (in-sample)"})
            keys = ["original", "identity"] + [v["key"] for v in c["variants"] if v["accepted"]]
            probs = {}
            try:
                for k in keys:
                    if (i, k) not in waveforms:
                        continue
                    if (i, k) not in features:
                        features[(i, k)] = run.clip((waveforms[(i, k)], c["sample_rate"]))
                    probs[k] = np.asarray(model.predict_clip(features[(i, k)]).probabilities, dtype=np.float64)
            except AudioError as error:
                failures.append({"clip": c["path"], "error": f"{name}: {error}", "stage": "predict"})
                continue
            labels = list(model.labels)
            c.setdefault("predictions", {})[name] = {
                "explained_by": explained_by,
                **{k: {"label": labels[int(np.argmax(p))], "probabilities": dict(zip(labels, map(float, p)))}
                   for k, p in probs.items() if k in ("original", "identity")},
                "variants": {k: {"label": labels[int(np.argmax(p))], "probabilities": dict(zip(labels, map(float, p)))}
                             for k, p in probs.items() if k not in ("original", "identity")},
            }
            if "identity" in probs and c["identity"]["accepted"]:
                by_key = {v["key"]: v for v in c["variants"]}
                scores.append(ClipScores(
                    model=name, clip=c["path"], labels=labels, original=probs["original"], identity=probs["identity"],
                    variants={(by_key[k]["feature"], by_key[k]["strength"]): p for k, p in probs.items()
                              if k in by_key}, speaker=speaker, label=label))
        say(f"  scored {len(clips)} clip(s) with {name}")
    seconds["predictions"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    curves = dose_response(scores, n_boot=n_boot, seed=seed)
    seconds["dose-response"] = time.perf_counter() - t0
    seconds["total"] = time.perf_counter() - started
    result = {
        "run": str(run.path), "out": str(out_dir) if out_dir is not None else None,
        "plan": [{k: v for k, v in iv.as_dict().items() if k not in ("praat", "versions")} | {"key": iv.key}
                 for iv in plan],
        "settings": {"praat": PRAAT_SETTINGS, "tolerances": TOLERANCES, "versions": library_versions(),
                     "synthesis_key": synthesis_key(), "n_boot": n_boot, "seed": seed,
                     "level": "F0, range and rate variants are rescaled to the identity resynthesis' RMS; a variant "
                              "whose peak passes full scale is rejected, never clipped"},
        "models": model_info, "clips": clips, "counts": counts, "dose_response": curves, "failures": failures,
        "cache": {"dir": str(cache.folder), "synthesised": cache.synthesised, "measured": cache.measured,
                  "reused": cache.reused},
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
    }
    result = json.loads(json.dumps(result, default=_plain))
    if out_dir is not None:
        write_json(out_dir / RESULT_FILE, result)
    return result


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON-ready: {type(value).__name__}")
