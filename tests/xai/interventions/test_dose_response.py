"""Dose-response against a hand-computed answer: changes are taken against identity resynthesis, never the original."""

from __future__ import annotations

import numpy as np
import pytest

from seraudit.xai.interventions.dose_response import ClipScores, dose_response, hierarchical_interval

LABELS = ["a", "b"]


@pytest.fixture(scope="module")
def result():
    clips = [
        ClipScores("m", "c1", LABELS, original=[0.9, 0.1], identity=[0.8, 0.2], speaker="s1", label="a",
                   variants={("f0_level", 2.0): [0.3, 0.7], ("f0_level", 4.0): [0.2, 0.8],
                             ("intensity", 6.0): [0.79, 0.21]}),
        ClipScores("m", "c2", LABELS, original=[0.7, 0.3], identity=[0.7, 0.3], speaker="s2", label="a",
                   variants={("f0_level", 2.0): [0.6, 0.4], ("f0_level", 4.0): [0.4, 0.6],
                             ("intensity", 6.0): [0.69, 0.31]}),
        ClipScores("m", "c3", LABELS, original=[0.5, 0.5], identity=[0.4, 0.6], speaker="s2", label="b",
                   variants={("f0_level", 2.0): [0.2, 0.8]}),
    ]
    return dose_response(clips, n_boot=300, seed=0)


def row(rows, **keys):
    found = [r for r in rows if all(r[k] == v for k, v in keys.items())]
    assert len(found) == 1, (keys, found)
    return found[0]


def test_the_identity_effect_against_the_original(result):
    a = row(result["identity"], emotion="a")
    assert a["flip_rate"] == 0.0 and a["mean_abs_dp"] == pytest.approx(0.05) and a["mean_dp"] == pytest.approx(-0.05)
    b = row(result["identity"], emotion="b")
    assert b["flip_rate"] == 1.0 and b["mean_abs_dp"] == pytest.approx(0.1)  # 0.5/0.5 -> "a"; identity says "b"
    every = row(result["identity"], emotion="all")
    assert every["flip_rate"] == pytest.approx(1 / 3) and every["mean_abs_dp"] == pytest.approx(0.2 / 3)


def test_the_change_is_measured_against_identity_resynthesis(result):
    plus2 = row(result["curves"], emotion="a", feature="f0_level", strength=2.0)
    assert plus2["mean_dp"] == pytest.approx(-0.3)  # (0.3-0.8 + 0.6-0.7)/2; against the original it would be -0.35
    assert plus2["flip_rate"] == 0.5 and plus2["predicted"] == {"a": 1, "b": 1}
    assert plus2["excess"] == pytest.approx(0.25)  # (0.5-0.1 + 0.1-0)/2
    assert plus2["n_clips"] == 2 and plus2["n_speakers"] == 2
    assert plus2["ci_low"] == pytest.approx(-0.5) and plus2["ci_high"] == pytest.approx(-0.1)  # one clip per speaker
    plus4 = row(result["curves"], emotion="a", feature="f0_level", strength=4.0)
    assert plus4["mean_dp"] == pytest.approx(-0.45) and plus4["flip_rate"] == 1.0


def test_the_smallest_flipping_strength(result):
    up = row(result["smallest_flip"], emotion="a", feature="f0_level", direction="up")
    assert up["any_flip"] == 2.0 and up["half_flip"] == 2.0
    assert row(result["smallest_flip"], emotion="b", feature="f0_level", direction="up")["any_flip"] is None


def test_a_feature_is_used_only_beyond_the_identity_null(result):
    f0 = row(result["used"], model="m", feature="f0_level")
    assert f0["used"] is True and f0["level"] == pytest.approx(1 - 0.05 / 2)
    plus2 = next(s for s in f0["strengths"] if s["strength"] == 2.0)
    assert plus2["excess"] == pytest.approx((0.4 + 0.1 + 0.1) / 3) and plus2["ci_low"] > 0
    # The gain moved the target probability by 0.01, less than the vocoder alone did on c1 (0.1): not used.
    gain = row(result["used"], model="m", feature="intensity")
    assert gain["used"] is False and gain["strengths"][0]["excess"] == pytest.approx((-0.09 + 0.01) / 2)


def test_the_interval_resamples_speakers_then_their_clips():
    values = np.array([1.0, 1.0, 1.0, 5.0])
    low, high = hierarchical_interval(values, ["s1", "s1", "s1", "s2"], n_boot=2000, seed=0)
    # Speakers weigh equally in a draw of speakers: the all-"s2" draws (a quarter) reach 5; pooled clips never would.
    assert high == pytest.approx(5.0) and low == pytest.approx(1.0)
    assert hierarchical_interval(np.array([0.3]), ["s"]) == (0.3, 0.3)
