"""One controlled acoustic change of a clip with Praat (PSOLA): F0 level and range, intensity, speaking rate, spectral tilt.

Every variant goes through the same vocoder as its control. Praat's "To Manipulation"
analyses the clip once (pitch marks, pitch tier, duration tier); "Get resynthesis
(overlap-add)" is pitch-synchronous overlap-add (PSOLA), which moves F0 and timing and
keeps the spectral envelope, so formants stay where they were. The features:

- ``identity``: the same Manipulation resynthesised with nothing changed — the control every
  other variant is compared with, so the vocoder's own artefacts are never read as a feature.
- ``f0_level`` (semitones): every pitch-tier point shifted ("Shift frequencies ... semitones").
- ``f0_range`` (factor): the contour scaled around its median in the log (semitone) domain,
  ``f' = m * (f / m) ** k``; ``k = 0`` flattens it, ``k = 1`` would leave it unchanged.
- ``rate`` (factor of speaking rate): a constant duration tier of ``1 / rate`` (``rate`` 0.8 is
  slower, 25 % longer), pitch kept.
- ``intensity`` (dB): a gain applied to the identity resynthesis.
- ``tilt`` (dB per octave): a zero-phase filter on the identity resynthesis whose gain is
  ``tilt * log2(f / 1000 Hz)`` from 100 Hz up (held at its 100 Hz value below), then the RMS
  level of the identity restored; a positive tilt brightens the voice (flatter spectral slope,
  as in tense, pressed phonation), a negative one darkens it (steeper slope, as in lax or
  breathy phonation).

Level: PSOLA does not keep energy exactly (a lower F0 packs fewer pulses per second), so the
F0, range and rate variants are rescaled to the identity resynthesis' RMS: a pitch change is not
also a loudness change. Nothing here clips or renormalises: the models hear the floating-point
signal, peaks above full scale included; only the listening files of a clip are attenuated,
all by the same gain (`xai.interventions.stage.playback_gain_db`).

Everything is deterministic: the same waveform and intervention give the same samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from seraudit.core.errors import AudioError

# Praat's analysis settings for "To Manipulation" (and for the F0 re-measurement in `verification`):
# a 10 ms step; the first-pass F0 search range is De Looze & Hirst's (2008) 60-750 Hz, narrowed per clip
# by `pitch_range` (a fixed rule, the same for every corpus).
TIME_STEP_S = 0.01
PITCH_FLOOR_HZ = 60.0
PITCH_CEILING_HZ = 750.0
PRAAT_SETTINGS: dict[str, Any] = {
    "to_manipulation": {"time_step_s": TIME_STEP_S, "pitch_floor_hz": PITCH_FLOOR_HZ, "pitch_ceiling_hz": PITCH_CEILING_HZ,
                        "pitch_range": "two-pass: floor 0.75 x 15th percentile, ceiling 1.5 x 85th percentile"},
    "resynthesis": "Get resynthesis (overlap-add)",
}
TILT_PIVOT_HZ = 1000.0  # the tilt filter's 0 dB point
TILT_LOW_HZ = 100.0  # below this the tilt filter's gain is held (no boost of rumble or DC)


@dataclass(frozen=True)
class Feature:
    """What an intervention's strength means: its unit, the strength that changes nothing, and whether it needs F0."""

    name: str
    unit: str
    neutral: float
    needs_pitch: bool
    describes: str


FEATURES: dict[str, Feature] = {f.name: f for f in (
    Feature("identity", "", 0.0, False, "identity resynthesis (same vocoder, nothing changed: the control)"),
    Feature("f0_level", "semitones", 0.0, True, "F0 level shifted, formants kept (PSOLA)"),
    Feature("f0_range", "x range", 1.0, True, "F0 contour scaled around its median in semitones (0: flat)"),
    Feature("intensity", "dB", 0.0, False, "gain"),
    Feature("rate", "x speaking rate", 1.0, False, "speaking rate (duration tier), pitch kept"),
    Feature("tilt", "dB/octave", 0.0, False,
            f"spectral tilt: zero-phase filter, gain tilt*log2(f/{TILT_PIVOT_HZ:g} Hz) above {TILT_LOW_HZ:g} Hz, RMS kept"),
)}
PSOLA_FEATURES = ("f0_level", "f0_range", "rate")  # changed inside the Manipulation; the others act on the identity


