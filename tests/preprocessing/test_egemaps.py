"""A user extracts eGeMAPS features for probing and explanations, whatever they imported before."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections import Counter

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from seraudit.preprocessing import egemaps
from seraudit.preprocessing.audio import load_audio
from seraudit.preprocessing.egemaps import (
    CATEGORIES,
    EGEMAPS_CATEGORIES,
    ERROR_COLUMN,
    FUNCTIONAL_NAMES,
    LLD_NAMES,
    extract_egemaps,
    extract_egemaps_signal,
    extract_egemaps_signals,
)
from seraudit.core.errors import AudioError

F0_MEAN = "F0semitoneFrom27.5Hz_sma3nz_amean"
LOUDNESS_MEAN = "loudness_sma3_amean"


@pytest.fixture(scope="module")
def clip(ravdess_dir):
    """An angry, strong-intensity RAVDESS sentence (actor 01, male)."""
    return str(ravdess_dir / "Actor_01" / "03-01-05-02-01-01-01.flac")


@pytest.fixture(scope="module")
def clip_features(clip) -> pd.Series:
    table = extract_egemaps([clip], progress=False)
    return table.loc[clip]


def test_extraction_survives_tensorflow_imported_first(clip, tmp_path):
    # A script file, not `python -c`: a multiprocessing child would re-import it, TensorFlow included.
    script = tmp_path / "tf_first.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import json, math
            import tensorflow as tf
            from seraudit.preprocessing.egemaps import extract_egemaps
            table = extract_egemaps([{clip!r}], progress=False)
            values = table.drop(columns="error").iloc[0].tolist()
            print(json.dumps({{"tf": tf.__version__, "n": len(values), "finite": sum(map(math.isfinite, values))}}))
            """
        )
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["n"] == 88 and result["finite"] == 88


def test_functionals_are_88_named_columns_in_opensmile_order(clip, clip_features):
    table = extract_egemaps([clip], progress=False)
    assert list(table.columns) == [*FUNCTIONAL_NAMES, ERROR_COLUMN]
    assert table.index.tolist() == [clip] and table.index.name == "path"
    assert len(FUNCTIONAL_NAMES) == 88
    assert table.at[clip, ERROR_COLUMN] is None


def test_features_of_a_speech_clip_are_finite_and_plausible(clip_features):
    values = clip_features[list(FUNCTIONAL_NAMES)].astype(float)
    assert np.isfinite(values).all()
    # F0 in semitones above 27.5 Hz: 20 st ≈ 87 Hz, 50 st ≈ 492 Hz (an angry male voice sits inside).
    assert 20 < values[F0_MEAN] < 50
    assert values[LOUDNESS_MEAN] > 0.1
    assert 0 < values["VoicedSegmentsPerSec"] < 10
    assert 200 < values["F1frequency_sma3nz_amean"] < 1200


def test_a_louder_copy_is_louder(clip, tmp_path):
    audio, rate = sf.read(clip, dtype="float32")
    quiet, loud = tmp_path / "quiet.wav", tmp_path / "loud.wav"
    sf.write(quiet, audio * 0.2, rate, subtype="FLOAT")
    sf.write(loud, audio * 0.8, rate, subtype="FLOAT")  # +12 dB, still below full scale
    table = extract_egemaps([quiet, loud], progress=False)
    quiet_features, loud_features = table.iloc[0], table.iloc[1]
    assert loud_features[LOUDNESS_MEAN] > 1.5 * quiet_features[LOUDNESS_MEAN]
    assert loud_features["equivalentSoundLevel_dBp"] == pytest.approx(quiet_features["equivalentSoundLevel_dBp"] + 12.04, abs=0.5)
    assert loud_features[F0_MEAN] == pytest.approx(quiet_features[F0_MEAN], abs=1.0)  # pitch is unchanged


def test_a_corrupt_file_is_recorded_and_the_batch_goes_on(ravdess_clips, tmp_path):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio")
    paths = [str(ravdess_clips[0]), str(broken), str(ravdess_clips[10])]
    table = extract_egemaps(paths, workers=2, progress=False)
    assert table.index.tolist() == paths
    assert "broken.wav" in table.at[str(broken), ERROR_COLUMN] and "AudioError" in table.at[str(broken), ERROR_COLUMN]
    assert table.loc[str(broken), list(FUNCTIONAL_NAMES)].isna().all()
    good = table.drop(index=str(broken))
    assert good[ERROR_COLUMN].isna().all()
    assert np.isfinite(good[list(FUNCTIONAL_NAMES)].to_numpy(float)).all()


def test_files_get_the_same_features_as_the_audio_the_models_see(clip, clip_features):
    waveform = load_audio(clip).waveform
    from_signal = extract_egemaps_signal(waveform, 16_000)
    assert from_signal.index.tolist() == list(FUNCTIONAL_NAMES)
    np.testing.assert_allclose(from_signal.to_numpy(float), clip_features[list(FUNCTIONAL_NAMES)].to_numpy(float))


