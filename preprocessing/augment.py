"""Training-time augmentation of speech clips: noise, gain and time shift on the waveform; SpecAugment masks and mixup on log-mels.

The recipe follows log-mel CNN speech-emotion work: additive noise at a random
signal-to-noise ratio, a random gain, a small time shift, SpecAugment time and
frequency masks (Park et al. 2019) and, optionally, mixup (Zhang et al. 2018).
Every random draw comes from a ``numpy.random.Generator`` that the caller
passes in, so a seed recorded in a run's provenance reproduces each augmented
copy exactly (``augmented_copies`` derives one generator per copy from
``(seed, copy index)``).

Waveforms are 16 kHz mono float32 in [-1, 1]; log-mels are natural-log mel
energies with YAMNet's offset 0.001, so a silent cell holds ``LOG_FLOOR`` =
log(0.001), the value SpecAugment masks take by default (as the explainers'
occlusion hides cells).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from seraudit.core.constants import SAMPLE_RATE
from seraudit.preprocessing.frontend import LOG_FLOOR  # a masked stripe becomes silence

NOISE_COLOURS = ("white", "pink")


def _waveform(signal) -> np.ndarray:
    signal = np.asarray(signal)
    if signal.ndim != 1:
        raise ValueError(f"a waveform is one mono channel [samples], got shape {signal.shape}")
    return signal


def _noise(n: int, colour: str, rng: np.random.Generator) -> np.ndarray:
    """Zero-mean noise of `n` samples: white, or pink (power falling as 1/f, shaped in the frequency domain)."""
    if colour not in NOISE_COLOURS:
        raise ValueError(f"noise colour must be one of {NOISE_COLOURS}, got {colour!r}")
    white = rng.standard_normal(n)
    if colour == "white" or n < 2:
        return white - white.mean()
    spectrum = np.fft.rfft(white)
    freqs = np.fft.rfftfreq(n)
    scale = np.zeros_like(freqs)
    scale[1:] = 1.0 / np.sqrt(freqs[1:])  # amplitude 1/sqrt(f): power 1/f; no DC
    return np.fft.irfft(spectrum * scale, n)


def add_noise(signal, snr_db: float, rng: np.random.Generator, colour: str = "white") -> np.ndarray:
    """`signal` plus noise scaled to exactly `snr_db` against the signal's mean power, clipped to [-1, 1].

    The SNR is measured over the whole clip (silences included), as a recording's
    noise floor would be. A silent (all-zero) signal has no power to set a level
    against and is returned unchanged. Clipping only bites on near full-scale
    clips at low SNR; then the SNR is slightly above the request.
    """
    signal = _waveform(signal)
    x = signal.astype(np.float64)
    power = float(np.mean(x**2)) if x.size else 0.0
    if power == 0.0:
        return signal.astype(np.float32, copy=True)
    noise = _noise(x.size, colour, rng)
    noise *= np.sqrt(power / (float(np.mean(noise**2)) * 10.0 ** (snr_db / 10.0)))
    return np.clip(x + noise, -1.0, 1.0).astype(np.float32)


def apply_gain(signal, gain_db: float) -> np.ndarray:
    """`signal` amplified by `gain_db` decibels (amplitude factor 10^(gain/20)), clipped to [-1, 1]."""
    x = _waveform(signal).astype(np.float64)
    return np.clip(x * 10.0 ** (gain_db / 20.0), -1.0, 1.0).astype(np.float32)


def time_shift(signal, shift_samples: int) -> np.ndarray:
    """`signal` moved later by `shift_samples` (earlier when negative), zero-filled, same length.

    Zero-filled rather than circular: wrapping would glue the end of an utterance
    onto its start, an onset no speaker produced; zeros are silence.
    """
    signal = _waveform(signal)
    shift = int(shift_samples)
    out = np.zeros(signal.shape, dtype=np.float32)
    n = signal.size
    if abs(shift) >= n:
        return out
    if shift >= 0:
        out[shift:] = signal[: n - shift]
    else:
        out[:shift] = signal[-shift:]
    return out


def _stripes(length: int, count: int, max_width: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """`count` separate stripes ``(start, width)`` on an axis of `length` cells, widths 1..max_width.

    Stripes neither overlap nor touch (at least one untouched cell between two),
    so `count` masks always hide exactly `count` stripes. Widths are capped so
    that they fit: at most ``(length - (count - 1)) // count`` each.
    """
    if count <= 0 or max_width <= 0:
        return []
    cap = min(int(max_width), (length - (count - 1)) // count)
    if cap < 1:
        raise ValueError(f"{count} separate masks do not fit on an axis of {length} cells")
    widths = rng.integers(1, cap + 1, size=count)
    free = length - int(widths.sum()) - (count - 1)  # cells left for the gaps beyond the mandatory ones
    offsets = np.sort(rng.choice(free + count, size=count, replace=False))
    starts = offsets + np.concatenate([[0], np.cumsum(widths)[:-1]])
    return [(int(s), int(w)) for s, w in zip(starts, widths)]


def _mask_one(grid: np.ndarray, rng, time_masks, max_time, freq_masks, max_freq, fill) -> None:
    frames, bands = grid.shape
    for start, width in _stripes(frames, time_masks, max_time, rng):
        grid[start : start + width, :] = fill
    for start, width in _stripes(bands, freq_masks, max_freq, rng):
        grid[:, start : start + width] = fill


def spec_augment(
    log_mel,
    rng: np.random.Generator,
    time_masks: int = 2,
    max_time: int = 10,
    freq_masks: int = 2,
    max_freq: int = 8,
    fill: float = LOG_FLOOR,
) -> np.ndarray:
    """A copy of `log_mel` with SpecAugment stripes set to `fill` (default: the log floor, silence).

    `log_mel` is a clip ``[frames, bands]`` or a stack of patches ``[N, frames, bands]``;
    each patch gets its own masks. Each of the `time_masks` stripes spans 1..`max_time`
    whole frames, each of the `freq_masks` stripes 1..`max_freq` whole bands; stripes
    of one axis are separate (see ``_stripes``). Every other cell is left as it was.
    """
    x = np.array(log_mel, copy=True)
    if x.ndim not in (2, 3):
        raise ValueError(f"expected a log-mel [frames, bands] or patches [N, frames, bands], got shape {x.shape}")
    for grid in x.reshape((-1,) + x.shape[-2:]):
        _mask_one(grid, rng, time_masks, max_time, freq_masks, max_freq, fill)
    return x


def mixup(x, y_onehot, alpha: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Mixup: each example blended with a partner (a random permutation) by a Beta(alpha, alpha) weight.

    Example ``i`` becomes ``lam_i * x[i] + (1 - lam_i) * x[perm[i]]`` and its label the same
    blend of the two one-hot (or already soft) labels, so the soft labels still sum to 1.
    """
    if alpha is None or alpha <= 0:
        raise ValueError(f"mixup alpha must be positive, got {alpha}")
    x, y = np.asarray(x), np.asarray(y_onehot)
    if len(x) != len(y):
        raise ValueError(f"{len(x)} inputs but {len(y)} labels")
    n = len(x)
    lam = rng.beta(alpha, alpha, size=n)
    perm = rng.permutation(n)

    def blend(a: np.ndarray) -> np.ndarray:
        w = lam.reshape((n,) + (1,) * (a.ndim - 1))
        mixed = w * a.astype(np.float64) + (1.0 - w) * a[perm].astype(np.float64)
        return mixed.astype(a.dtype if np.issubdtype(a.dtype, np.floating) else np.float64)

    return blend(x), blend(y)


