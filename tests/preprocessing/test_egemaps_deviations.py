"""Per clip, the eGeMAPS functionals furthest from the same speaker's neutral voice."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seraudit.preprocessing.egemaps_deviations import speaker_deviations

LOUDNESS = "loudness_sma3_amean"
JITTER = "jitterLocal_sma3nz_amean"
PITCH = "F0semitoneFrom27.5Hz_sma3nz_amean"


def test_deviation_from_the_speakers_neutral_voice_is_hand_checkable():
    egemaps = pd.DataFrame(
        {LOUDNESS: [1.0, 3.0, 5.0, 2.0, 4.0, 9.0], JITTER: [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]},
        index=["a1", "a2", "a3", "b1", "b2", "b3"],
    )
    table = speaker_deviations(
        egemaps,
        paths=egemaps.index,
        labels=["neutral", "neutral", "angry", "neutral", "sad", "angry"],
        speakers=["A", "A", "A", "B", "B", "B"],
        top_k=2,
    )
    a3 = table[table.path == "a3"]
    # Speaker A's neutral clips: 1 and 3 -> mean 2, sample std sqrt(2); the jitter column has no spread.
    assert list(a3.feature) == [LOUDNESS]
    assert a3.z.iloc[0] == pytest.approx((5 - 2) / np.sqrt(2))
    assert a3.reference.iloc[0] == "neutral" and a3.n_reference.iloc[0] == 2
    # Speaker B has one neutral clip: all three of B's clips are the reference (mean 5, std sqrt(13)).
    b3 = table[(table.path == "b3") & (table.feature == LOUDNESS)].iloc[0]
    assert b3.z == pytest.approx((9 - 5) / np.sqrt(13))
    assert b3.reference == "all" and b3.category == "energy/loudness"


def test_features_rank_by_distance_and_only_the_given_clips_count():
    egemaps = pd.DataFrame(
        {LOUDNESS: [1.0, 3.0, 2.5, 100.0], PITCH: [30.0, 32.0, 40.0, 0.0], "error": [None] * 4},
        index=["n1", "n2", "angry", "elsewhere"],
    ).iloc[::-1]  # matched by path, not by row order
    table = speaker_deviations(
        egemaps, paths=["n1", "n2", "angry"], labels=["neutral", "neutral", "angry"], speakers=["A"] * 3, top_k=5
    )
    angry = table[table.path == "angry"]
    # pitch: (40 - 31) / sqrt(2) = 6.4; loudness: (2.5 - 2) / sqrt(2) = 0.35; the error column is no feature.
    assert list(angry.feature) == [PITCH, LOUDNESS] and list(angry["rank"]) == [1, 2]
    assert angry.category.tolist() == ["frequency/pitch-formant", "energy/loudness"]
    with pytest.raises(ValueError, match="no eGeMAPS row, e.g. gone"):
        speaker_deviations(egemaps, paths=["n1", "gone"], labels=["neutral"] * 2, speakers=["A"] * 2)
