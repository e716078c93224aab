"""Voiced clips with a known F0 contour, synthesised with numpy, and an unvoiced one (noise)."""

from __future__ import annotations

import numpy as np
import pytest

RATE = 16000
F0_HZ = 150.0  # the synthetic voice's median F0
SWING_ST = 3.0  # its contour swings ± this many semitones around the median


def voiced(seconds: float = 1.6, f0: float = F0_HZ, swing_st: float = SWING_ST, seed: int = 0) -> np.ndarray:
    """A glottal-pulse-like harmonic voice: 30 harmonics at -12 dB/octave, F0 ``f0 * 2**(swing * sin(2 pi 0.8 t) / 12)``,
    a syllable-like loudness envelope, faint noise."""
    t = np.arange(int(seconds * RATE)) / RATE
    contour = f0 * 2 ** (swing_st * np.sin(2 * np.pi * 0.8 * t) / 12)
    phase = 2 * np.pi * np.cumsum(contour) / RATE
    wave = sum(np.sin(h * phase) / h ** 2 for h in range(1, 31) if h * contour.max() < RATE / 2)
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 2.5 * t) ** 2
    wave = 0.25 * wave * envelope / np.max(np.abs(wave))
    return (wave + np.random.default_rng(seed).normal(0, 1e-3, t.size)).astype(np.float64)


@pytest.fixture(scope="session")
def voice() -> np.ndarray:
    return voiced()


@pytest.fixture(scope="session")
def noise() -> np.ndarray:
    """White noise, no pitch: Praat finds (almost) no voiced frames."""
    return np.random.default_rng(1).normal(0, 0.05, int(1.2 * RATE))
