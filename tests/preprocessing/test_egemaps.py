"""A user extracts eGeMAPS features for probing and explanations, whatever they imported before."""

from __future__ import annotations

import gc
import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from seraudit.core.errors import AudioError
from seraudit.preprocessing.audio import load_audio
from seraudit.preprocessing.egemaps import ERROR_COLUMN, EgemapsExtractor, extract_egemaps, functionals_of
from seraudit.preprocessing.egemaps_names import FUNCTIONAL_NAMES, LLD_NAMES

F0_MEAN = "F0semitoneFrom27.5Hz_sma3nz_amean"
LOUDNESS_MEAN = "loudness_sma3_amean"


@pytest.fixture(scope="module")
def clip(ravdess_dir):
    """An angry, strong-intensity RAVDESS sentence (actor 01, male)."""
    return str(ravdess_dir / "Actor_01" / "03-01-05-02-01-01-01.flac")


@pytest.fixture(scope="module")
def extractor():
    """One functionals extractor for the module: its worker starts once."""
    with EgemapsExtractor(workers=2, progress=False) as extractor:
        yield extractor


@pytest.fixture(scope="module")
def clip_features(extractor, clip) -> pd.Series:
    return extractor.process_files([clip]).loc[clip]


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


def test_functionals_are_88_named_columns_in_opensmile_order(extractor, clip, clip_features):
    table = extractor.process_files([clip])
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


def test_a_louder_copy_is_louder(extractor, clip, tmp_path):
    audio, rate = sf.read(clip, dtype="float32")
    quiet, loud = tmp_path / "quiet.wav", tmp_path / "loud.wav"
    sf.write(quiet, audio * 0.2, rate, subtype="FLOAT")
    sf.write(loud, audio * 0.8, rate, subtype="FLOAT")  # +12 dB, still below full scale
    table = extractor.process_files([quiet, loud])
    quiet_features, loud_features = table.iloc[0], table.iloc[1]
    assert loud_features[LOUDNESS_MEAN] > 1.5 * quiet_features[LOUDNESS_MEAN]
    assert loud_features["equivalentSoundLevel_dBp"] == pytest.approx(quiet_features["equivalentSoundLevel_dBp"] + 12.04, abs=0.5)
    assert loud_features[F0_MEAN] == pytest.approx(quiet_features[F0_MEAN], abs=1.0)  # pitch is unchanged


def test_a_corrupt_file_is_recorded_and_the_batch_goes_on(extractor, ravdess_clips, tmp_path):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio")
    paths = [str(ravdess_clips[0]), str(broken), str(ravdess_clips[10])]
    table = extractor.process_files(paths)
    assert table.index.tolist() == paths
    assert "broken.wav" in table.at[str(broken), ERROR_COLUMN] and "AudioError" in table.at[str(broken), ERROR_COLUMN]
    assert table.loc[str(broken), list(FUNCTIONAL_NAMES)].isna().all()
    good = table.drop(index=str(broken))
    assert good[ERROR_COLUMN].isna().all()
    assert np.isfinite(good[list(FUNCTIONAL_NAMES)].to_numpy(float)).all()


def test_files_get_the_same_features_as_the_audio_the_models_see(extractor, clip, clip_features):
    waveform = load_audio(clip).waveform
    from_signal = extractor.process_signal(waveform, 16_000)
    assert from_signal.index.tolist() == list(FUNCTIONAL_NAMES)
    np.testing.assert_allclose(from_signal.to_numpy(float), clip_features[list(FUNCTIONAL_NAMES)].to_numpy(float))


def test_excerpts_at_another_rate_are_resampled_first(extractor, clip, clip_features):
    waveform = load_audio(clip).waveform
    upsampled = np.repeat(waveform, 2) * 1.0  # crude 32 kHz copy: same pitch and loudness
    features = extractor.process_signal(upsampled, 32_000)
    assert features[F0_MEAN] == pytest.approx(clip_features[F0_MEAN], abs=1.0)
    assert features[LOUDNESS_MEAN] == pytest.approx(clip_features[LOUDNESS_MEAN], rel=0.2)


def test_several_excerpts_in_one_call(extractor, clip):
    waveform = load_audio(clip).waveform
    half = waveform.size // 2
    table = extractor.process_signals([waveform[:half], waveform[half:], np.zeros(8000, np.float32)], 16_000)
    assert table.index.tolist() == [0, 1, 2] and table.index.name == "excerpt"
    assert list(table.columns) == list(FUNCTIONAL_NAMES)
    assert table.at[2, LOUDNESS_MEAN] < 0.01 < table.at[1, LOUDNESS_MEAN]  # silence is allowed, and quiet


def test_bad_excerpts_are_refused_with_their_position(extractor):
    with pytest.raises(AudioError, match="excerpt 1: the waveform contains NaN"):
        extractor.process_signals([np.ones(16000, np.float32) * 0.1, np.full(16000, np.nan, np.float32)], 16_000)


