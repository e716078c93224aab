"""A prepared corpus: which clips a quick run takes, the label order, and clip outputs pooled over kept patches."""

import numpy as np
import pandas as pd

from seraudit.ensemble.data.corpus_data import CorpusData, label_set, select_clips
from seraudit.ensemble.data.embedding_cache import CorpusPatches
from seraudit.ensemble.model.clip_pooling import pool_log_probabilities


def clip_table(n_speakers=4, per_label=3, labels=("angry", "sad", "neutral")):
    rows = [{"path": f"s{s}_{lab}_{i}.wav", "speaker": f"s{s}", "label": lab}
            for s in range(n_speakers) for lab in labels for i in range(per_label)]  # fmt: skip
    return pd.DataFrame(rows)


def test_a_quick_run_spreads_its_clips_over_speakers_then_emotions():
    table = clip_table()
    picked = select_clips(table, 8, seed=3)
    assert len(picked) == 8 and picked["speaker"].value_counts().tolist() == [2, 2, 2, 2]
    assert (picked.groupby("speaker")["label"].nunique() == 2).all()
    assert picked.equals(select_clips(table, 8, seed=3))
    assert len(select_clips(table, None)) == len(table)


def test_labels_follow_the_canonical_emotion_order():
    assert label_set(["sad", "boredom", "neutral", "angry", "sad"]) == ["neutral", "sad", "angry", "boredom"]


def synthetic_data(rng):
    clip_index = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    patches = CorpusPatches(["a", "b", "c"], clip_index, np.zeros(8), np.ones(8), np.zeros(8))
    return CorpusData(
        table=pd.DataFrame({"path": ["a", "b", "c"], "label": ["sad", "angry", "sad"], "speaker": ["x", "y", "x"]}),
        labels=["sad", "angry"], y=np.array([0, 1, 0]), speakers=np.array(["x", "y", "x"]), patches=patches,
        keep=np.array([True, False, True, False, False, True, True, True]),
        taps={"yamnet": {"layer14": rng.normal(size=(8, 4))}, "vggish": {"fc2": rng.normal(size=(8, 2))}},
    )  # fmt: skip


def test_clip_probabilities_pool_each_clips_kept_patches(rng):
    data = synthetic_data(rng)
    logp = np.log(rng.dirichlet(np.ones(2), size=8))
    clips = np.array([0, 1, 2])
    pooled = data.clip_probabilities(logp, np.arange(8), clips)
    for c in clips:
        mine = data.patches.clip_index == c
        expected, _ = pool_log_probabilities(np.exp(logp[mine]), data.keep[mine])
        np.testing.assert_allclose(pooled[c], expected)  # clip 1 kept nothing: all its patches count
    some = np.flatnonzero(data.patches.clip_index == 2)
    np.testing.assert_allclose(data.clip_probabilities(logp[some], some, np.array([2]))[0], pooled[2])


def test_masks_and_head_inputs(rng):
    data = synthetic_data(rng)
    assert data.patch_mask(np.array([True, False, False])).tolist() == [True, False, True] + [False] * 5
    assert data.patch_mask(np.array([False, True, False]), kept_only=False).sum() == 2
    fused = data.head_input(("yamnet", "vggish"), np.array([1, 4]))
    np.testing.assert_array_equal(fused, np.hstack([data.embeddings["yamnet"][[1, 4]], data.embeddings["vggish"][[1, 4]]]))
    assert data.n_classes == 2
