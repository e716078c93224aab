"""Cross-corpus testing works over the emotions both corpora share, and says so when they share too few."""

import pandas as pd
import pytest

from seraudit.core.errors import CorpusError
from seraudit.ensemble.training.cross_corpus import restrict, run_cross_corpus, shared_labels
from seraudit.ensemble.training.trainer import TrainSettings


def test_shared_emotions_keep_the_canonical_order():
    assert shared_labels(["sad", "calm", "neutral", "angry"], ["angry", "boredom", "neutral", "sad"]) == ["neutral", "sad", "angry"]


def test_restrict_keeps_only_the_shared_emotions():
    table = pd.DataFrame({"path": ["a", "b", "c"], "label": ["sad", "boredom", "angry"]})
    assert restrict(table, ["sad", "angry"])["path"].tolist() == ["a", "c"]


def test_corpora_sharing_one_emotion_are_refused_before_any_training():
    settings = TrainSettings(corpus="one", data="x", models=["egemaps"], progress=False)
    train = pd.DataFrame({"path": ["a", "b"], "label": ["sad", "calm"], "speaker": ["s1", "s2"]})
    test = pd.DataFrame({"path": ["c", "d"], "label": ["sad", "boredom"], "speaker": ["t1", "t2"]})
    with pytest.raises(CorpusError, match="share 1 emotion"):
        run_cross_corpus(settings, "two", "y", train_table=train, test_table=test)