@dataclass(frozen=True)
class Augmentation:
    """One configured augmentation: which steps run how often and over which ranges.

    Each waveform step runs with its probability; its parameter is drawn uniformly from
    its range. The waveform chain is gain, then time shift, then noise (so the SNR is
    against the signal as it finally sounds). ``mixup_alpha=None`` turns mixup off.
    """

    gain_probability: float = 0.5
    gain_db: tuple[float, float] = (-6.0, 6.0)
    shift_probability: float = 0.5
    max_shift_s: float = 0.1
    noise_probability: float = 0.5
    snr_db: tuple[float, float] = (10.0, 30.0)
    noise_colour: str = "white"
    spec_probability: float = 0.5
    time_masks: int = 2
    max_time_frames: int = 10
    freq_masks: int = 2
    max_freq_bands: int = 8
    fill: float = LOG_FLOOR
    mixup_alpha: float | None = None

    def __post_init__(self) -> None:
        for name in ("gain_probability", "shift_probability", "noise_probability", "spec_probability"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {getattr(self, name)}")
        for name in ("gain_db", "snr_db"):
            low, high = getattr(self, name)
            if low > high:
                raise ValueError(f"{name} must be a (low, high) range, got {getattr(self, name)}")
            object.__setattr__(self, name, (float(low), float(high)))
        if self.noise_colour not in NOISE_COLOURS:
            raise ValueError(f"noise_colour must be one of {NOISE_COLOURS}, got {self.noise_colour!r}")
        if self.max_shift_s < 0:
            raise ValueError(f"max_shift_s must not be negative, got {self.max_shift_s}")
        for name in ("time_masks", "max_time_frames", "freq_masks", "max_freq_bands"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)}")
        if self.mixup_alpha is not None and self.mixup_alpha <= 0:
            raise ValueError(f"mixup_alpha must be positive or None (off), got {self.mixup_alpha}")

    @property
    def max_shift_samples(self) -> int:
        return int(round(self.max_shift_s * SAMPLE_RATE))

    def waveform(self, signal, rng: np.random.Generator) -> np.ndarray:
        """An augmented copy of one waveform: gain, time shift, noise, each with its probability."""
        out = _waveform(signal).astype(np.float32, copy=True)
        if rng.random() < self.gain_probability:
            out = apply_gain(out, rng.uniform(*self.gain_db))
        if rng.random() < self.shift_probability:
            m = self.max_shift_samples
            out = time_shift(out, int(rng.integers(-m, m + 1)))
        if rng.random() < self.noise_probability:
            out = add_noise(out, rng.uniform(*self.snr_db), rng, self.noise_colour)
        return out

    def log_mel(self, x, rng: np.random.Generator) -> np.ndarray:
        """SpecAugment on a clip log-mel ``[frames, bands]`` or on each patch of ``[N, frames, bands]`` (each with its own draw)."""
        out = np.array(x, copy=True)
        if out.ndim not in (2, 3):
            raise ValueError(f"expected a log-mel [frames, bands] or patches [N, frames, bands], got shape {out.shape}")
        for grid in out.reshape((-1,) + out.shape[-2:]):
            if rng.random() < self.spec_probability:
                _mask_one(grid, rng, self.time_masks, self.max_time_frames, self.freq_masks, self.max_freq_bands, self.fill)
        return out

    def mix(self, x, y_onehot, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Mixup of a batch when ``mixup_alpha`` is set; the batch unchanged when it is None."""
        if self.mixup_alpha is None:
            return np.asarray(x), np.asarray(y_onehot)
        return mixup(x, y_onehot, self.mixup_alpha, rng)

    def to_dict(self) -> dict:
        """Every setting, JSON-ready, for a run's provenance."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> Augmentation:
        """The augmentation recorded by ``to_dict``; unknown keys are an error, missing ones take the defaults."""
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown augmentation settings: {', '.join(sorted(unknown))}")
        return cls(**data)


def copy_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of augmented copy `index` under `seed`: ``SeedSequence(seed).spawn(...)[index]``, without spawning the others."""
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(int(index),)))


def augmented_copies(signal, k: int, augmentation: Augmentation, seed: int) -> list[np.ndarray]:
    """`k` augmented copies of one waveform; copy i depends only on (seed, i), so it is reproducible on its own."""
    return [augmentation.waveform(signal, copy_rng(seed, i)) for i in range(int(k))]
