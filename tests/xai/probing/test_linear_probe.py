"""Probing tells which acoustic features an emotion's embedding dimensions carry, never leaking speakers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import KFold, cross_val_predict

from seraudit.xai.probing.linear_probe import AcousticProbe, embedding_table, ridge_probe, speaker_cv

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
    probe = AcousticProbe(top_n_grid=(4, 8, 16)).fit(corpus.table, corpus.egemaps)
    angry = probe.selection_.set_index("emotion").loc["angry"]
    assert angry.n_top == 4 and sorted(angry.top_dims) == [0, 1, 2, 3]
    assert angry.auc_top >= 0.95 * (angry.auc_all - 0.5) + 0.5

    rows = probe.features_.set_index(["emotion", "feature"])
    assert list(probe.features_.columns[:8]) == [
        "emotion", "n_top", "feature", "category", "r2_top", "r2_all", "rmse_top", "rmse_all",
    ]  # fmt: skip
    assert rows.loc[("angry", CARRIED), "r2_top"] > 0.9
    assert rows.loc[("angry", CARRIED), "category"] == "energy/loudness"
    assert rows.loc[("angry", UNRELATED), "r2_top"] < 0.1
    assert rows.loc[("angry", UNRELATED), "r2_all"] < 0.1
    assert rows.loc[("angry", CARRIED), "rmse_top"] < rows.loc[("angry", UNRELATED), "rmse_top"]
    categories = probe.categories_.set_index(["emotion", "category"])
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
    probe = AcousticProbe(top_n_grid=(4, 8), emotions=["angry"]).fit(
        {"yamnet": corpus.table, "vggish": corpus.X[:, ::-1].copy()},
        corpus.egemaps,
        paths=corpus.paths,
        labels=corpus.labels,
        speakers=corpus.speakers,
    )
    assert [t.columns[0] for t in (probe.selection_, probe.features_, probe.categories_)] == ["branch"] * 3
    assert sorted(probe.selection_.branch) == ["vggish", "yamnet"]
    vggish = probe.selection_.set_index("branch").loc["vggish"]
    assert sorted(vggish.top_dims) == [36, 37, 38, 39]  # the same dims, reversed


def test_missing_egemaps_rows_are_named(corpus):
    with pytest.raises(ValueError, match="no eGeMAPS row.*extract_egemaps"):
        AcousticProbe(top_n_grid=(4,)).fit(corpus.table, corpus.egemaps.iloc[1:])


def test_a_dimension_that_is_a_feature_is_found():
    """Dimension 5 is a linear function of loudness and alone tells "loud" clips apart; the probe picks it."""
    rng = np.random.default_rng(1)
    n = 96
    speakers = np.repeat([f"spk{i}" for i in range(4)], n // 4)
    loudness = rng.normal(size=n)
    labels = np.where(loudness > 0, "loud", "soft")
    X = rng.normal(size=(n, 12))
    X[:, 5] = 3.0 * loudness - 1.0
    egemaps = pd.DataFrame({CARRIED: loudness, UNRELATED: rng.normal(size=n)}, index=[f"c{i}" for i in range(n)])
    probe = AcousticProbe(top_n_grid=(1, 2, 4), n_splits=4, emotions=["loud"]).fit(
        X, egemaps, paths=egemaps.index, labels=labels, speakers=speakers
    )
    loud = probe.selection_.iloc[0]
    assert loud.n_top == 1 and loud.top_dims == [5] and loud.auc_top > 0.95
    features = probe.features_.set_index("feature")
    assert features.loc[CARRIED, "r2_top"] > 0.99 and features.loc[CARRIED, "nrmse_top"] < 0.1
    assert features.loc[UNRELATED, "r2_top"] < 0.1
    assert probe.get_params()["top_n_grid"] == (1, 2, 4)  # a scikit-learn estimator: settings in, tables out


def test_a_held_out_clip_far_outside_a_nearly_dead_dimension_does_not_wreck_the_probe():
    """A ReLU dimension active in one training clip, then far more in one held-out clip: clipped to the training
    range, the probe keeps the R² the informative dimensions give."""
    rng = np.random.default_rng(0)
    n = 60
    speakers = np.repeat([f"s{i}" for i in range(6)], 10)
    y = rng.normal(size=(n, 1))
    X = np.column_stack([y + 0.2 * rng.normal(size=(n, 1)), rng.normal(size=(n, 3)), np.zeros(n)])
    X[3, -1] = 1e-3  # speaker s0: one clip barely activates the last dimension
    X[55, -1] = 50.0  # speaker s5, held out with its clips: 50 000 times further
    r2 = ridge_probe(X, y, speakers, n_splits=6)["r2"][0]
    assert r2 > 0.8
