"""Every variant re-measured: kept only when the intended change happened and the rest stayed put, else rejected with its reason.

Each waveform (original, identity resynthesis, variants) is measured the same way
(`measure`): Praat F0 (median and 10-90 % range in semitones, voiced frames), Praat
intensity (mean energy in dB), duration, a spectral tilt in dB per octave (1/3-octave band
levels of the long-term spectrum regressed on log2 frequency), peak and RMS level in dBFS,
and a few eGeMAPS functionals (`egemaps_measures`, one batched request to openSMILE's
worker). A variant is compared with the identity resynthesis (same vocoder), the identity
with the original. `verify` keeps a variant when its own measure moved by the intended
amount within its tolerance and every other measure stayed within its limit. The
tolerances below are physical, fixed before seeing any corpus, and stated with each verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from seraudit.core.errors import AudioError
from seraudit.xai.interventions.resynthesis import PITCH_CEILING_HZ, PITCH_FLOOR_HZ, Intervention, pitch_range

#: Intended F0 level shift, and any other variant's F0 median, within ± half a semitone: a quarter of the 2-semitone
#: step between F0 doses, so neighbouring doses cannot overlap, and below the ~1 semitone that listeners need to
#: tell two speech intonation levels apart.
F0_TOLERANCE_ST = 0.5
#: F0 range (10-90 % percentile range in semitones): a range variant must land within
#: ``max(RANGE_TOLERANCE_ST, RANGE_TOLERANCE_REL * reference range)`` of ``factor * reference range``, and any
#: other variant's range must stay that close to the reference. 0.2 of the range is under half the 0.5 step
#: between range factors (doses stay apart); 1 semitone is the floor for a nearly flat reference, where the
#: tracker's own frame-to-frame jitter is of that order.
RANGE_TOLERANCE_ST = 1.0
RANGE_TOLERANCE_REL = 0.2
#: An intended gain must measure within ± 0.5 dB (the gain is exact; this only absorbs the analysis window);
#: any other variant's intensity must stay within ± 1 dB, about the just-noticeable difference of loudness.
INTENSITY_TOLERANCE_DB = 0.5
INTENSITY_LIMIT_DB = 1.0
#: Duration: a rate variant's length must be ``1 / rate`` of the reference within ± 2 %; any other variant's
#: length must stay within 2 % (PSOLA keeps it exactly unless the duration tier is edited).
DURATION_TOLERANCE_REL = 0.02
#: Spectral tilt: an intended tilt must measure within ± 0.5 dB/octave (a sixth of the ±3 dB/octave dose);
#: any other variant must leave the tilt within ± 1.5 dB/octave (half that dose, so a side effect is always
#: smaller than the weakest tilt intervention). A tilt variant must also
#: move eGeMAPS' alpha ratio (energy above 1 kHz over below, in dB) with the tilt's sign and its Hammarberg
#: index (strongest peak 0-2 kHz over 2-5 kHz) against it, when eGeMAPS was measured.
TILT_TOLERANCE_DB_OCT = 0.5
TILT_LIMIT_DB_OCT = 1.5
#: A clip needs at least 20 voiced Praat frames (0.2 s of voicing at the 10 ms step) for a reliable F0 median and
#: 10-90 % range (20 frames: one frame per 5 % of the distribution); with fewer, its F0 is not measured and it
#: gets no pitch interventions.
MIN_VOICED_FRAMES = 20
#: Full scale. A variant may pass it: the models hear the floating-point signal, so a peak above it is
#: recorded, not a reason to reject (on a peak-normalised corpus every louder or re-pitched variant would
#: be lost). The listening files of a clip are attenuated together instead (`stage.playback_gain_db`).
FULL_SCALE = 1.0

TILT_BANDS_HZ = tuple(500.0 * 2 ** (k / 3) for k in range(10))  # 1/3-octave centres 500 Hz - 4 kHz, above F0
EGEMAPS_MEASURES = {  # eGeMAPS functional -> short name in a variant's record
    "F0semitoneFrom27.5Hz_sma3nz_amean": "egemaps_f0_st",
    "F0semitoneFrom27.5Hz_sma3nz_pctlrange0-2": "egemaps_f0_range_st",
    "loudness_sma3_amean": "egemaps_loudness",
    "alphaRatioV_sma3nz_amean": "alpha_ratio_db",
    "hammarbergIndexV_sma3nz_amean": "hammarberg_db",
    "slopeV0-500_sma3nz_amean": "slope_0_500",
    "slopeV500-1500_sma3nz_amean": "slope_500_1500",
    "VoicedSegmentsPerSec": "voiced_segments_per_s",
}
TOLERANCES = {"f0_st": F0_TOLERANCE_ST, "range_st": RANGE_TOLERANCE_ST, "range_rel": RANGE_TOLERANCE_REL,
              "intensity_db": INTENSITY_TOLERANCE_DB, "intensity_limit_db": INTENSITY_LIMIT_DB,
              "duration_rel": DURATION_TOLERANCE_REL, "tilt_db_per_octave": TILT_TOLERANCE_DB_OCT,
              "tilt_limit_db_per_octave": TILT_LIMIT_DB_OCT, "min_voiced_frames": MIN_VOICED_FRAMES,
              "full_scale": FULL_SCALE}


def _db(x: float) -> float:
    return float(20.0 * np.log10(x)) if x > 0 else float("-inf")


def band_tilt(waveform: np.ndarray, sample_rate: int) -> float:
    """Spectral tilt in dB per octave: the slope of 1/3-octave band levels (500 Hz - 4 kHz) of the long-term spectrum.

    Summing power over each band first makes the measure blind to where the harmonics fall, and starting at
    500 Hz keeps the fundamental (up to about 400 Hz after a +4 semitone shift) out of it, so a pitch change
    does not read as a tilt change.
    """
    from scipy.signal import welch

    x = np.asarray(waveform, dtype=np.float64)
    freqs, power = welch(x, sample_rate, nperseg=min(1024, x.size))
    centres = np.array([c for c in TILT_BANDS_HZ if c * 2 ** (1 / 6) < sample_rate / 2])
    levels = []
    for c in centres:
        band = (freqs >= c * 2 ** (-1 / 6)) & (freqs < c * 2 ** (1 / 6))
        levels.append(10 * np.log10(power[band].sum() + 1e-30) if band.any() else np.nan)
    levels = np.asarray(levels)
    ok = np.isfinite(levels)
    if ok.sum() < 3:
        return float("nan")
    return float(np.polyfit(np.log2(centres[ok]), levels[ok], 1)[0])


def measure(waveform: np.ndarray, sample_rate: int) -> dict[str, Any]:
    """Praat and signal measures of one waveform (no eGeMAPS: see `egemaps_measures`); JSON-ready.

    F0 measures are None when Praat finds fewer than `MIN_VOICED_FRAMES` voiced frames.
    """
    import parselmouth
    from parselmouth.praat import call

    x = np.asarray(waveform, dtype=np.float64)
    if x.ndim != 1 or x.size == 0 or not np.all(np.isfinite(x)):
        raise AudioError(f"cannot measure a waveform of shape {x.shape} with non-finite or no samples")
    sound = parselmouth.Sound(x, sampling_frequency=float(sample_rate))
    floor, ceiling = pitch_range(sound)
    f0 = call(sound, "To Pitch", 0.0, floor, ceiling).selected_array["frequency"]
    f0 = f0[f0 > 0]
    voiced = int(f0.size)
    record: dict[str, Any] = {"voiced_frames": voiced, "f0_median_st": None, "f0_range_st": None}
    if voiced >= MIN_VOICED_FRAMES:
        st = 12.0 * np.log2(f0 / 27.5)  # semitones re 27.5 Hz, as eGeMAPS
        record["f0_median_st"] = float(np.median(st))
        record["f0_range_st"] = float(np.percentile(st, 90) - np.percentile(st, 10))
    peak = float(np.max(np.abs(x)))
    try:
        intensity = float(call(call(sound, "To Intensity", PITCH_FLOOR_HZ, 0.0, "yes"), "Get mean", 0, 0, "energy"))
    except parselmouth.PraatError:  # too short for one intensity frame
        intensity = float("nan")
    record.update({
        "intensity_db": intensity if np.isfinite(intensity) else None,
        "duration_s": x.size / float(sample_rate),
        "tilt_db_per_octave": band_tilt(x, sample_rate),
        "peak_dbfs": _db(peak), "rms_dbfs": _db(float(np.sqrt(np.mean(x ** 2)))),
    })
    return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in record.items()}


def pitch_note(measures: dict[str, Any]) -> str | None:
    """Why a clip gets no pitch interventions (too little voicing for a reliable F0), or None when it has enough."""
    if measures.get("f0_median_st") is not None:
        return None
    return (f"too little pitch for a reliable F0: Praat found {measures.get('voiced_frames', 0)} voiced frames "
            f"({PITCH_FLOOR_HZ:g}-{PITCH_CEILING_HZ:g} Hz), under the {MIN_VOICED_FRAMES} needed; the clip is left out "
            "of the F0 interventions")


def egemaps_measures(waveforms: Sequence[np.ndarray], sample_rate: int, extractor=None) -> list[dict[str, Any]]:
    """The `EGEMAPS_MEASURES` functionals of each waveform, in one request to an openSMILE worker.

    `extractor` is an open `EgemapsExtractor` (None: one is started here and stopped after). A waveform openSMILE
    cannot use gets ``{"egemaps_error": why}``; the others are still measured.
    """
    from seraudit.preprocessing.egemaps import EgemapsExtractor

    if not waveforms:
        return []
    own = extractor is None
    extractor = extractor if extractor is not None else EgemapsExtractor(progress=False)
    signals = [np.asarray(w, dtype=np.float32) for w in waveforms]
    try:
        try:
            rows = [row for _, row in extractor.process_signals(signals, sample_rate).iterrows()]
        except AudioError:  # find the one openSMILE refused; measure the rest
            rows = []
            for signal in signals:
                try:
                    rows.append(extractor.process_signal(signal, sample_rate))
                except AudioError as error:
                    rows.append(str(error))
    finally:
        if own:
            extractor.close()
    out = []
    for row in rows:
        if isinstance(row, str):
            out.append({"egemaps_error": row})
            continue
        values = {short: float(row[name]) for name, short in EGEMAPS_MEASURES.items()}
        out.append({k: (v if np.isfinite(v) else None) for k, v in values.items()})
    return out


@dataclass
class Verdict:
    """Whether a variant is kept, why not, its intended check and every change against its reference."""

    accepted: bool
    reason: str
    change: dict[str, Any]
    intended: dict[str, Any] | None = None
    checks: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "reason": self.reason, "change": self.change, "intended": self.intended,
                "checks": self.checks}


def _diff(a: Any, b: Any) -> float | None:
    return None if a is None or b is None else float(a) - float(b)


def changes(measured: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
    """Each measure's change from `reference`: differences in st, dB, dB/octave; ratios of duration and F0 range."""
    ref_range = reference.get("f0_range_st")
    out = {
        "f0_level_st": _diff(measured.get("f0_median_st"), reference.get("f0_median_st")),
        "f0_range_st": _diff(measured.get("f0_range_st"), ref_range),
        "f0_range_ratio": (measured["f0_range_st"] / ref_range
                           if measured.get("f0_range_st") is not None and ref_range else None),
        "intensity_db": _diff(measured.get("intensity_db"), reference.get("intensity_db")),
        "duration_ratio": (measured["duration_s"] / reference["duration_s"] if reference.get("duration_s") else None),
        "tilt_db_per_octave": _diff(measured.get("tilt_db_per_octave"), reference.get("tilt_db_per_octave")),
        "peak_dbfs": measured.get("peak_dbfs"),
    }
    for short in EGEMAPS_MEASURES.values():
        if short in measured or short in reference:
            out[short] = _diff(measured.get(short), reference.get(short))
    return out


