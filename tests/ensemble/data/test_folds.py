"""Cross-validation is speaker-independent: no speaker is ever in two of train, validation and test."""

import pytest

import numpy as np

from seraudit.ensemble.data.folds import final_split, fold_plan

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


def test_the_seed_draws_the_validation_speakers_but_never_the_test_speakers():
    plan, same, other = (fold_plan(RAVDESS_SPEAKERS, "ravdess", seed=s) for s in (0, 0, 1))
    assert [f.to_dict() for f in plan] == [f.to_dict() for f in same]
    assert [f.test_speakers for f in other] == [f.test_speakers for f in plan]
    assert [f.val_speakers for f in other] != [f.val_speakers for f in plan]
    assert all(len(f.val_speakers) == 4 for f in plan)  # 20 % of the 20 training actors


def test_prefixed_ravdess_ids_keep_the_consecutive_actor_folds():
    speakers = [f"ravdess_{i:02d}" for i in range(1, 9)]
    assert [f.test_speakers for f in fold_plan(speakers, "ravdess")] == [speakers[:4], speakers[4:]]


def test_fold_masks_select_each_clip_by_its_speaker():
    fold = fold_plan(EMODB_SPEAKERS, "emodb")[0]
    clip_speakers = np.array(["03", "08", "03", "16"] + fold.val_speakers)
    train, val, test = fold.masks(clip_speakers)
    assert test.tolist() == [True, False, True, False] + [False] * len(fold.val_speakers)
    assert not (train & val).any() and not (train & test).any() and not (val & test).any()
    assert (train | val | test).all()
    assert val[4:].all()


def test_the_final_model_trains_on_every_speaker_but_its_validation_group():
    fold = final_split(EMODB_SPEAKERS, seed=0)
    assert fold.test_speakers == [] and len(fold.val_speakers) == 2
    assert sorted(fold.train_speakers + fold.val_speakers) == sorted(EMODB_SPEAKERS)
