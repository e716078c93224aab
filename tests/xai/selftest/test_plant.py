"""Planted corpora: the tone's level and bands, the silence's length, and a written corpus whose only difference from
its source is the cue on the planted emotion's clips."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from seraudit.core.constants import SAMPLE_RATE
from seraudit.preprocessing.frontend import log_mel
from seraudit.xai.selftest.plant import (PLANTS, SILENCE_S, TONE_DB, TONE_HZ, add_silence, add_tone, tone_bands,
                                         write_planted_corpus)


def voice(seconds: float = 1.5, f0: float = 150.0, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    wave = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 8)) * 0.05
    return (wave + np.random.default_rng(seed).normal(0, 0.001, t.size)).astype(np.float32)


def test_the_tone_sits_at_its_stated_level_re_the_clip_rms():
    x = voice()
    tone = add_tone(x).astype(np.float64) - x
    middle = tone[SAMPLE_RATE // 10 : -SAMPLE_RATE // 10]  # past the 10 ms fades
    level = 20 * np.log10(np.sqrt(np.mean(middle ** 2)) / np.sqrt(np.mean(x.astype(np.float64) ** 2)))
    assert level == pytest.approx(TONE_DB, abs=0.05)
    spectrum = np.abs(np.fft.rfft(middle))
    assert np.fft.rfftfreq(middle.size, 1 / SAMPLE_RATE)[spectrum.argmax()] == pytest.approx(TONE_HZ, abs=2)


def test_the_tone_lights_exactly_its_mel_bands():
    bands = tone_bands()
    assert bands.sum() == 2 and bands[-10:].any()  # two neighbouring triangles near the top of 125-7500 Hz
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    spectrum = log_mel(0.01 * np.sin(2 * np.pi * TONE_HZ * t)).mean(axis=0)
    assert set(np.argsort(spectrum)[-2:]) == set(np.flatnonzero(bands))


def test_the_silence_is_that_many_seconds_of_zeros_before_the_clip():
    x = voice()
    y = add_silence(x)
    n = int(SILENCE_S * SAMPLE_RATE)
    assert y.size == x.size + n and not y[:n].any() and np.array_equal(y[n:], x)


def test_silence_cells_cover_the_planted_second_and_the_clip_s_own_leading_silence():
    x = np.concatenate([np.zeros(int(0.5 * SAMPLE_RATE), np.float32), voice()])
    y = add_silence(x)
    cells = PLANTS["silence"].cue_cells(y, log_mel(y).shape[0])
    leading = int(cells[:, 0].sum())
    assert cells.all(axis=1)[:leading].all() and not cells[leading:].any()
    assert 146 <= leading <= 152  # 1 s planted + 0.5 s of the clip's own silence, to the first voiced frame (32 ms long)


def test_a_planted_corpus_differs_from_its_source_by_the_cue_alone(tmp_path):
    rows = []
    for speaker in ("a", "b"):
        for k, label in enumerate(("calm", "sad")):
            path = tmp_path / "src" / f"{speaker}_{label}.flac"
            path.parent.mkdir(exist_ok=True)
            sf.write(path, voice(seed=k + 3 * len(rows)), SAMPLE_RATE)
            rows.append({"path": str(path), "label": label, "speaker": speaker})
    (tmp_path / "src" / "broken_calm.flac").write_bytes(b"not audio")
    rows.append({"path": str(tmp_path / "src" / "broken_calm.flac"), "label": "calm", "speaker": "a"})
    corpus = write_planted_corpus(pd.DataFrame(rows), tmp_path / "tone", "tone", "calm")
    assert [f["clip"] for f in corpus.failures] == [rows[-1]["path"]]  # recorded, the batch goes on
    table = corpus.table
    assert list(table["planted"]) == [True, False, True, False]
    for row in table.itertuples():
        source = sf.read(row.source, dtype="float32")[0]
        written = sf.read(row.path, dtype="float32")[0]
        if row.planted:
            np.testing.assert_array_equal(sf.read(row.removed, dtype="float32")[0], source)
            assert np.allclose(written, add_tone(source), atol=1e-7) and not np.allclose(written, source, atol=1e-4)
        else:
            np.testing.assert_array_equal(written, source)
    manifest = pd.read_csv(corpus.manifest)
    assert list(manifest.columns) == ["path", "label", "speaker", "corpus"] and len(manifest) == 4
