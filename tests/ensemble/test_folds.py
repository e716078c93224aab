"""Cross-validation is speaker-independent: no speaker is ever in two of train, validation and test."""

import pytest

from seraudit.ensemble.folds import fold_plan

RAVDESS_SPEAKERS = [f"{i:02d}" for i in range(1, 25)]
EMODB_SPEAKERS = ["03", "08", "09", "10", "11", "12", "13", "14", "15", "16"]


def test_ravdess_is_six_folds_of_four_consecutive_actors():
    folds = fold_plan(RAVDESS_SPEAKERS, "ravdess")
    assert [f.test_speakers for f in folds] == [RAVDESS_SPEAKERS[i : i + 4] for i in range(0, 24, 4)]


def test_emodb_leaves_one_speaker_out():
    folds = fold_plan(EMODB_SPEAKERS, "emodb")
    assert [f.test_speakers for f in folds] == [[s] for s in EMODB_SPEAKERS]


@pytest.mark.parametrize(
    "speakers, corpus",
    [(RAVDESS_SPEAKERS, "ravdess"), (EMODB_SPEAKERS, "emodb"), ([f"spk{i}" for i in range(13)], "crema-d")],
)
def test_no_speaker_leaks_between_train_validation_and_test(speakers, corpus):
    folds = fold_plan(speakers, corpus, seed=3)
    tested = []
    for fold in folds:
        train, val, test = set(fold.train_speakers), set(fold.val_speakers), set(fold.test_speakers)
        assert not train & test and not val & test and not train & val
        assert train | val | test == set(speakers)
        assert val, "every fold keeps validation speakers for early stopping"
        tested += fold.test_speakers
    assert sorted(tested) == sorted(speakers)  # every speaker tested exactly once


def test_other_corpora_use_at_most_five_group_folds():
    assert len(fold_plan([f"s{i}" for i in range(13)], "tess")) == 5