@dataclass(frozen=True)
class Intervention:
    """One controlled change: a feature of `FEATURES` and its strength in that feature's unit."""

    feature: str
    strength: float

    def __post_init__(self) -> None:
        if self.feature not in FEATURES:
            raise ValueError(f"unknown intervention feature {self.feature!r}; known: {', '.join(FEATURES)}")
        strength = float(self.strength)
        if not math.isfinite(strength):
            raise ValueError(f"{self.feature}: strength must be a finite number, got {self.strength!r}")
        if self.feature == "identity" and strength != 0.0:
            raise ValueError(f"identity resynthesis has no strength (0), got {strength}")
        if self.feature == "f0_range" and strength < 0:
            raise ValueError(f"f0_range: the contour factor must be 0 (flat) or more, got {strength}")
        if self.feature == "rate" and strength <= 0:
            raise ValueError(f"rate: the speaking-rate factor must be above 0, got {strength}")
        object.__setattr__(self, "strength", strength)

    @property
    def key(self) -> str:
        """A file-name-safe name, e.g. ``f0_level_+4`` or ``rate_x1.25``."""
        if self.feature == "identity":
            return "identity"
        unit = FEATURES[self.feature].unit
        value = f"{self.strength:g}"
        if unit.startswith("x"):
            return f"{self.feature}_x{value}"
        return f"{self.feature}_{'+' if self.strength > 0 else ''}{value}"

    @property
    def needs_pitch(self) -> bool:
        return FEATURES[self.feature].needs_pitch

    @property
    def label(self) -> str:
        """How a person reads it: ``f0_level +4 semitones``."""
        if self.feature == "identity":
            return "identity resynthesis"
        unit = FEATURES[self.feature].unit
        if unit.startswith("x"):
            return f"{self.feature} x{self.strength:g}"
        return f"{self.feature} {self.strength:+g} {unit}"

    def as_dict(self) -> dict[str, Any]:
        """Everything that reproduces the variant: feature, strength, unit, the Praat settings and library versions."""
        return {"feature": self.feature, "strength": self.strength, "unit": FEATURES[self.feature].unit,
                "describes": FEATURES[self.feature].describes, "praat": PRAAT_SETTINGS, "versions": library_versions()}


def plan_of(pairs: Iterable[tuple[str, Sequence[float]]]) -> tuple[Intervention, ...]:
    """Interventions from ``(feature, strengths)`` pairs, identity first (always included: it is the control)."""
    plan = [Intervention("identity", 0.0)]
    for feature, strengths in pairs:
        plan.extend(Intervention(feature, s) for s in strengths if feature != "identity")
    return tuple(dict.fromkeys(plan))


DEFAULT_STRENGTHS: dict[str, tuple[float, ...]] = {
    "f0_level": (-4.0, -2.0, 2.0, 4.0),
    "f0_range": (0.0, 0.5, 1.5),
    "intensity": (-6.0, 6.0),
    "rate": (0.8, 1.25),
    "tilt": (-3.0, 3.0),
}
DEFAULT_PLAN: tuple[Intervention, ...] = plan_of(DEFAULT_STRENGTHS.items())


def library_versions() -> dict[str, str]:
    """The versions that make a variant's samples: Praat (through parselmouth), numpy."""
    import parselmouth

    return {"praat-parselmouth": parselmouth.__version__, "praat": parselmouth.PRAAT_VERSION, "numpy": np.__version__}


def _sound(waveform: np.ndarray, sample_rate: int):
    import parselmouth

    samples = np.asarray(waveform, dtype=np.float64)
    if samples.ndim != 1 or samples.size == 0:
        raise AudioError(f"resynthesis needs a non-empty mono waveform [n], got shape {samples.shape}")
    if not np.all(np.isfinite(samples)):
        raise AudioError("resynthesis needs finite samples; the waveform holds NaN or infinite values")
    return parselmouth.Sound(samples, sampling_frequency=float(sample_rate))


def pitch_range(sound) -> tuple[float, float]:
    """The clip's own F0 search range by the two-pass rule of De Looze & Hirst (2008): a first Praat pass over
    `PITCH_FLOOR_HZ`-`PITCH_CEILING_HZ`, then floor = 0.75 x its 15th percentile and ceiling = 1.5 x its 85th
    (kept inside the first range); the first range itself when that pass finds fewer than 10 voiced frames.

    A range fitted to the voice keeps Praat off octave errors (a shout tracked at half its F0 in places),
    which would otherwise read as F0 range changes the resynthesis never made.
    """
    from parselmouth.praat import call

    f0 = call(sound, "To Pitch", 0.0, PITCH_FLOOR_HZ, PITCH_CEILING_HZ).selected_array["frequency"]
    f0 = f0[f0 > 0]
    if f0.size < 10:
        return PITCH_FLOOR_HZ, PITCH_CEILING_HZ
    floor = max(PITCH_FLOOR_HZ, 0.75 * float(np.percentile(f0, 15)))
    ceiling = min(PITCH_CEILING_HZ, 1.5 * float(np.percentile(f0, 85)))
    return (floor, ceiling) if ceiling > floor * 1.5 else (PITCH_FLOOR_HZ, PITCH_CEILING_HZ)


def manipulation(waveform: np.ndarray, sample_rate: int):
    """Praat's Manipulation of a waveform (pitch analysis and pitch marks), over the clip's own `pitch_range`."""
    from parselmouth.praat import call

    sound = _sound(waveform, sample_rate)
    floor, ceiling = pitch_range(sound)
    return call(sound, "To Manipulation", TIME_STEP_S, floor, ceiling)


