"""Cross-validation scores every clip once, by a model that never heard its speaker; the final models train on all.

The synthetic corpus and its settings come from this folder's conftest.
"""

import pytest

from seraudit.ensemble.training import cross_validation
from seraudit.ensemble.training.cross_validation import cross_validate, train_final

MODELS = ["ensemble", "yamnet", "vggish", "egemaps"]


@pytest.fixture(scope="module")
def cv(data, settings_for, sources):
    return cross_validate(data, settings_for(MODELS), sources)


def test_every_clip_is_scored_once_per_model_by_a_fold_that_never_heard_its_speaker(cv, data):
    predictions = cv.predictions
    assert len(predictions) == len(MODELS) * len(data.table)
    for model in MODELS:
        rows = predictions[predictions["model"] == model]
        assert sorted(rows["path"]) == sorted(data.table["path"])
    for fold in cv.folds:
        scored = predictions.loc[predictions["fold"] == fold.index, "speaker"]
        assert set(scored) == set(fold.test_speakers)
        assert not set(scored) & (set(fold.train_speakers) | set(fold.val_speakers))


def test_each_fold_records_its_training_summary_and_late_fusion_weights(cv):
    assert [h["fold"] for h in cv.histories] == [f.index for f in cv.folds] and len(cv.folds) > 1
    for history in cv.histories:
        assert {"yamnet", "vggish"} <= set(history)
        assert sum(history["late_fusion_weights"]) == pytest.approx(1.0)
    assert cv.seconds > 0


def test_the_final_models_train_on_every_speaker_and_are_checked_unless_fine_tuned(data, settings_for, sources,
                                                                                   monkeypatch):
    asked = []
    monkeypatch.setattr(cross_validation, "saved_models",
                        lambda trainer, data, check: asked.append(check) or {"yamnet": ("graph", {})})
    saved, trainer, fold = train_final(data, settings_for(["yamnet"], seed=3), sources)
    assert saved == {"yamnet": ("graph", {})} and asked == [True]
    assert fold.test_speakers == [] and sorted(fold.train_speakers + fold.val_speakers) == sorted(set(data.speakers))
    assert trainer.history_["yamnet"]["refit_clips"] == len(data.table)  # refitted on train + validation speakers
    monkeypatch.setattr(cross_validation.Trainer, "fit", lambda self, data, fold: self)  # no patches to fine-tune on
    train_final(data, settings_for(["yamnet"], fine_tune=True), sources)
    assert asked == [True, False]  # a fine-tuned graph has no heads on cached features to be compared to


def test_fixed_fold_layers_are_read_by_that_fold_and_the_others_search(cv, data, settings_for, sources):
    from seraudit.ensemble.evaluation.run_facts import chosen_layers

    searched = {h["fold"]: tuple(h["yamnet"]["taps"]) for h in cv.histories}
    assert set(searched.values()) == {("layer6",)}  # the search finds the layer that carries the emotion
    first = cv.folds[0].index
    fixed = cross_validate(data, settings_for(["yamnet"]), sources, fold_layers={first: {"yamnet": ("layer14",)}})
    read = {h["fold"]: tuple(h["yamnet"]["taps"]) for h in fixed.histories}
    assert read[first] == ("layer14",) and {v for f, v in read.items() if f != first} == {("layer6",)}
    assert chosen_layers(cv.histories) == {f: {"yamnet": ("layer6",), "vggish": ("fc2",)} for f in searched}
