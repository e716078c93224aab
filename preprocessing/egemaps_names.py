"""The names of the openSMILE eGeMAPS v02 features and the parameter group each one belongs to.

Nothing here runs openSMILE: the extractor's tables, the worker's start-up check,
the probes and the report all read the feature names from this one list.
"""

from __future__ import annotations

import re

FEATURE_SET = "eGeMAPSv02"
LEVELS = ("functionals", "lld")

# The 88 eGeMAPSv02 functionals and 25 low-level descriptors, in openSMILE's order. Every
# worker process checks them against its openSMILE at start-up, so a different version fails loudly.
FUNCTIONAL_NAMES: tuple[str, ...] = (
    "F0semitoneFrom27.5Hz_sma3nz_amean", "F0semitoneFrom27.5Hz_sma3nz_stddevNorm",
    "F0semitoneFrom27.5Hz_sma3nz_percentile20.0", "F0semitoneFrom27.5Hz_sma3nz_percentile50.0",
    "F0semitoneFrom27.5Hz_sma3nz_percentile80.0", "F0semitoneFrom27.5Hz_sma3nz_pctlrange0-2",
    "F0semitoneFrom27.5Hz_sma3nz_meanRisingSlope", "F0semitoneFrom27.5Hz_sma3nz_stddevRisingSlope",
    "F0semitoneFrom27.5Hz_sma3nz_meanFallingSlope", "F0semitoneFrom27.5Hz_sma3nz_stddevFallingSlope",
    "loudness_sma3_amean", "loudness_sma3_stddevNorm", "loudness_sma3_percentile20.0",
    "loudness_sma3_percentile50.0", "loudness_sma3_percentile80.0", "loudness_sma3_pctlrange0-2",
    "loudness_sma3_meanRisingSlope", "loudness_sma3_stddevRisingSlope", "loudness_sma3_meanFallingSlope",
    "loudness_sma3_stddevFallingSlope", "spectralFlux_sma3_amean", "spectralFlux_sma3_stddevNorm",
    "mfcc1_sma3_amean", "mfcc1_sma3_stddevNorm", "mfcc2_sma3_amean", "mfcc2_sma3_stddevNorm",
    "mfcc3_sma3_amean", "mfcc3_sma3_stddevNorm", "mfcc4_sma3_amean", "mfcc4_sma3_stddevNorm",
    "jitterLocal_sma3nz_amean", "jitterLocal_sma3nz_stddevNorm", "shimmerLocaldB_sma3nz_amean",
    "shimmerLocaldB_sma3nz_stddevNorm", "HNRdBACF_sma3nz_amean", "HNRdBACF_sma3nz_stddevNorm",
    "logRelF0-H1-H2_sma3nz_amean", "logRelF0-H1-H2_sma3nz_stddevNorm", "logRelF0-H1-A3_sma3nz_amean",
    "logRelF0-H1-A3_sma3nz_stddevNorm", "F1frequency_sma3nz_amean", "F1frequency_sma3nz_stddevNorm",
    "F1bandwidth_sma3nz_amean", "F1bandwidth_sma3nz_stddevNorm", "F1amplitudeLogRelF0_sma3nz_amean",
    "F1amplitudeLogRelF0_sma3nz_stddevNorm", "F2frequency_sma3nz_amean", "F2frequency_sma3nz_stddevNorm",
    "F2bandwidth_sma3nz_amean", "F2bandwidth_sma3nz_stddevNorm", "F2amplitudeLogRelF0_sma3nz_amean",
    "F2amplitudeLogRelF0_sma3nz_stddevNorm", "F3frequency_sma3nz_amean", "F3frequency_sma3nz_stddevNorm",
    "F3bandwidth_sma3nz_amean", "F3bandwidth_sma3nz_stddevNorm", "F3amplitudeLogRelF0_sma3nz_amean",
    "F3amplitudeLogRelF0_sma3nz_stddevNorm", "alphaRatioV_sma3nz_amean", "alphaRatioV_sma3nz_stddevNorm",
    "hammarbergIndexV_sma3nz_amean", "hammarbergIndexV_sma3nz_stddevNorm", "slopeV0-500_sma3nz_amean",
    "slopeV0-500_sma3nz_stddevNorm", "slopeV500-1500_sma3nz_amean", "slopeV500-1500_sma3nz_stddevNorm",
    "spectralFluxV_sma3nz_amean", "spectralFluxV_sma3nz_stddevNorm", "mfcc1V_sma3nz_amean",
    "mfcc1V_sma3nz_stddevNorm", "mfcc2V_sma3nz_amean", "mfcc2V_sma3nz_stddevNorm", "mfcc3V_sma3nz_amean",
    "mfcc3V_sma3nz_stddevNorm", "mfcc4V_sma3nz_amean", "mfcc4V_sma3nz_stddevNorm",
    "alphaRatioUV_sma3nz_amean", "hammarbergIndexUV_sma3nz_amean", "slopeUV0-500_sma3nz_amean",
    "slopeUV500-1500_sma3nz_amean", "spectralFluxUV_sma3nz_amean", "loudnessPeaksPerSec",
    "VoicedSegmentsPerSec", "MeanVoicedSegmentLengthSec", "StddevVoicedSegmentLengthSec",
    "MeanUnvoicedSegmentLength", "StddevUnvoicedSegmentLength", "equivalentSoundLevel_dBp",
)
LLD_NAMES: tuple[str, ...] = (
    "Loudness_sma3", "alphaRatio_sma3", "hammarbergIndex_sma3", "slope0-500_sma3", "slope500-1500_sma3",
    "spectralFlux_sma3", "mfcc1_sma3", "mfcc2_sma3", "mfcc3_sma3", "mfcc4_sma3",
    "F0semitoneFrom27.5Hz_sma3nz", "jitterLocal_sma3nz", "shimmerLocaldB_sma3nz", "HNRdBACF_sma3nz",
    "logRelF0-H1-H2_sma3nz", "logRelF0-H1-A3_sma3nz", "F1frequency_sma3nz", "F1bandwidth_sma3nz",
    "F1amplitudeLogRelF0_sma3nz", "F2frequency_sma3nz", "F2bandwidth_sma3nz", "F2amplitudeLogRelF0_sma3nz",
    "F3frequency_sma3nz", "F3bandwidth_sma3nz", "F3amplitudeLogRelF0_sma3nz",
)
#: Feature names per extraction level.
NAMES: dict[str, tuple[str, ...]] = {"functionals": FUNCTIONAL_NAMES, "lld": LLD_NAMES}

