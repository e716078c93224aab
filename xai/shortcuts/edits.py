"""Edits of a clip that an emotion decision should not follow: silence added or cut, gain, the telephone band, the high band.

Each edit is a function ``(waveform [n] float, sample_rate) -> edited waveform`` in `EDITS`,
keyed by a stable name (the check ids and the self-test read them):

* ``pad_silence``: `PAD_S` (1 s) of **digital zero** before and after the clip. Digital zero,
  not a faint noise floor, because (1) it is the silence the corpora already hold: in the
  shared RAVDESS clips most leading-silence frames are exact zeros (frame RMS -240 dB in 8 of
  14 clips sampled), (2) the loader's own short-clip padding is zeros, and (3) any floor below
  about -70 dBFS sits under the front end's log offset (mel magnitude + 0.001) and reaches the
  model as the same floor value, so a noise floor would add a seed and nothing the model can
  tell apart. 1 s is a whole number of 10 ms STFT hops, so the clip's own frames keep their
  alignment and only the silence is new;
* ``trim_silence``: cut the leading and trailing frames with no speech
  (`seraudit.preprocessing.speech.voiced_mask`, the package's speech detector on its 32 ms
  frames every 16 ms), keeping `TRIM_MARGIN_S` (0.1 s) before the first and after the last
  speech frame, so soft onsets and codas (/k/, /s/) stay; a clip with no speech frame cannot
  be trimmed (`EditSkipped`);
* ``gain_up`` / ``gain_down``: exactly +6 / -6 dB. The loader clips samples to [-1, 1], and a
  clipped waveform is another edit (distortion), so ``gain_up`` never clips: a clip whose peak
  leaves less than 6 dB of headroom below `MAX_PEAK` (-0.09 dBFS) is not raised at all
  (`EditSkipped`, with its peak), rather than raised by less and read as +6 dB. Peak-normalised
  corpora (the shared EmoDB copy) leave almost no clip the headroom, so there ``gain_down``
  carries the level question; `applied_gain_db` measures the gain from the two waveforms;
* ``telephone``: the 300-3400 Hz telephone band, a 4th-order Butterworth band-pass
  (second-order sections) run forwards and backwards (``sosfiltfilt``: zero phase, so no
  delay moves the speech against its patches; the effective order doubles).
  A real robustness test: speech keeps its emotion on the telephone, but the band also takes the
  fundamental of most voices (below 300 Hz) and the 3.4-5 kHz spectral balance, so a clean model
  may follow it; that is a finding about the model, not a shortcut planted in the data;
* ``high_band``: everything above `HIGH_BAND_CUTOFF_HZ` (6 kHz) removed, and nothing below 5 kHz
  touched: an 8th-order Butterworth low-pass run forwards and backwards (zero phase, like
  ``telephone``; 16th order in effect: within 0.01 dB up to 5 kHz, -6 dB at 6 kHz, at least
  20 dB down from 6.25 kHz and 60 dB from 6.75 kHz). The cutoff, argued without any corpus:
  emotion research's standard acoustic parameter set measures nothing above 5 kHz (eGeMAPS,
  Eyben et al. 2016: alpha ratio 50-1000 Hz against 1-5 kHz, Hammarberg index 0-2 kHz against
  2-5 kHz, spectral slopes to 1.5 kHz, formants F1-F3 and harmonic differences far below), and
  5 kHz lies above the first four formants of adult voices, where the long-term spectrum of
  speech has fallen by tens of dB. The edit must keep all of that band intact, and a realisable
  filter needs a transition band, so the cutoff sits 1 kHz above it. What it removes, 6 kHz to
  the top of the front end's log-mel (7.5 kHz), is fricative noise and whatever the recording
  added: a channel, a hum or tone, a codec's artefact. A decision that follows it follows energy
  speech barely uses for emotion. (Measured on clean YAMNet heads, of the 4, 5 and 6 kHz
  cutoffs 6 kHz flips the fewest labels on every run tried, RAVDESS and EmoDB alike; it still
  flips some: a weak head's low-margin decisions move with any spectral change, which is why
  the selftest judges a plant against the clean run on the same clips.)

`NULL_EDIT` (``shift_1_sample``: one sample of delay, the length kept) is the control: the same
pipeline with a change no listener could hear, so its effect on a prediction is the
prediction's own jitter, and every edit's effect is judged against it.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from seraudit.core.constants import SAMPLE_RATE

PAD_S = 1.0
TRIM_MARGIN_S = 0.1
GAIN_DB = 6.0
MAX_PEAK = 0.99  # -0.09 dBFS: the loudest sample gain_up may produce
TELEPHONE_BAND_HZ = (300.0, 3400.0)
TELEPHONE_ORDER = 4
HIGH_BAND_CUTOFF_HZ = 6000.0
HIGH_BAND_ORDER = 8

Edit = Callable[[np.ndarray, int], np.ndarray]


class EditSkipped(ValueError):
    """An edit that cannot be applied to this clip (the reason is the message); the clip is left out of that edit."""


def _mono(waveform: np.ndarray) -> np.ndarray:
    x = np.asarray(waveform, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"an edit takes a mono waveform [n], got shape {x.shape}")
    return x


def pad_silence(waveform: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """`PAD_S` of digital zero before and after the clip."""
    x = _mono(waveform)
    pad = int(round(PAD_S * sample_rate))
    return np.concatenate([np.zeros(pad), x, np.zeros(pad)])


def speech_span(waveform: np.ndarray, sample_rate: int = SAMPLE_RATE) -> tuple[int, int]:
    """(first, end) sample of the voiced speech, widened by `TRIM_MARGIN_S` and kept inside the clip.

    Raises `EditSkipped` when `voiced_mask` finds no voiced frame.
    """
    from seraudit.preprocessing.speech import FRAME_S, HOP_S, voiced_mask

    x = _mono(waveform)
    voiced = np.flatnonzero(voiced_mask(x.astype(np.float32), sample_rate))
    if voiced.size == 0:
        raise EditSkipped("no voiced frame found (seraudit.preprocessing.speech.voiced_mask): nothing to trim around")
    hop, frame, margin = (int(round(s * sample_rate)) for s in (HOP_S, FRAME_S, TRIM_MARGIN_S))
    start = max(0, int(voiced[0]) * hop - margin)
    end = min(x.size, int(voiced[-1]) * hop + frame + margin)
    return start, end


def trim_silence(waveform: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The clip from `TRIM_MARGIN_S` before its first voiced frame to `TRIM_MARGIN_S` after its last one."""
    start, end = speech_span(waveform, sample_rate)
    return _mono(waveform)[start:end].copy()


