"""The trainer as an estimator: fit on one split of a prepared corpus, then score clips, learned state in `*_` attributes.

The synthetic corpus, its split and `fit` come from this folder's conftest.
"""

import json
from dataclasses import replace

import numpy as np
import pytest

from seraudit.ensemble.model.graph import combine_late, log_softmax
from seraudit.ensemble.model.head_layers import HeadConfig


def test_fit_learns_one_head_per_branch_and_late_weights_that_sum_to_one(late):
    assert set(late.heads_) == {"yamnet", "vggish"}  # the single models share the ensemble's heads
    assert late.late_weights_.shape == (2,) and late.late_weights_.sum() == pytest.approx(1.0)
    assert len(late.late_fit_["grid"]) == 21
    assert set(late.history_) == {"yamnet", "vggish", "late_fusion", "calibration"}
    assert late.history_["yamnet"]["refit_clips"] == 24
    assert late.egemaps_model_.classes_.tolist() == [0, 1, 2] and late.full_models_ == {}


def test_late_weights_and_temperatures_come_from_every_non_test_speaker_not_one(late):
    from seraudit.ensemble.data.folds import Fold
    from seraudit.ensemble.training.trainer import validation_groups

    fit = late.late_fit_
    assert sorted(s for g in fit["groups"] for s in g) == ["s0", "s1", "s2", "s3"]  # train and validation, no test speaker
    assert fit["groups"][0] == ["s2", "s3"] and fit["n_speakers"] == 4 and fit["n_clips"] == 24
    assert late.late_weights_.tolist() == pytest.approx(0.5 * np.asarray(fit["fitted"]) + 0.25)  # shrunk halfway
    assert set(late.temperatures_) == {"ensemble", "yamnet", "vggish", "egemaps"}
    assert all(0.05 <= t <= 20 for t in late.temperatures_.values())
    assert late.history_["calibration"]["n_speakers"] == 4
    groups = validation_groups(Fold(0, [f"t{i}" for i in range(9)], ["v0", "v1"], ["x"]))
    assert groups[0] == ["v0", "v1"] and all(len(g) in (1, 2) for g in groups) and len(groups) == 6
    assert sorted(s for g in groups for s in g) == sorted([f"t{i}" for i in range(9)] + ["v0", "v1"])


def test_the_layer_search_picks_the_layer_that_carries_the_emotion_on_validation_speakers(late):
    assert late.taps_ == {"yamnet": ("layer6",), "vggish": ("fc2",)}
    search = late.history_["yamnet"]["search"]
    assert {tuple(row["taps"]) for row in search} == {("layer6",), ("layer14",)}  # only layers the corpus holds
    best = max(row["val_uar"] for row in search if row["taps"] == ["layer6"])
    assert best > max(row["val_uar"] for row in search if row["taps"] == ["layer14"])
    assert late.specs["yamnet"].taps_of("yamnet") == ("layer6",)  # what the graph of the model will read


def test_predictions_are_clip_probabilities_for_every_model_and_test_clip(late, data, test_clips):
    table = late.predictions(data, test_clips, fold_index=0)
    p = table[[f"p_{lab}" for lab in data.labels]].to_numpy()
    assert len(table) == 4 * len(test_clips) and set(table["speaker"]) == set(data.speakers[test_clips])
    assert ((p >= 0) & (p <= 1)).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert (table["prediction"] == np.asarray(data.labels)[p.argmax(axis=1)]).all()


def test_the_late_ensemble_scores_as_the_weighted_single_models(late, data, monkeypatch):
    from seraudit.ensemble.training import trainer as trainer_module

    idx = np.arange(30)
    monkeypatch.setattr(trainer_module, "TEMPERATURE_SCALING", False)
    singles = [late.patch_log_probabilities(data, b, idx) for b in ("yamnet", "vggish")]
    combined = combine_late(singles, late.late_weights_)
    np.testing.assert_allclose(late.patch_log_probabilities(data, "ensemble", idx), combined)
    monkeypatch.setattr(trainer_module, "TEMPERATURE_SCALING", True)  # then divided by the ensemble's temperature
    np.testing.assert_allclose(late.patch_log_probabilities(data, "ensemble", idx),
                               log_softmax(combined / late.temperatures_["ensemble"]), atol=1e-12)