def test_low_level_descriptors_per_10_ms_frame(clip):
    with EgemapsExtractor("lld", progress=False) as lld:
        table = lld.process_files([clip])
        frames = lld.process_signal(load_audio(clip).waveform, 16_000)
    assert list(table.columns) == [*LLD_NAMES, ERROR_COLUMN]
    assert table.index.names == ["path", "start", "end"]
    starts = table.index.get_level_values("start").to_numpy()
    np.testing.assert_allclose(np.diff(starts), 0.01, atol=1e-6)
    assert 2.2 < starts[-1] < 2.4  # a 2.39 s clip
    np.testing.assert_allclose(frames.to_numpy(float), table[list(LLD_NAMES)].to_numpy(float))


def test_the_cache_holds_functionals_only():
    with pytest.raises(ValueError, match="functionals only"):
        EgemapsExtractor("lld", cache="egemaps.csv")
    with pytest.raises(ValueError, match="unknown eGeMAPS level 'frames'"):
        EgemapsExtractor("frames")


@pytest.mark.parametrize("name", ["egemaps.csv", "egemaps.parquet", "egemaps"])
def test_the_cache_spares_a_second_extraction(ravdess_clips, tmp_path, monkeypatch, name):
    paths = [str(p) for p in ravdess_clips[:2]]
    cache = tmp_path / name
    extractor = EgemapsExtractor(cache=cache, progress=False)
    first = extractor.process_files(paths)
    assert cache.is_file() and not list(tmp_path.glob("*.part"))
    assert cache.read_bytes().startswith(b"path,mtime_ns,size,F0" if name.endswith(".csv") else b"PAR1")

    extracted: list[list[str]] = []
    extract_files = extractor._extract_files

    def recording(todo):
        extracted.append(list(todo))
        return extract_files(todo)

    monkeypatch.setattr(extractor, "_extract_files", recording)
    second = extractor.process_files(paths)
    assert extracted == []
    pd.testing.assert_frame_equal(second, first, check_exact=True)
    # Another extractor (a later run) reads the same file.
    pd.testing.assert_frame_equal(extract_egemaps(paths, progress=False, cache=cache), first, check_exact=True)

    copy = tmp_path / "copy.flac"  # a file the cache has not seen yet
    shutil.copyfile(paths[0], copy)
    extractor.process_files([*paths, str(copy)])
    extractor.process_files([*paths, str(copy)])  # now cached
    os.utime(copy, ns=(1, 1))  # touched since: extracted again
    extractor.process_files([*paths, str(copy)])
    assert extracted == [[str(copy)], [str(copy)]]
    extractor.close()


def test_a_dead_worker_is_replaced(extractor, clip, clip_features):
    assert extractor._workers  # started by the extraction behind clip_features
    for worker in extractor._workers:
        worker.kill()
        worker.process.wait()
    again = extractor.process_files([clip]).loc[clip]
    pd.testing.assert_series_equal(again, clip_features)


def test_workers_start_on_first_use_and_stop_when_closed(clip, clip_features):
    extractor = EgemapsExtractor(progress=False)
    assert extractor._workers == []  # configuring starts no process
    with extractor:
        pd.testing.assert_series_equal(extractor.process_files([clip]).loc[clip], clip_features)
        processes = [w.process for w in extractor._workers]
        assert processes and all(p.poll() is None for p in processes)
    assert all(p.poll() is not None for p in processes)
    # A closed extractor can extract again (new workers).
    pd.testing.assert_series_equal(extractor.process_files([clip]).loc[clip], clip_features)
    processes = [w.process for w in extractor._workers]
    del extractor
    gc.collect()
    assert all(p.poll() is not None for p in processes)  # collected: its workers stopped too


def test_a_synthesised_tone_and_a_broken_file(tmp_path):
    tone, broken = tmp_path / "tone.wav", tmp_path / "broken.wav"
    t = np.arange(16_000) / 16_000
    sf.write(tone, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16_000)
    broken.write_bytes(b"not audio at all")
    cache = tmp_path / "egemaps.csv"
    table = extract_egemaps([tone, broken], progress=False, cache=cache)
    assert table.index.tolist() == [str(tone), str(broken)]
    assert list(table.columns) == [*FUNCTIONAL_NAMES, ERROR_COLUMN]
    # 220 Hz is 36.4 semitones above 27.5 Hz.
    assert table.at[str(tone), F0_MEAN] == pytest.approx(12 * np.log2(220 / 27.5), abs=0.5)
    assert table.at[str(tone), ERROR_COLUMN] is None
    assert table.loc[str(broken), list(FUNCTIONAL_NAMES)].isna().all() and "broken.wav" in table.at[str(broken), ERROR_COLUMN]
    assert pd.read_csv(cache)["path"].tolist() == [os.path.abspath(tone)]  # failures are not cached


def test_rows_of_a_functionals_table_by_path(extractor, clip, clip_features):
    table = extractor.process_files([clip])
    rows = functionals_of(table, [clip])
    assert list(rows.columns) == list(FUNCTIONAL_NAMES)  # the error column is not a feature
    with pytest.raises(ValueError, match="1 clip.*no eGeMAPS row, e.g. other.wav"):
        functionals_of(table, [clip, "other.wav"])
