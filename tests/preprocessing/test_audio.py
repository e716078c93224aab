"""A user points the tool at any audio file and gets 16 kHz mono float32, or an error that says what to fix."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from seraudit.preprocessing.audio import audio_from_array, load_audio, to_model_rate
from seraudit.core.constants import MIN_PATCH_SAMPLES, SAMPLE_RATE
from seraudit.core.errors import AudioError


def sine(freq_hz: float, sample_rate: int, seconds: float = 1.5, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    return (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def peak_frequency(waveform: np.ndarray, sample_rate: int = SAMPLE_RATE) -> float:
    spectrum = np.abs(np.fft.rfft(waveform * np.hanning(len(waveform))))
    return float(np.fft.rfftfreq(len(waveform), 1 / sample_rate)[np.argmax(spectrum)])


@pytest.mark.parametrize(
    ("name", "fmt", "subtype"),
    [
        ("u8.wav", "WAV", "PCM_U8"),
        ("s16.wav", "WAV", "PCM_16"),
        ("s24.wav", "WAV", "PCM_24"),
        ("s32.wav", "WAV", "PCM_32"),
        ("float.wav", "WAV", "FLOAT"),
        ("clip.flac", "FLAC", "PCM_16"),
        ("clip.ogg", "OGG", "VORBIS"),
    ],
)
def test_every_common_format_loads_as_16k_mono_float32(tmp_path, name, fmt, subtype):
    original = sine(440.0, SAMPLE_RATE)
    path = tmp_path / name
    sf.write(path, original, SAMPLE_RATE, format=fmt, subtype=subtype)

    clip = load_audio(path)

    assert clip.waveform.dtype == np.float32 and clip.waveform.ndim == 1
    assert len(clip.waveform) == len(original)
    assert np.abs(clip.waveform).max() <= 1.0
    assert clip.path == str(path) and clip.original_sample_rate == SAMPLE_RATE and clip.padded_s == 0.0
    assert clip.duration_s == pytest.approx(1.5)
    tolerance = 0.05 if subtype in ("PCM_U8", "VORBIS") else 1e-3  # 8-bit and lossy codecs are coarse
    assert np.abs(clip.waveform - original).max() < tolerance


@pytest.mark.parametrize(("sample_rate", "freq_hz"), [(44_100, 3_000.0), (48_000, 3_000.0), (8_000, 1_000.0)])
def test_other_sample_rates_are_resampled_and_a_sine_keeps_its_pitch(tmp_path, sample_rate, freq_hz):
    path = tmp_path / f"sine_{sample_rate}.wav"
    sf.write(path, sine(freq_hz, sample_rate), sample_rate, subtype="PCM_16")

    clip = load_audio(path)

    assert clip.original_sample_rate == sample_rate
    assert abs(len(clip.waveform) - 1.5 * SAMPLE_RATE) <= 1
    assert peak_frequency(clip.waveform) == pytest.approx(freq_hz, abs=1.0)
    # A real resampler keeps the level: the RMS of a 0.5-amplitude sine is 0.5 / sqrt(2).
    assert np.sqrt(np.mean(clip.waveform[1000:-1000] ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.01)


def test_stereo_is_downmixed_to_the_mean_of_its_channels(tmp_path):
    left, right = sine(300.0, 48_000, amplitude=0.6), sine(300.0, 48_000, amplitude=0.2)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), 48_000, subtype="PCM_24")

    clip = load_audio(path)

    assert clip.original_channels == 2 and clip.waveform.ndim == 1
    assert np.abs(clip.waveform[1000:-1000]).max() == pytest.approx(0.4, rel=0.01)


def test_arrays_are_conformed_like_files():
    stereo = np.stack([sine(500.0, 44_100), sine(500.0, 44_100)], axis=1)
    mono = to_model_rate(stereo, 44_100)
    assert mono.dtype == np.float32 and mono.shape == (24_000,)
    assert peak_frequency(mono) == pytest.approx(500.0, abs=1.0)

    clip = audio_from_array(stereo, 44_100)
    assert clip.path is None and clip.original_channels == 2 and len(clip.waveform) == 24_000


def test_a_very_quiet_recording_is_accepted(tmp_path):
    """RAVDESS actors 09 and 20 sit below -60 dBFS: quiet is not silent."""
    path = tmp_path / "quiet.flac"
    sf.write(path, sine(200.0, SAMPLE_RATE, amplitude=10 ** (-66 / 20)), SAMPLE_RATE, subtype="PCM_16")
    assert np.abs(load_audio(path).waveform).max() > 0


def test_a_short_clip_is_zero_padded_to_one_patch_and_the_padding_is_reported(tmp_path):
    path = tmp_path / "short.wav"
    sf.write(path, sine(440.0, 22_050, seconds=0.5), 22_050, subtype="PCM_16")

    clip = load_audio(path)

    assert len(clip.waveform) == MIN_PATCH_SAMPLES
    assert clip.duration_s == pytest.approx(0.5)
    assert clip.padded_s == pytest.approx((MIN_PATCH_SAMPLES - 8_000) / SAMPLE_RATE)
    assert not clip.waveform[8_000:].any()  # padding is zeros, at the end


def test_without_padding_a_short_clip_is_refused(tmp_path):
    path = tmp_path / "short.wav"
    sf.write(path, sine(440.0, SAMPLE_RATE, seconds=0.5), SAMPLE_RATE)
    with pytest.raises(AudioError, match=r"short\.wav.*shorter than one 0\.960 s patch.*pad_short=True"):
        load_audio(path, pad_short=False)


def write_bad_file(tmp_path, kind):
    path = tmp_path / f"{kind}.wav"
    if kind == "empty":
        sf.write(path, np.zeros(0, np.float32), SAMPLE_RATE)
    elif kind == "corrupt":
        path.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(40)))
    elif kind == "nan":
        samples = sine(440.0, SAMPLE_RATE)
        samples[100] = np.nan
        sf.write(path, samples, SAMPLE_RATE, subtype="FLOAT")
    elif kind == "silent":
        sf.write(path, np.zeros(SAMPLE_RATE * 2, np.float32), SAMPLE_RATE)
    elif kind == "crumb":
        sf.write(path, sine(440.0, SAMPLE_RATE, seconds=0.05), SAMPLE_RATE)
    return path


@pytest.mark.parametrize(
    ("kind", "says"),
    [
        ("empty", "holds no samples"),
        ("corrupt", "cannot decode"),
        ("nan", "1 samples are NaN or infinite"),
        ("silent", "digitally silent"),
        ("crumb", "too short to pad"),
    ],
)
def test_unusable_files_raise_an_error_naming_the_file_and_the_fix(tmp_path, kind, says):
    path = write_bad_file(tmp_path, kind)
    with pytest.raises(AudioError) as raised:
        load_audio(path)
    message = str(raised.value)
    assert str(path) in message and says in message
    assert "rule:" in message and "fix:" in message


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(AudioError, match=r"nowhere\.wav: no such file"):
        load_audio(tmp_path / "nowhere.wav")


def test_a_file_above_the_duration_limit_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "long.flac"
    sf.write(path, sine(440.0, SAMPLE_RATE, seconds=3.0), SAMPLE_RATE)
    with pytest.raises(AudioError, match=r"long\.flac: 3\.0 s of audio is longer than the 2 s limit.*max_duration_s"):
        load_audio(path, max_duration_s=2.0)


def test_in_memory_audio_errors_use_the_given_name():
    with pytest.raises(AudioError, match=r"upload #3: the audio is digitally silent"):
        audio_from_array(np.zeros(20_000), 16_000, name="upload #3")
