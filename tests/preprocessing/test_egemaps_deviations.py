"""Per clip, the eGeMAPS functionals furthest from the same speaker's neutral voice, by a score that survives
a reference of four clips: the clip never in its own reference, median and MAD, a scale floor, no degenerate
features, and no numbers at all from a reference too small to use."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seraudit.preprocessing.egemaps_deviations import MAD_TO_SD, SCALE_FLOOR, speaker_deviations

LOUDNESS = "loudness_sma3_amean"
JITTER = "jitterLocal_sma3nz_amean"
PITCH = "F0semitoneFrom27.5Hz_sma3nz_amean"
ALPHA = "alphaRatioV_sma3nz_stddevNorm"


def deviations(columns: dict, labels, speakers, **kwargs) -> pd.DataFrame:
    index = [f"c{i}" for i in range(len(labels))]
    egemaps = pd.DataFrame(columns, index=index)
    return speaker_deviations(egemaps, paths=index, labels=labels, speakers=speakers, **kwargs)


def z_of(table: pd.DataFrame, path: str, feature: str) -> float:
    row = table[(table.path == path) & (table.feature == feature)]
    return float(row.z.iloc[0]) if len(row) else float("nan")


def test_median_and_mad_against_the_speakers_other_neutral_clips_hand_checked():
    # Speaker A: neutral 1, 3, 4, 8 and one angry clip at 10; speaker B's clips join the corpus-wide spread.
    table = deviations(
        {LOUDNESS: [1.0, 3.0, 4.0, 8.0, 10.0, 2.0, 3.0, 5.0, 6.0]},
        ["neutral"] * 4 + ["angry"] + ["neutral"] * 3 + ["angry"],
        ["A"] * 5 + ["B"] * 4,
        top_k=3,
    )
    angry = table[table.path == "c4"].iloc[0]
    # median 3.5, MAD = median(|-2.5, -0.5, 0.5, 4.5|) = 1.5; corpus-wide MAD is 2, floor 0.25 * 2 * 1.4826 < 1.5 * 1.4826
    assert angry.reference_median == pytest.approx(3.5)
    assert angry.reference_scale == pytest.approx(1.5 * MAD_TO_SD)
    assert angry.z == pytest.approx((10 - 3.5) / (1.5 * MAD_TO_SD))
    assert (angry.reference, angry.n_reference, angry.status, angry["rank"]) == ("neutral", 4, "ok", 1)
    assert angry.category == "energy/loudness"


def test_a_neutral_clip_is_never_part_of_its_own_reference():
    # the neutral clip c0 is far from the other three; with itself in the reference its z would shrink
    table = deviations({LOUDNESS: [50.0, 1.0, 2.0, 4.0, 3.0]}, ["neutral"] * 4 + ["angry"], ["A"] * 5)
    c0 = table[table.path == "c0"].iloc[0]
    others = np.array([1.0, 2.0, 4.0])
    assert c0.n_reference == 3 and c0.reference_median == pytest.approx(2.0)
    assert c0.z == pytest.approx((50 - 2.0) / max(MAD_TO_SD * 1.0, SCALE_FLOOR * MAD_TO_SD * 1.0))
    assert c0.reference_median == pytest.approx(np.median(others))


def test_one_odd_reference_clip_moves_neither_centre_nor_scale():
    values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]  # five neutral clips and the angry one at 6
    odd = [1.0, 2.0, 3.0, 4.0, 1000.0, 6.0]  # one neutral clip far off (a cough, a clipped take)
    labels, speakers = ["neutral"] * 5 + ["angry"], ["A"] * 6
    plain = deviations({PITCH: values}, labels, speakers)
    spoiled = deviations({PITCH: odd}, labels, speakers)
    assert z_of(plain, "c5", PITCH) == pytest.approx((6 - 3) / (1 * MAD_TO_SD))
    assert z_of(spoiled, "c5", PITCH) == pytest.approx(z_of(plain, "c5", PITCH))


def test_the_scale_floor_stops_near_identical_references_from_exploding():
    # the -1541.7 case: three reference values almost equal, the clip a little off, other speakers spread wide
    table = deviations(
        {ALPHA: [0.5000, 0.5001, 0.5002, 0.45, 0.1, 0.9, 0.3, 0.7]},
        ["neutral"] * 3 + ["angry"] + ["neutral"] * 3 + ["angry"],
        ["A"] * 4 + ["B"] * 4,
    )
    everyone = np.array([0.5, 0.5001, 0.5002, 0.45, 0.1, 0.9, 0.3, 0.7])
    corpus = MAD_TO_SD * np.median(np.abs(everyone - np.median(everyone)))
    angry = table[table.path == "c3"].iloc[0]
    assert angry.reference_scale == pytest.approx(SCALE_FLOOR * corpus)
    assert abs(angry.z) < 3  # without the floor: (0.45 - 0.5001) / 0.000148 = -338


def test_features_whose_reference_has_no_spread_are_dropped():
    # jitter is 0 in three of four neutral clips (unvoiced): MAD 0, no usable scale, whatever the corpus does
    # (speaker B's voiced clips give jitter a corpus-wide spread, so the floor alone would make a z-score)
    table = deviations(
        {LOUDNESS: [1.0, 2.0, 3.0, 4.0, 9.0, 1.0, 2.0, 3.0, 4.0, 5.0],
         JITTER: [0.0, 0.0, 0.0, 0.4, 3.0, 0.1, 0.5, 0.9, 1.3, 0.2]},
        ["neutral"] * 4 + ["angry"] + ["neutral"] * 4 + ["angry"],
        ["A"] * 5 + ["B"] * 5,
        top_k=5,
    )
    angry = table[table.path == "c4"]
    assert list(angry.feature) == [LOUDNESS]
    constant = deviations({LOUDNESS: [1.0, 2.0, 3.0, 4.0, 9.0], PITCH: [7.0] * 5}, ["neutral"] * 4 + ["angry"], ["A"] * 5)
    assert PITCH not in set(constant.feature)


def test_a_reference_too_small_says_so_instead_of_printing_numbers():
    table = deviations(
        {LOUDNESS: [1.0, 2.0, 3.0, 9.0, 1.0, 5.0, 8.0]},
        ["neutral", "neutral", "neutral", "angry", "neutral", "neutral", "angry"],
        ["A"] * 4 + ["B"] * 3,
    )
    # B: every clip has only 2 other clips
    for path in ("c4", "c5", "c6"):
        rows = table[table.path == path]
        assert len(rows) == 1
        row = rows.iloc[0]
        assert row.status == "reference too small" and row.n_reference == 2 and row["rank"] == 0
        assert pd.isna(row.feature) and pd.isna(row.z)
    # A's neutral clips have 2 other neutral clips: they fall back to all 3 of A's other clips (and say so)
    a0 = table[table.path == "c0"].iloc[0]
    assert (a0.reference, a0.n_reference, a0.status) == ("all", 3, "ok")
    assert table[table.path == "c3"].iloc[0].reference == "neutral"


def test_features_rank_by_distance_and_only_the_given_clips_count():
    egemaps = pd.DataFrame(
        {LOUDNESS: [1.0, 3.0, 2.0, 2.5, 100.0], PITCH: [30.0, 32.0, 31.0, 40.0, 0.0], "error": [None] * 5},
        index=["n1", "n2", "n3", "angry", "elsewhere"],
    ).iloc[::-1]  # matched by path, not by row order
    table = speaker_deviations(
        egemaps, paths=["n1", "n2", "n3", "angry"], labels=["neutral"] * 3 + ["angry"], speakers=["A"] * 4, top_k=5
    )
    angry = table[table.path == "angry"]
    # pitch: (40 - 31) / 1.48 = 6.1; loudness: (2.5 - 2) / 1.48 = 0.34; the error column is no feature
    assert list(angry.feature) == [PITCH, LOUDNESS] and list(angry["rank"]) == [1, 2]
    assert angry.category.tolist() == ["frequency/pitch-formant", "energy/loudness"]
    with pytest.raises(ValueError, match="no eGeMAPS row, e.g. gone"):
        speaker_deviations(egemaps, paths=["n1", "gone"], labels=["neutral"] * 2, speakers=["A"] * 2)


def test_a_coefficient_of_variation_whose_mean_crosses_zero_is_dropped():
    # std / mean of an MFCC: its mean sits near 0 for some clips, so the ratio takes both signs and any size
    mfcc = "mfcc2_sma3_stddevNorm"
    columns = {LOUDNESS: [1.0, 2.0, 3.0, 4.0, 9.0, 1.0, 2.0, 3.0, 4.0, 5.0],
               mfcc: [-1.0, -1.2, -0.9, -1.1, -16000.0, 2.0, 1.5, 2.5, 1.8, 0.9],
               "loudness_sma3_stddevNorm": [0.8, 0.9, 1.0, 0.85, 1.3, 0.7, 0.8, 0.9, 0.75, 1.2]}
    table = deviations(columns, (["neutral"] * 4 + ["angry"]) * 2, ["A"] * 5 + ["B"] * 5, top_k=5)
    assert mfcc not in set(table.feature)
    assert "loudness_sma3_stddevNorm" in set(table[table.path == "c4"].feature)  # one sign: a ratio that means something