def test_feature_fusion_trains_one_head_on_both_embeddings_and_no_weights(data, fit):
    trainer = fit(["ensemble"], data, fusion="feature")
    assert set(trainer.heads_) == {"fused"} and trainer.late_weights_ is None and trainer.egemaps_model_ is None
    assert trainer.heads_["fused"].coef.shape == (256 + 128, 3)  # YAMNet's chosen layer6 + VGGish's embedding
    proba = trainer.clip_probabilities(data, "ensemble", np.arange(5))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_a_weighted_mix_of_layers_is_recorded_with_its_weights_and_multitask_predicts_the_aux_field(spread_data, fit):
    trainer = fit(["ensemble", "yamnet", "vggish"], spread_data, aux_tasks=("gender",), layer_search="weighted")
    history = trainer.history_["yamnet"]
    assert history["weighted"] and all(row["weighted"] for row in history["search"])
    assert trainer.taps_["yamnet"] == tuple(f"layer{i}" for i in range(7, 13))
    assert sum(history["layer_weights"].values()) == pytest.approx(1.0)
    # multitask: predictions carry the auxiliary field and each neural model's guess of it
    test = np.flatnonzero(np.isin(spread_data.speakers, ["s4", "s5"]))
    table = trainer.predictions(spread_data, test, fold_index=0)
    assert {"gender", "gender_prediction"} <= set(table.columns)
    vggish = table[table["model"] == "vggish"]
    assert (vggish["gender"] == vggish["gender_prediction"]).mean() > 0.9  # VGGish's features carry gender
    assert table.loc[table["model"] == "egemaps", "gender_prediction"].isna().all()


def test_an_auxiliary_field_the_corpus_lacks_is_refused_by_name(data, fit):
    with pytest.raises(ValueError, match="no 'intensity' values"):
        fit(["yamnet"], data, aux_tasks=("intensity",))


@pytest.mark.parametrize("changes, message", [
    (dict(pooling="max"), "pooling 'max': choose"),
    (dict(pooling="stats", augment_copies=2), "stats pooling trains frozen heads on the clips themselves"),
    (dict(pooling="attentive", tta_copies=2), "attentive pooling trains frozen heads on the clips themselves"),
    (dict(head=HeadConfig(hidden=8)), "frozen-backbone heads are linear"),
])  # fmt: skip
def test_settings_the_frozen_heads_cannot_honour_are_refused_before_training(data, fit, changes, message):
    with pytest.raises(ValueError, match=message):
        fit(["yamnet"], data, **changes)


def test_the_default_search_tries_plain_sets_and_all_adds_the_weighted_ones(spread_data, fit):
    both = fit(["yamnet"], spread_data, layer_search="all")
    plain = fit(["yamnet"], spread_data)
    assert {row["weighted"] for row in both.history_["yamnet"]["search"]} == {True, False}
    assert not any(row["weighted"] for row in plain.history_["yamnet"]["search"])


def test_augmented_copies_add_training_rows_only_and_must_have_been_prepared(data, fit, test_clips):
    from seraudit.ensemble.data.augmented_copies import CorpusCopies

    k = 2
    copy_index = np.repeat(np.arange(len(data.table) * k), 2)  # two patches per copy
    clip_index = copy_index // k
    rng = np.random.default_rng(3)
    taps = {b: {t: v[np.searchsorted(data.patches.clip_index, clip_index)] + rng.normal(0, 0.1, (len(clip_index), v.shape[1]))
                for t, v in layers.items()} for b, layers in data.taps.items()}  # fmt: skip
    copies = CorpusCopies(k, clip_index, copy_index, np.ones(len(copy_index)), taps)
    augmented = replace(data, copies=copies, copy_keep=np.ones(len(copy_index), bool))
    trainer = fit(["yamnet"], augmented, augment_copies=k)
    history = trainer.history_["yamnet"]
    assert history["refit_rows"] == history["refit_clips"] * (1 + k)
    assert len(trainer.predictions(augmented, test_clips, 0)) == len(test_clips)  # test clips are scored on themselves only
    with pytest.raises(ValueError, match="2 augmented copies per clip"):
        fit(["yamnet"], data, augment_copies=k)


def test_test_time_copies_pool_with_the_clip_as_a_geometric_mean(data, fit, test_clips):
    from seraudit.ensemble.data.augmented_copies import CorpusCopies
    from seraudit.ensemble.model.clip_pooling import pool_by_clip

    n = 2
    copy_index = np.arange(len(data.table) * n)  # one patch per copy
    clip_index = copy_index // n
    rng = np.random.default_rng(4)
    taps = {b: {t: rng.normal(0, 1, (len(copy_index), v.shape[1])) for t, v in layers.items()}
            for b, layers in data.taps.items()}  # fmt: skip
    with_tta = replace(data, tta=CorpusCopies(n, clip_index, copy_index, np.ones(len(copy_index)), taps),
                       tta_keep=np.ones(len(copy_index), bool))
    plain = fit(["yamnet"], data)
    tta = fit(["yamnet"], with_tta, tta_copies=n)
    clips = test_clips
    clean = plain.raw_clip_probabilities(data, "yamnet", clips)  # before temperature scaling
    copies = np.exp(log_softmax(plain.heads_["yamnet"].logits(taps["yamnet"]["layer6"][np.isin(clip_index, clips)])))
    expected = pool_by_clip(np.concatenate([clean, copies]),
                            np.concatenate([np.arange(len(clips)), np.repeat(np.arange(len(clips)), n)]), len(clips))
    np.testing.assert_allclose(tta.raw_clip_probabilities(with_tta, "yamnet", clips), expected, atol=1e-9)
    with pytest.raises(ValueError, match="2 test-time copies"):
        tta.clip_probabilities(data, "yamnet", clips)


