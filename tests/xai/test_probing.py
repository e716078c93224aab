"""Probing tells which acoustic features an emotion's embedding dimensions carry, never leaking speakers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import KFold, cross_val_predict

from seraudit.xai.probing import (
    embedding_table,
    probe_acoustic_features,
    probe_branches,
    ridge_probe,
    speaker_cv,
    speaker_deviations,
)

CARRIED = "loudness_sma3_amean"  # built from the dimensions that signal "angry"
UNRELATED = "jitterLocal_sma3nz_amean"  # pure noise
PER_SPEAKER = "F0semitoneFrom27.5Hz_sma3nz_amean"  # a constant per speaker (their pitch)


@pytest.fixture(scope="module")
def corpus():
    rng = np.random.default_rng(0)
    speakers = np.repeat([f"spk{i}" for i in range(6)], 24)
    labels = np.tile(np.repeat(["neutral", "happy", "angry"], 8), 6)
    X = rng.normal(size=(len(labels), 40))
    X[labels == "angry", :4] += 2.0  # dims 0-3 signal anger
    codes = {s: rng.normal(size=6) for s in np.unique(speakers)}
    X[:, 30:36] += 5.0 * np.stack([codes[s] for s in speakers])  # dims 30-35 identify the speaker
    pitch = {s: rng.normal() for s in np.unique(speakers)}
    paths = [f"/data/{s}/clip{i:03d}.wav" for i, s in enumerate(speakers)]
    egemaps = pd.DataFrame(
        {
            CARRIED: X[:, :4].sum(axis=1) + 0.1 * rng.normal(size=len(X)),
            UNRELATED: rng.normal(size=len(X)),
            PER_SPEAKER: np.array([pitch[s] for s in speakers]) + 0.01 * rng.normal(size=len(X)),
        },
        index=pd.Index(paths, name="path"),
    ).iloc[::-1]  # rows in another order than the embeddings: matched by path
    return SimpleCorpus(X, paths, labels, speakers, egemaps)


class SimpleCorpus:
    def __init__(self, X, paths, labels, speakers, egemaps):
        self.X, self.paths, self.labels, self.speakers, self.egemaps = X, paths, labels, speakers, egemaps
        self.table = embedding_table(X, paths, labels, speakers)


def test_anger_dimensions_carry_loudness_and_nothing_carries_noise(corpus):
    result = probe_acoustic_features(corpus.table, corpus.egemaps, grid=(4, 8, 16))
    angry = result.selection.set_index("emotion").loc["angry"]
    assert angry.n_top == 4 and sorted(angry.top_dims) == [0, 1, 2, 3]
    assert angry.auc_top >= 0.95 * (angry.auc_all - 0.5) + 0.5

    rows = result.features.set_index(["emotion", "feature"])
    assert list(result.features.columns[:8]) == [
        "emotion", "n_top", "feature", "category", "r2_top", "r2_all", "rmse_top", "rmse_all",
    ]  # fmt: skip
    assert rows.loc[("angry", CARRIED), "r2_top"] > 0.9
    assert rows.loc[("angry", CARRIED), "category"] == "energy/loudness"
    assert rows.loc[("angry", UNRELATED), "r2_top"] < 0.1
    assert rows.loc[("angry", UNRELATED), "r2_all"] < 0.1
    assert rows.loc[("angry", CARRIED), "rmse_top"] < rows.loc[("angry", UNRELATED), "rmse_top"]
    categories = result.categories.set_index(["emotion", "category"])
    assert categories.loc[("angry", "energy/loudness"), "n_features"] == 1


def test_speaker_folds_never_share_a_speaker(corpus):
    for train, test in speaker_cv(corpus.speakers, 5).split(corpus.X, groups=corpus.speakers):
        assert not set(corpus.speakers[train]) & set(corpus.speakers[test])


def test_a_speaker_trait_is_not_predictable_for_unseen_speakers(corpus):
    """The embeddings identify speakers; a random split would 'predict' their pitch, the grouped one must not."""
    y = corpus.egemaps.loc[corpus.paths, [PER_SPEAKER]].to_numpy()
    grouped = ridge_probe(corpus.X, y, corpus.speakers)
    assert grouped["r2"][0] < 0.3
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.linear_model import RidgeCV

    leaky = cross_val_predict(
        TransformedTargetRegressor(RidgeCV(alphas=np.logspace(-2, 4, 13))), corpus.X, y,
        cv=KFold(5, shuffle=True, random_state=0),
    )  # fmt: skip
    assert 1 - ((y - leaky) ** 2).sum() / ((y - y.mean()) ** 2).sum() > 0.6


def test_probe_per_branch_stacks_the_tables(corpus):
    result = probe_branches(
        {"yamnet": corpus.table, "vggish": corpus.X[:, ::-1].copy()},
        corpus.egemaps,
        paths=corpus.paths,
        labels=corpus.labels,
        speakers=corpus.speakers,
        emotions=["angry"],
        grid=(4, 8),
    )
    assert result.features.columns[0] == "branch"
    assert sorted(result.selection.branch) == ["vggish", "yamnet"]
    vggish = result.selection.set_index("branch").loc["vggish"]
    assert sorted(vggish.top_dims) == [36, 37, 38, 39]  # the same dims, reversed


def test_missing_egemaps_rows_are_named(corpus):
    with pytest.raises(ValueError, match="no eGeMAPS row.*extract_egemaps"):
        probe_acoustic_features(corpus.table, corpus.egemaps.iloc[1:], grid=(4,))


def test_deviation_from_the_speakers_neutral_voice_is_hand_checkable():
    egemaps = pd.DataFrame(
        {CARRIED: [1.0, 3.0, 5.0, 2.0, 4.0, 9.0], UNRELATED: [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]},
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
    assert list(a3.feature) == [CARRIED]
    assert a3.z.iloc[0] == pytest.approx((5 - 2) / np.sqrt(2))
    assert a3.reference.iloc[0] == "neutral" and a3.n_reference.iloc[0] == 2
    # Speaker B has one neutral clip: all three of B's clips are the reference (mean 5, std sqrt(13)).
    b3 = table[(table.path == "b3") & (table.feature == CARRIED)].iloc[0]
    assert b3.z == pytest.approx((9 - 5) / np.sqrt(13))
    assert b3.reference == "all" and b3.category == "energy/loudness"


def test_clip_embedding_is_the_mean_over_gds_kept_patches(tone_model, tone_clip):
    import dataclasses

    from seraudit.xai.probing import clip_embeddings

    keep = np.zeros(len(tone_clip.patches), bool)
    keep[[0, 2]] = True
    clip = dataclasses.replace(tone_clip, selection=dataclasses.replace(tone_clip.selection, keep=keep))
    emb = clip_embeddings(tone_model, [tone_clip, clip], "alpha")

    import keras

    km = tone_model.keras_model
    per_patch = keras.Model(km.inputs, km.get_layer("alpha_embedding").output).predict(tone_clip.patches.data, verbose=0)
    assert emb.shape == (2, per_patch.shape[1])
    np.testing.assert_allclose(emb[1], per_patch[[0, 2]].mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(emb[0], per_patch[tone_clip.selection.keep].mean(axis=0), rtol=1e-5)
    with pytest.raises(ValueError, match="no branch 'gamma'"):
        clip_embeddings(tone_model, [clip], "gamma")