def _gain(waveform: np.ndarray, db: float) -> np.ndarray:
    x = _mono(waveform)
    factor = 10.0 ** (db / 20.0)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak * factor > MAX_PEAK:
        raise EditSkipped(f"peak {20 * np.log10(peak):.1f} dBFS: {db:+g} dB would clip (it needs a peak at or below "
                          f"{20 * np.log10(MAX_PEAK) - db:.1f} dBFS)")
    return x * factor


def gain_up(waveform: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Exactly +`GAIN_DB` dB; a clip without the headroom (peak above `MAX_PEAK` after it) is skipped, never clipped."""
    return _gain(waveform, GAIN_DB)


def gain_down(waveform: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """-`GAIN_DB` dB."""
    return _gain(waveform, -GAIN_DB)


def applied_gain_db(original: np.ndarray, edited: np.ndarray) -> float:
    """The gain an edit applied, from the two waveforms' RMS (dB); NaN for a silent original."""
    a, b = np.sqrt(np.mean(_mono(original) ** 2)), np.sqrt(np.mean(_mono(edited) ** 2))
    return float(20.0 * np.log10(b / a)) if a > 0 and b > 0 else float("nan")


def telephone_sos(sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The band-pass of `telephone` as second-order sections."""
    from scipy.signal import butter

    return butter(TELEPHONE_ORDER, TELEPHONE_BAND_HZ, btype="bandpass", fs=sample_rate, output="sos")


def telephone(waveform: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The 300-3400 Hz band, zero phase (forward-backward Butterworth band-pass)."""
    from scipy.signal import sosfiltfilt

    x = _mono(waveform)
    sos = telephone_sos(sample_rate)
    padlen = min(3 * (2 * len(sos) + 1), max(x.size - 1, 0))  # scipy's default, shortened for a very short clip
    return sosfiltfilt(sos, x, padlen=padlen)


def lowpass_sos(cutoff_hz: float = HIGH_BAND_CUTOFF_HZ, sample_rate: int = SAMPLE_RATE,
                order: int = HIGH_BAND_ORDER) -> np.ndarray:
    """A Butterworth low-pass at `cutoff_hz` as second-order sections (the `high_band` edit's filter)."""
    from scipy.signal import butter

    if not 0.0 < cutoff_hz < sample_rate / 2.0:
        raise EditSkipped(f"a low-pass at {cutoff_hz:g} Hz needs a sample rate above {2 * cutoff_hz:g} Hz; the clip has "
                          f"{sample_rate} Hz and no content above {sample_rate / 2:g} Hz to remove")
    return butter(order, cutoff_hz, btype="lowpass", fs=sample_rate, output="sos")


def lowpass(waveform: np.ndarray, sample_rate: int = SAMPLE_RATE, cutoff_hz: float = HIGH_BAND_CUTOFF_HZ,
            order: int = HIGH_BAND_ORDER) -> np.ndarray:
    """Everything above `cutoff_hz` removed, zero phase (forward-backward Butterworth low-pass)."""
    from scipy.signal import sosfiltfilt

    x = _mono(waveform)
    sos = lowpass_sos(cutoff_hz, sample_rate, order)
    padlen = min(3 * (2 * len(sos) + 1), max(x.size - 1, 0))
    return sosfiltfilt(sos, x, padlen=padlen)


def high_band(waveform: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The clip without its energy above `HIGH_BAND_CUTOFF_HZ` (zero-phase low-pass; see the module docstring)."""
    return lowpass(waveform, sample_rate, HIGH_BAND_CUTOFF_HZ, HIGH_BAND_ORDER)


def shift_1_sample(waveform: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The control: one sample of delay (a zero in front, the last sample dropped: the length kept)."""
    x = _mono(waveform)
    return np.concatenate([[0.0], x[:-1]]) if x.size else x.copy()


EDITS: dict[str, Edit] = {
    "pad_silence": pad_silence,
    "trim_silence": trim_silence,
    "gain_up": gain_up,
    "gain_down": gain_down,
    "telephone": telephone,
    "high_band": high_band,
}

#: What each edit is, as a check's sentence says it.
EDIT_TITLES = {
    "pad_silence": f"{PAD_S:g} s of silence added before and after",
    "trim_silence": "leading and trailing non-speech cut",
    "gain_up": f"+{GAIN_DB:g} dB gain",
    "gain_down": f"-{GAIN_DB:g} dB gain",
    "telephone": f"telephone band ({TELEPHONE_BAND_HZ[0]:g}-{TELEPHONE_BAND_HZ[1]:g} Hz)",
    "high_band": f"energy above {HIGH_BAND_CUTOFF_HZ / 1000:g} kHz removed (zero-phase low-pass)",
}

NULL_EDIT = "shift_1_sample"
NULL_EDIT_FN: Edit = shift_1_sample