def test_excerpts_at_another_rate_are_resampled_first(clip, clip_features):
    waveform = load_audio(clip).waveform
    upsampled = np.repeat(waveform, 2) * 1.0  # crude 32 kHz copy: same pitch and loudness
    features = extract_egemaps_signal(upsampled, 32_000)
    assert features[F0_MEAN] == pytest.approx(clip_features[F0_MEAN], abs=1.0)
    assert features[LOUDNESS_MEAN] == pytest.approx(clip_features[LOUDNESS_MEAN], rel=0.2)


def test_several_excerpts_in_one_call(clip):
    waveform = load_audio(clip).waveform
    half = waveform.size // 2
    table = extract_egemaps_signals([waveform[:half], waveform[half:], np.zeros(8000, np.float32)], 16_000)
    assert table.index.tolist() == [0, 1, 2] and table.index.name == "excerpt"
    assert list(table.columns) == list(FUNCTIONAL_NAMES)
    assert table.at[2, LOUDNESS_MEAN] < 0.01 < table.at[1, LOUDNESS_MEAN]  # silence is allowed, and quiet


def test_bad_excerpts_are_refused_with_their_position(clip):
    with pytest.raises(AudioError, match="excerpt 1: the waveform contains NaN"):
        extract_egemaps_signals([np.ones(16000, np.float32) * 0.1, np.full(16000, np.nan, np.float32)], 16_000)


def test_low_level_descriptors_per_10_ms_frame(clip):
    table = extract_egemaps([clip], level="lld", progress=False)
    assert list(table.columns) == [*LLD_NAMES, ERROR_COLUMN]
    assert table.index.names == ["path", "start", "end"]
    starts = table.index.get_level_values("start").to_numpy()
    np.testing.assert_allclose(np.diff(starts), 0.01, atol=1e-6)
    assert 2.2 < starts[-1] < 2.4  # a 2.39 s clip
    frames = extract_egemaps_signal(load_audio(clip).waveform, 16_000, level="lld")
    np.testing.assert_allclose(frames.to_numpy(float), table[list(LLD_NAMES)].to_numpy(float))


@pytest.mark.parametrize("name", ["egemaps.csv", "egemaps.parquet", "egemaps"])
def test_the_cache_spares_a_second_extraction(ravdess_clips, tmp_path, monkeypatch, name):
    paths = [str(p) for p in ravdess_clips[:2]]
    cache = tmp_path / name
    first = extract_egemaps(paths, progress=False, cache=cache)
    assert cache.is_file() and not list(tmp_path.glob("*.part"))
    assert cache.read_bytes().startswith(b"path,mtime_ns,size,F0" if name.endswith(".csv") else b"PAR1")

    extracted: list[list[str]] = []
    run_files = egemaps._run_files

    def recording(todo, *args):
        extracted.append(list(todo))
        return run_files(todo, *args)

    monkeypatch.setattr(egemaps, "_run_files", recording)
    second = extract_egemaps(paths, progress=False, cache=cache)
    assert extracted == []
    pd.testing.assert_frame_equal(second, first, check_exact=True)

    copy = tmp_path / "copy.flac"  # a file the cache has not seen yet
    shutil.copyfile(paths[0], copy)
    extract_egemaps([*paths, str(copy)], progress=False, cache=cache)
    extract_egemaps([*paths, str(copy)], progress=False, cache=cache)  # now cached
    os.utime(copy, ns=(1, 1))  # touched since: extracted again
    extract_egemaps([*paths, str(copy)], progress=False, cache=cache)
    assert extracted == [[str(copy)], [str(copy)]]


def test_a_dead_worker_is_replaced(clip, clip_features):
    assert egemaps._POOL  # started by the extraction behind clip_features
    for worker in egemaps._POOL:
        worker.process.kill()
        worker.process.wait()
    again = extract_egemaps([clip], progress=False).loc[clip]
    pd.testing.assert_series_equal(again, clip_features)


def test_every_functional_has_an_eGeMAPS_category():
    assert set(EGEMAPS_CATEGORIES) == set(FUNCTIONAL_NAMES)
    assert set(EGEMAPS_CATEGORIES.values()) == set(CATEGORIES)
    # Eyben et al. (2016): 10 F0 + 2 jitter + 12 formant frequency/bandwidth functionals; 10 loudness
    # + 2 shimmer + 2 HNR + equivalent sound level; 6 temporal; the rest describe the spectrum.
    assert Counter(EGEMAPS_CATEGORIES.values()) == {
        "frequency/pitch-formant": 24,
        "energy/loudness": 15,
        "temporal": 6,
        "spectral/balance": 43,
    }
    assert EGEMAPS_CATEGORIES["loudnessPeaksPerSec"] == "temporal"
    assert EGEMAPS_CATEGORIES["F2bandwidth_sma3nz_amean"] == "frequency/pitch-formant"
    assert EGEMAPS_CATEGORIES["F2amplitudeLogRelF0_sma3nz_amean"] == "spectral/balance"
    assert EGEMAPS_CATEGORIES["HNRdBACF_sma3nz_amean"] == "energy/loudness"