def pitch_points(manip) -> np.ndarray:
    """The Hz values of the Manipulation's pitch tier (empty when Praat found no voicing)."""
    from parselmouth.praat import call

    tier = call(manip, "Extract pitch tier")
    n = int(call(tier, "Get number of points"))
    return np.array([call(tier, "Get value at index", i) for i in range(1, n + 1)], dtype=np.float64)


def _resynthesis(manip) -> np.ndarray:
    from parselmouth.praat import call

    return np.asarray(call(manip, "Get resynthesis (overlap-add)").values[0], dtype=np.float64)


def _psola(manip, intervention: Intervention, sample_rate: int, n_samples: int) -> np.ndarray:
    """The Manipulation's resynthesis after one edit of its pitch or duration tier (a copy is edited)."""
    from parselmouth.praat import call

    edited = manip.copy()
    start, end = 0.0, n_samples / float(sample_rate)  # a Sound made from samples starts at 0
    if intervention.feature in ("f0_level", "f0_range"):
        points = pitch_points(edited)
        if points.size == 0:
            raise AudioError(f"{intervention.label}: Praat found no pitch in the clip, so there is no F0 to change")
        tier = call(edited, "Extract pitch tier")
        if intervention.feature == "f0_level":
            call(tier, "Shift frequencies", start, end, intervention.strength, "semitones")
        else:
            median = float(np.exp(np.median(np.log(points))))  # the median in semitones, as Hz
            call(tier, "Formula", f"{median!r} * (self / {median!r}) ^ {intervention.strength!r}")
        call([edited, tier], "Replace pitch tier")
    elif intervention.feature == "rate":
        tier = call("Create DurationTier", "rate", start, end)
        call(tier, "Add point", start, 1.0 / intervention.strength)
        call([edited, tier], "Replace duration tier")
    return _resynthesis(edited)


def rms(waveform: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(np.asarray(waveform, dtype=np.float64)))))


def _match_level(waveform: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """`waveform` rescaled to the RMS of `reference` (unchanged when either is silent)."""
    own, target = rms(waveform), rms(reference)
    return waveform * (target / own) if own > 0 and target > 0 else waveform


def tilt_filter(waveform: np.ndarray, sample_rate: int, db_per_octave: float) -> np.ndarray:
    """`waveform` through the zero-phase tilt filter (gain ``db_per_octave * log2(f / TILT_PIVOT_HZ)``), RMS kept.

    The filter is applied to the spectrum of the whole signal, zero-padded by a quarter of its length
    so the (short) impulse response does not wrap around.
    """
    x = np.asarray(waveform, dtype=np.float64)
    n = x.size + max(x.size // 4, 1024)
    spectrum = np.fft.rfft(x, n)
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    gain_db = db_per_octave * np.log2(np.maximum(freqs, TILT_LOW_HZ) / TILT_PIVOT_HZ)
    y = np.fft.irfft(spectrum * 10.0 ** (gain_db / 20.0), n)[: x.size]
    return _match_level(y, x)


def _from_identity(identity: np.ndarray, intervention: Intervention, sample_rate: int) -> np.ndarray:
    if intervention.feature == "identity":
        return identity.copy()
    if intervention.feature == "intensity":
        return identity * 10.0 ** (intervention.strength / 20.0)
    if intervention.feature == "tilt":
        return tilt_filter(identity, sample_rate, intervention.strength)
    raise ValueError(f"{intervention.feature} is made inside the Manipulation, not from the identity resynthesis")


def apply_plan(waveform: np.ndarray, sample_rate: int, plan: Sequence[Intervention] = DEFAULT_PLAN,
               ) -> dict[Intervention, np.ndarray | AudioError]:
    """Every intervention of `plan` on one clip (float64 samples at `sample_rate`), from one Praat analysis.

    A variant that cannot be made (an F0 change of a clip without pitch) is an `AudioError` in the
    result instead of samples, so the other variants of the clip are still made.
    """
    manip = manipulation(waveform, sample_rate)
    identity = _resynthesis(manip.copy())
    out: dict[Intervention, np.ndarray | AudioError] = {}
    for intervention in plan:
        try:
            if intervention.feature in PSOLA_FEATURES:
                out[intervention] = _match_level(_psola(manip, intervention, sample_rate, len(waveform)), identity)
            else:
                out[intervention] = _from_identity(identity, intervention, sample_rate)
        except AudioError as error:
            out[intervention] = error
    return out


def apply(waveform: np.ndarray, sample_rate: int, intervention: Intervention) -> np.ndarray:
    """`waveform` (mono, any rate) with one intervention, as float64 samples at the same rate.

    Raises `AudioError` when the change cannot be made (an F0 change of a clip where Praat finds no pitch).
    """
    result = apply_plan(waveform, sample_rate, [intervention])[intervention]
    if isinstance(result, AudioError):
        raise result
    return result