# The parameter groups of the eGeMAPS paper (Eyben et al., 2016, IEEE Trans. Affective
# Computing 7(2), section 3), decided by the descriptor name in front of "_sma…" (or the
# whole name for the summary features), first matching rule wins:
#   temporal                 – rates and lengths of loudness peaks and (un)voiced segments
#   frequency/pitch-formant  – F0 (semitones), jitter, formant 1–3 frequencies and bandwidths
#   energy/loudness          – loudness, shimmer, harmonics-to-noise ratio, equivalent sound level
#   spectral/balance         – everything else: alpha ratio, Hammarberg index, spectral slopes,
#                              H1–H2, H1–A3, formant relative energies, MFCC 1–4, spectral flux
CATEGORIES = ("energy/loudness", "frequency/pitch-formant", "spectral/balance", "temporal")
_CATEGORY_RULES: tuple[tuple[str, re.Pattern], ...] = (
    ("temporal", re.compile(r"PerSec$|SegmentLength")),
    ("frequency/pitch-formant", re.compile(r"^(F0semitone|jitter|F\dfrequency|F\dbandwidth)")),
    ("energy/loudness", re.compile(r"^(loudness|Loudness|shimmer|HNR|equivalentSoundLevel)")),
    ("spectral/balance", re.compile(r"^(alphaRatio|hammarbergIndex|slope|logRelF0|F\damplitude|mfcc|spectralFlux)")),
)


def egemaps_category(name: str) -> str:
    """The eGeMAPS parameter group of a functional or LLD name (see the rules above)."""
    for category, rule in _CATEGORY_RULES:
        if rule.search(name):
            return category
    raise KeyError(f"{name!r} is not an eGeMAPS feature name")


EGEMAPS_CATEGORIES: dict[str, str] = {name: egemaps_category(name) for name in FUNCTIONAL_NAMES}


def check_level(level: str) -> str:
    """`level` when it is one of `LEVELS`, else a ValueError listing them."""
    if level not in LEVELS:
        raise ValueError(f"unknown eGeMAPS level {level!r}: choose one of {', '.join(LEVELS)}")
    return level