def test_statistics_pooling_reads_mean_and_spread_of_each_clips_kept_patches(data, fit, test_clips):
    stats = fit(["ensemble", "yamnet", "vggish"], data, pooling="stats")
    assert stats.heads_["yamnet"].coef.shape[0] == 2 * 256  # layer6: mean and standard deviation
    x = data.clip_features(("yamnet",), stats.taps_, test_clips, stats=True)
    kept = data.keep & (data.patches.clip_index == test_clips[0])
    layer = data.taps["yamnet"]["layer6"][kept]
    np.testing.assert_allclose(x[0], np.concatenate([layer.mean(axis=0), layer.std(axis=0)]), rtol=1e-4, atol=1e-5)
    expected = np.exp(log_softmax(stats.heads_["yamnet"].logits(x)))
    np.testing.assert_allclose(stats.raw_clip_probabilities(data, "yamnet", test_clips), expected, atol=1e-9)
    assert np.allclose(stats.clip_probabilities(data, "ensemble", test_clips).sum(axis=1), 1.0)


def test_attentive_pooling_weights_each_clips_patches_and_scores_clips(data, fit, test_clips):
    attentive = fit(["ensemble", "yamnet", "vggish"], data, pooling="attentive")
    clips = test_clips
    for name in ("ensemble", "yamnet"):
        proba = attentive.clip_probabilities(data, name, clips)
        assert proba.shape == (len(clips), len(data.labels)) and np.allclose(proba.sum(axis=1), 1.0)
    weights = attentive.attention_weights(data, "yamnet", clips)
    kept = data.keep & np.isin(data.patches.clip_index, clips)
    assert len(weights) == kept.sum()
    np.testing.assert_allclose(np.bincount(np.searchsorted(clips, data.patches.clip_index[kept]), weights), 1.0)
    assert weights.std() > 1e-3  # the learned attention does not weigh every patch alike
    table = attentive.predictions(data, clips, 0)
    listed = [json.loads(t) for t in table.loc[table["model"] == "yamnet", "attention_yamnet"]]
    patches_per_clip = np.bincount(data.patches.clip_index)[clips]
    assert [len(w) for w in listed] == patches_per_clip.tolist()  # every patch, 0 for those not pooled
    np.testing.assert_allclose(np.concatenate(listed)[kept[np.isin(data.patches.clip_index, clips)]], weights, atol=1e-6)
    assert {"attention_yamnet", "attention_vggish"} <= set(table.columns)


def test_with_temperature_scaling_on_clip_and_patch_outputs_carry_each_models_temperature(late, data, test_clips,
                                                                                           monkeypatch):
    from seraudit.ensemble.evaluation.calibration import scale_probabilities
    from seraudit.ensemble.training import trainer as trainer_module

    assert trainer_module.TEMPERATURE_SCALING  # the default: it lowered out-of-fold ECE on both shared corpora
    monkeypatch.setattr(trainer_module, "TEMPERATURE_SCALING", False)
    raw = {name: late.clip_probabilities(data, name, test_clips) for name in ("ensemble", "egemaps")}
    monkeypatch.setattr(trainer_module, "TEMPERATURE_SCALING", True)
    monkeypatch.setitem(late.temperatures_, "ensemble", 2.5)
    for name, proba in raw.items():
        scaled = late.clip_probabilities(data, name, test_clips)
        np.testing.assert_allclose(scaled, scale_probabilities(proba, late.temperatures_[name]), atol=1e-9)
        assert (scaled.argmax(1) == proba.argmax(1)).all()
    idx = np.flatnonzero(np.isin(data.patches.clip_index, test_clips))  # what the saved graph's patches pool to
    np.testing.assert_allclose(data.clip_probabilities(late.patch_log_probabilities(data, "ensemble", idx), idx, test_clips),
                               late.clip_probabilities(data, "ensemble", test_clips), atol=1e-9)


def test_a_run_of_the_egemaps_baseline_alone_still_gets_its_temperature(data, fit):
    alone = fit(["egemaps"], data)
    assert alone.late_weights_ is None and set(alone.temperatures_) == {"egemaps"}
    assert alone.history_["calibration"]["n_clips"] == 24