def range_tolerance(reference_range: float) -> float:
    """How far a measured F0 range (semitones) may sit from its target, for a reference range (`RANGE_TOLERANCE_*`)."""
    return max(RANGE_TOLERANCE_ST, RANGE_TOLERANCE_REL * float(reference_range))


def verify(intervention: Intervention, measured: dict[str, Any], reference: dict[str, Any]) -> Verdict:
    """Keep or reject `intervention`'s variant (`measured`) against `reference` (the identity resynthesis; for the
    identity itself, the original), by the tolerances of this module."""
    change = changes(measured, reference)
    feature, s = intervention.feature, intervention.strength
    checks: list[dict[str, Any]] = []
    pitch = reference.get("f0_median_st") is not None

    def check(name: str, value: float | None, target: float, tolerance: float, what: str, intended: bool) -> None:
        if value is None:
            ok, text = (False, f"{what} could not be measured") if intended else (True, f"{what} not measured")
        else:
            ok = abs(value - target) <= tolerance
            text = f"{what} {value:+.2f} (target {target:+.2f} ± {tolerance:.2f})"
        checks.append({"measure": name, "value": value, "target": target, "tolerance": tolerance, "intended": intended,
                       "passed": ok, "text": text})

    # The intended change.
    if feature == "f0_level":
        check("f0_level_st", change["f0_level_st"], s, F0_TOLERANCE_ST, "F0 median change (st)", True)
    elif feature == "f0_range":
        ref = reference.get("f0_range_st")
        check("f0_range_st", measured.get("f0_range_st"), s * ref if ref is not None else 0.0,
              range_tolerance(ref or 0.0), "F0 10-90 % range (st)", True)
    elif feature == "intensity":
        check("intensity_db", change["intensity_db"], s, INTENSITY_TOLERANCE_DB, "intensity change (dB)", True)
    elif feature == "rate":
        check("duration_ratio", change["duration_ratio"], 1.0 / s, DURATION_TOLERANCE_REL / s, "duration ratio", True)
    elif feature == "tilt":
        check("tilt_db_per_octave", change["tilt_db_per_octave"], s, TILT_TOLERANCE_DB_OCT, "tilt change (dB/oct)",
              True)
        for short, sign, what in (("alpha_ratio_db", 1.0, "alpha ratio"), ("hammarberg_db", -1.0, "Hammarberg index")):
            value = change.get(short)
            if value is not None and s != 0:
                ok = np.sign(value) == sign * np.sign(s)
                checks.append({"measure": short, "value": value, "target": None, "tolerance": None, "intended": True,
                               "passed": bool(ok),
                               "text": f"eGeMAPS {what} change {value:+.2f} dB ({'should rise' if sign * s > 0 else 'should fall'})"})
    intended = next((c for c in checks if c["intended"]), None)

    # What must not move.
    if pitch and feature != "f0_level":
        check("f0_level_st", change["f0_level_st"], 0.0, F0_TOLERANCE_ST, "F0 median change (st)", False)
    if pitch and feature != "f0_range":
        check("f0_range_st", change["f0_range_st"], 0.0, range_tolerance(reference["f0_range_st"]),
              "F0 range change (st)", False)
    if feature != "intensity":
        check("intensity_db", change["intensity_db"], 0.0, INTENSITY_LIMIT_DB, "intensity change (dB)", False)
    if feature != "rate":
        check("duration_ratio", change["duration_ratio"], 1.0, DURATION_TOLERANCE_REL, "duration ratio", False)
    if feature != "tilt":
        check("tilt_db_per_octave", change["tilt_db_per_octave"], 0.0, TILT_LIMIT_DB_OCT, "tilt change (dB/oct)", False)
    peak = measured.get("peak_dbfs")
    above = peak is not None and peak > _db(FULL_SCALE) + 1e-9
    checks.append({"measure": "peak_dbfs", "value": peak, "target": None, "tolerance": None, "intended": False,
                   "passed": True, "text": (f"peak {peak:+.2f} dBFS" + (" (above full scale: heard as is, played "
                                            "attenuated with the clip's other files)" if above else ""))
                   if peak is not None else "peak not measured"})

    failed = [c for c in checks if not c["passed"]]
    reasons = []
    for c in failed:
        if c["intended"]:
            reasons.append(f"the intended change did not happen: {c['text']}")
        else:
            reasons.append(f"another measure moved: {c['text']}")
    return Verdict(not failed, "; ".join(reasons), change, intended, checks)
