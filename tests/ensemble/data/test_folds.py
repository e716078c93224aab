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


def _clips(emotions_by_speaker: dict[str, str]):
    """Per-clip (speakers, labels): two clips of every emotion each speaker speaks (emotions as one letter each)."""
    pairs = [(s, e) for s, es in emotions_by_speaker.items() for e in es for _ in range(2)]
    return [s for s, _ in pairs], [e for _, e in pairs]


def test_given_the_emotions_an_inner_split_keeps_two_emotions_among_its_training_speakers():
    speakers, labels = _clips({"s1": "ab", "s2": "ab", "s3": "a", "s4": "a", "s5": "a"})
    blind = fold_plan(speakers, "manifest", seed=0)
    known = fold_plan(speakers, "manifest", seed=0, labels=labels)
    by_speaker = {"s1": {"a", "b"}, "s2": {"a", "b"}}
    assert any(not any(s in by_speaker for s in f.train_speakers) for f in blind)  # the seeded draw alone loses 'b'
    for fold in known:
        assert {e for s in fold.train_speakers for e in by_speaker.get(s, {"a"})} == {"a", "b"}, fold
    assert [f.test_speakers for f in known] == [f.test_speakers for f in blind]  # only validation is redrawn
    final = final_split(speakers, seed=0, labels=labels)
    assert set(final.train_speakers) & {"s1", "s2"}


def test_a_draw_that_already_keeps_two_emotions_is_not_changed():
    speakers, labels = _clips({s: "abcdefgh" for s in RAVDESS_SPEAKERS})
    plan = fold_plan(speakers, "ravdess", seed=0)
    assert [f.to_dict() for f in fold_plan(speakers, "ravdess", seed=0, labels=labels)] == [f.to_dict() for f in plan]


def test_a_fold_whose_other_speakers_hold_one_emotion_is_named_with_that_emotion():
    from seraudit.ensemble.data.folds import untrainable_folds

    speakers, labels = _clips({"s1": "ab", "s2": "a", "s3": "a"})
    problems = untrainable_folds(speakers, labels, "manifest", seed=0)
    assert len(problems) == 1 and problems[0].startswith("fold ")
    assert "(test speakers s1)" in problems[0] and "hold only 'a'" in problems[0]
    assert untrainable_folds(*_clips({"s1": "ab", "s2": "ab", "s3": "a"}), "manifest") == []
