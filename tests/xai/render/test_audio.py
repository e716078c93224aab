"""A listener can hear what a model attended to: excerpts, listened/ignored resyntheses, level-matched wavs."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import correlate

from seraudit.preprocessing.audio import load_audio
from seraudit.core.constants import NUM_MEL_BANDS, SAMPLE_RATE
from seraudit.preprocessing.frontend import num_frames
from seraudit.xai.render.audio import (
    ExcerptOptions,
    attributed_regions,
    masked_resynthesis,
    mel_to_stft_mask,
    render_attribution_audio,
    rms,
)


@pytest.fixture(scope="module")
def speech(speech_wav) -> np.ndarray:
    return load_audio(speech_wav).waveform


def db(ratio: float) -> float:
    return 20 * np.log10(ratio)


def test_excerpt_is_cut_from_the_most_attributed_half_second(speech, tmp_path, make_attribution):
    clip_map = np.zeros((num_frames(speech.size), NUM_MEL_BANDS), np.float32)
    clip_map[50:100] = 1.0  # all attribution on 0.5-1.0 s
    rendering = render_attribution_audio(make_attribution(clip_map, "occlusion", model="yamnet"), speech, tmp_path, clip_name="speech.wav")

    assert rendering.regions == [(0.5, 1.0)]
    excerpt, sr = sf.read(rendering.excerpt)
    assert sr == SAMPLE_RATE
    assert excerpt.size == pytest.approx(0.5 * SAMPLE_RATE, abs=2)
    # It is that part of the source: the best-matching position of the excerpt in the clip is 0.5 s.
    inner = excerpt[200:-200]  # skip the fades at both ends
    source = speech.astype(np.float64)
    energy = np.concatenate([[0.0], np.cumsum(source**2)])
    window_norm = np.sqrt(energy[inner.size :] - energy[: -inner.size])
    corr = correlate(source, inner, mode="valid", method="fft") / (window_norm * np.linalg.norm(inner) + 1e-12)
    assert abs(int(np.argmax(corr)) - (8000 + 200)) <= 1
    assert corr.max() > 0.99


def test_nearby_regions_merge_and_blips_are_dropped():
    profile = np.zeros(200)
    profile[20:50] = 1.0
    profile[55:80] = 1.0  # 50 ms gap: merged with the first
    profile[150:152] = 5.0  # 20 ms blip: shorter than the minimum region
    regions = attributed_regions(profile, ExcerptOptions(top_fraction=1.0, merge_gap_s=0.1, min_region_s=0.1))
    assert regions == [(0.2, 0.8)]
    # A threshold keeps only frames near the peak.
    assert attributed_regions(profile, ExcerptOptions(threshold=0.5, min_region_s=0.02)) == [(1.5, 1.52)]


def test_listened_plus_ignored_is_the_original(speech, rng):
    n = num_frames(speech.size)
    clip_map = rng.normal(size=(n, NUM_MEL_BANDS)).cumsum(axis=0)  # smooth, signed map
    listened, ignored, mask = masked_resynthesis(speech, clip_map)
    assert mask.shape == (n, 257)
    assert mask.min() >= 0.0 and mask.max() <= 1.0
    assert 0.05 < mask.mean() < 0.95  # a real partition, not all or nothing
    error = (listened + ignored - speech)[1:]  # sample 0 sits under the window's zero
    assert rms(error) < 1e-3 * rms(speech)
    assert rms(listened - speech) > 0.05 * rms(speech)


def test_mask_follows_the_attributed_mel_bands():
    clip_map = np.zeros((10, NUM_MEL_BANDS))
    clip_map[:, 40:] = 1.0  # only the upper mel bands matter
    mask = mel_to_stft_mask(clip_map)
    freqs = np.arange(257) * SAMPLE_RATE / 512
    assert mask[:, freqs < 1000].max() == 0.0
    assert mask[:, (freqs > 3500) & (freqs < 7000)].min() > 0.99
    assert mask[:, freqs > 7600].max() == 0.0  # no mel band covers it: the model never heard it


def test_written_files_are_16k_and_keep_their_own_level(speech, tmp_path, make_attribution):
    clip_map = np.zeros((num_frames(speech.size), NUM_MEL_BANDS), np.float32)
    clip_map[:, :20] = 1.0  # low bands only: "listened" is much quieter than the clip, and stays so
    rendering = render_attribution_audio(
        make_attribution(clip_map, "gradcam", model="yamnet"), speech, tmp_path / "audio", clip_name="03-01-01.flac"
    )
    names = sorted(p.name for p in rendering.files)
    assert names == [
        "03-01-01__yamnet__gradcam__excerpt.wav",
        "03-01-01__yamnet__gradcam__ignored.wav",
        "03-01-01__yamnet__gradcam__listened.wav",
    ]
    for path in rendering.files:
        info = sf.info(path)
        assert (info.samplerate, info.channels, info.subtype) == (SAMPLE_RATE, 1, "PCM_16")
        audio, _ = sf.read(path)
        assert np.abs(audio).max() < 1.0
    listened, _ = sf.read(rendering.listened)
    ignored, _ = sf.read(rendering.ignored)
    # Each keeps its own level: together they still make the clip, so neither was matched to the clip's RMS.
    assert db(rms(listened) / rms(speech)) < -1.0 and db(rms(ignored) / rms(speech)) < -1.0
    assert rendering.levels["listened"]["gain_db"] == 0.0 and rendering.levels["ignored"]["gain_db"] == 0.0
    assert not list((tmp_path / "audio").glob("*.part"))  # atomic writes leave nothing behind


def source_region(waveform: np.ndarray, regions) -> np.ndarray:
    return np.concatenate([waveform[int(round(a * SAMPLE_RATE)) : int(round(b * SAMPLE_RATE))] for a, b in regions])


@pytest.mark.parametrize("max_gain_db", [0.0, 30.0])
def test_no_render_is_louder_than_the_part_of_the_original_it_comes_from(speech, tmp_path, make_attribution,
                                                                          max_gain_db):
    # A clip with a near-silent second (digital silence plus a click), and a map that points only there:
    # loudness matching used to lift such an excerpt by up to 30 dB.
    waveform = speech.copy()
    waveform[SAMPLE_RATE : 2 * SAMPLE_RATE] = 0.0
    waveform[SAMPLE_RATE + 4000] = 0.05
    clip_map = np.zeros((num_frames(waveform.size), NUM_MEL_BANDS), np.float32)
    clip_map[110:190] = 1.0
    rendering = render_attribution_audio(make_attribution(clip_map, "lime", model="yamnet"), waveform, tmp_path,
                                         clip_name="quiet.wav", max_gain_db=max_gain_db)
    assert rendering.regions and all(1.0 <= a and b <= 2.0 for a, b in rendering.regions)
    sources = {"excerpt": source_region(waveform, rendering.regions), "listened": waveform, "ignored": waveform}
    for kind, source in sources.items():
        audio, _ = sf.read(getattr(rendering, kind))
        assert rms(audio) <= rms(source) * 10 ** (0.05 / 20) + 1e-4, kind  # PCM-16 rounding at most
        level = rendering.levels[kind]
        assert level["gain_db"] is None or level["gain_db"] <= max_gain_db + 1e-9
    record = rendering.record()
    assert record["max_gain_db"] == max_gain_db and record["excerpt_regions_s"] == [list(r) for r in rendering.regions]
    assert f"cap {max_gain_db:g} dB" in record["rule"]
    assert record["excerpt"]["duration_s"] == pytest.approx(sum(b - a for a, b in rendering.regions) - 0.01
                                                            * (len(rendering.regions) - 1), abs=2e-3)


def test_excerpts_hold_no_unheard_frame_and_never_merge_across_one(speech, tmp_path, make_attribution):
    profile = np.zeros(200)
    profile[20:50] = 1.0
    profile[55:80] = 1.0  # a 50 ms gap that is not heard: the regions stay apart
    heard = np.ones(200, bool)
    heard[50:55] = False
    heard[100:130] = False
    profile[95:140] = 2.0  # the strongest stretch runs into unheard frames: only its heard part is cut
    regions = attributed_regions(profile, ExcerptOptions(top_fraction=1.0, merge_gap_s=0.1, min_region_s=0.05),
                                 heard=heard)
    np.testing.assert_allclose(regions, [(0.2, 0.5), (0.55, 0.8), (0.95, 1.0), (1.3, 1.4)])
    for a, b in regions:
        assert heard[int(round(a * 100)) : int(round(b * 100))].all()

    clip_map = np.zeros((num_frames(speech.size), NUM_MEL_BANDS), np.float32)
    clip_map[40:160] = 1.0
    heard = np.ones(clip_map.shape[0], bool)
    heard[60:120] = False
    rendering = render_attribution_audio(make_attribution(clip_map, "lime", model="yamnet"), speech, tmp_path,
                                         clip_name="speech.wav", heard=heard, options=ExcerptOptions(top_fraction=1.0))
    np.testing.assert_allclose(rendering.regions, [(0.4, 0.6), (1.2, 1.6)])
