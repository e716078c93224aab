"""The heard metrics on hand-made maps: shares of positive mass on unheard and on non-speech frames, and their checks."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from seraudit.xai.audit.checks import metric_status
from seraudit.xai.metrics.base import MetricContext
from seraudit.xai.metrics.heard import NonSpeechMass, UnheardMass, speech_frames


@pytest.fixture(scope="module")
def half_heard_clip(speech_wav):
    """A 2-s clip whose last patch GDS dropped (frames 144-199 unheard), speech (espeak-ng) over 0.5-1.0 s."""
    import soundfile as sf
    import soxr

    from seraudit.core.constants import SAMPLE_RATE, STFT_HOP_SAMPLES, STFT_WINDOW_SAMPLES
    from seraudit.preprocessing.audio import audio_from_array
    from seraudit.preprocessing.gds import select_segments
    from seraudit.preprocessing.pipeline import ClipFeatures
    from seraudit.preprocessing.segments import make_patches

    rng = np.random.default_rng(3)
    log_mel = rng.normal(-4.0, 0.5, (200, 64)).astype(np.float32)
    patches = make_patches(log_mel)  # starts 0, 48, 96, 104
    selection = replace(select_segments(patches.data), keep=np.array([True, True, False, False]))
    n = (200 - 1) * STFT_HOP_SAMPLES + STFT_WINDOW_SAMPLES
    t = np.arange(n) / SAMPLE_RATE
    audio = rng.normal(0.0, 0.002, n)
    voiced = (t >= 0.5) & (t < 1.0)
    sentence, rate = sf.read(str(speech_wav), dtype="float32")
    sentence = soxr.resample(sentence, rate, SAMPLE_RATE)
    sentence = sentence[np.flatnonzero(np.abs(sentence) > 1e-3)[0]:][: int(voiced.sum())]
    audio[voiced] += 0.1 * sentence / np.sqrt(np.mean(sentence**2))  # the sentence's first 0.5 s
    return ClipFeatures(path=None, audio=audio_from_array(audio, SAMPLE_RATE), log_mel=log_mel, patches=patches,
                        selection=selection)


def context(clip, clip_map, make_attribution):
    return MetricContext(None, clip, make_attribution(np.asarray(clip_map, np.float32), "lime"))


def test_voicing_lands_on_the_log_mel_grid(half_heard_clip):
    speech = speech_frames(half_heard_clip)
    assert speech.shape == (200,)
    assert speech[55:95].all() and not speech[:40].any() and not speech[110:].any()


def test_unheard_mass_is_the_positive_share_beyond_the_kept_patches(half_heard_clip, make_attribution):
    clip_map = np.zeros((200, 64))
    clip_map[20:40] = 1.0  # heard
    clip_map[160:180] = 3.0  # unheard (frames 144-199): three quarters of the positive mass
    clip_map[100:120] = -5.0  # negative attribution never counts
    assert UnheardMass()(context(half_heard_clip, clip_map, make_attribution)).value == pytest.approx(0.75)
    clip_map[160:180] = 0.0
    assert UnheardMass()(context(half_heard_clip, clip_map, make_attribution)).value == 0.0


def test_the_unheard_check_fails_on_any_mass_and_passes_at_zero():
    assert metric_status(UnheardMass, {"value": 0.0, "n_clips": 3}) == "pass"
    assert metric_status(UnheardMass, {"value": 1e-3, "n_clips": 3}) == "fail"


def test_non_speech_mass_against_a_uniform_map_over_heard_frames(half_heard_clip, make_attribution):
    on_voice = np.zeros((200, 64))
    on_voice[60:90] = 1.0
    result = NonSpeechMass()(context(half_heard_clip, on_voice, make_attribution))
    assert result.value == pytest.approx(0.0, abs=0.05)
    # The control: the share of the 144 heard frames that are not voiced (about 0.5 s of 1.44 s voiced).
    assert result.control == pytest.approx(1 - 50 / 144, abs=0.06) and result.threshold == result.control
    assert result.gain > 0
    on_silence = np.zeros((200, 64))
    on_silence[5:40] = 1.0
    assert NonSpeechMass()(context(half_heard_clip, on_silence, make_attribution)).gain < 0
