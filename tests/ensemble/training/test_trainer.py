"""The trainer as an estimator: fit on one split of a prepared corpus, then score clips and learned state in `*_` attributes."""

import json
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from seraudit.ensemble.data.corpus_data import CorpusData
from seraudit.ensemble.data.embedding_cache import CorpusPatches
from seraudit.ensemble.data.folds import Fold
from seraudit.ensemble.model.graph import combine_late, log_softmax
from seraudit.ensemble.model.head_layers import HeadConfig
from seraudit.ensemble.training.trainer import Trainer, TrainSettings, head_graph_weights

LABELS = ["neutral", "happy", "sad"]
SPEAKERS = [f"s{i}" for i in range(6)]
FOLD = Fold(0, train_speakers=SPEAKERS[:2], val_speakers=SPEAKERS[2:4], test_speakers=SPEAKERS[4:])
PATCHES_PER_CLIP = 3


@pytest.fixture(scope="module")
def data():
    """6 speakers x 3 emotions x 2 clips, 3 patches each; random layer features, some carrying the emotion."""
    rng = np.random.default_rng(0)
    rows = [(s, lab) for s in SPEAKERS for lab in LABELS for _ in range(2)]
    table = pd.DataFrame({"path": [f"{s}_{i}.wav" for i, (s, _) in enumerate(rows)], "speaker": [s for s, _ in rows],
                          "label": [lab for _, lab in rows]})  # fmt: skip
    y = table["label"].map(LABELS.index).to_numpy()
    clip_index = np.repeat(np.arange(len(table)), PATCHES_PER_CLIP)
    keep = rng.random(len(clip_index)) > 0.3
    keep[::PATCHES_PER_CLIP] = True
    n = len(clip_index)
    vggish = (np.eye(3)[y[clip_index]] @ rng.normal(0, 1, (3, 128)) + rng.normal(0, 1, (n, 128))).astype(np.float32)
    # YAMNet's mid-level layer carries the emotion and its last layer none: the layer search must prefer layer6
    taps = {"yamnet": {"layer6": (np.eye(3)[y[clip_index]] @ rng.normal(0, 3, (3, 256))
                                  + rng.normal(0, 1, (n, 256))).astype(np.float32),
                       "layer14": rng.normal(0, 1, (n, 1024)).astype(np.float32)},
            "vggish": {"fc2": vggish}}  # fmt: skip
    return CorpusData(
        table=table, labels=LABELS, y=y, speakers=table["speaker"].to_numpy(),
        patches=CorpusPatches(table["path"].tolist(), clip_index, np.zeros(n), np.ones(n), np.ones(n)),
        keep=keep, taps=taps, egemaps=np.eye(3)[y] @ rng.normal(0, 1, (3, 88)) + rng.normal(0, 1, (len(y), 88)),
    )  # fmt: skip


def settings(models, fusion="late"):
    return TrainSettings(corpus="synthetic", data="-", models=models, fusion=fusion, head=HeadConfig(epochs=3),
                         progress=False, command_line=["test"])  # fmt: skip


SOURCES = {"yamnet": SimpleNamespace(pretrained=True), "vggish": SimpleNamespace(pretrained=False)}


@pytest.fixture(scope="module")
def late(data):
    return Trainer(settings(["ensemble", "yamnet", "vggish", "egemaps"]), SOURCES).fit(data, FOLD)


def test_fit_learns_one_head_per_branch_and_late_weights_that_sum_to_one(late):
    assert set(late.heads_) == {"yamnet", "vggish"}  # the single models share the ensemble's heads
    assert late.late_weights_.shape == (2,) and late.late_weights_.sum() == pytest.approx(1.0)
    assert len(late.late_fit_["grid"]) == 21
    assert set(late.history_) == {"yamnet", "vggish"} and late.history_["yamnet"]["refit_clips"] == 24
    assert late.egemaps_model_.classes_.tolist() == [0, 1, 2] and late.full_models_ == {}


def test_the_layer_search_picks_the_layer_that_carries_the_emotion_on_validation_speakers(late, data):
    assert late.taps_ == {"yamnet": ("layer6",), "vggish": ("fc2",)}
    search = late.history_["yamnet"]["search"]
    assert {tuple(row["taps"]) for row in search} == {("layer6",), ("layer14",)}  # only layers the corpus holds
    best = max(row["val_uar"] for row in search if row["taps"] == ["layer6"])
    assert best > max(row["val_uar"] for row in search if row["taps"] == ["layer14"])
    assert late.model_config("yamnet", data)["taps"] == {"yamnet": ["layer6"]}


def test_predictions_are_clip_probabilities_for_every_model_and_test_clip(late, data):
    test = np.flatnonzero(np.isin(data.speakers, FOLD.test_speakers))
    table = late.predictions(data, test, fold_index=0)
    p = table[[f"p_{lab}" for lab in LABELS]].to_numpy()
    assert len(table) == 4 * len(test) and set(table["speaker"]) == set(FOLD.test_speakers)
    assert ((p >= 0) & (p <= 1)).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert (table["prediction"] == np.asarray(LABELS)[p.argmax(axis=1)]).all()


def test_the_late_ensemble_scores_as_the_weighted_single_models(late, data):
    idx = np.arange(30)
    singles = [late.patch_log_probabilities(data, b, idx) for b in ("yamnet", "vggish")]
    np.testing.assert_allclose(late.patch_log_probabilities(data, "ensemble", idx), combine_late(singles, late.late_weights_))


def test_feature_fusion_trains_one_head_on_both_embeddings_and_no_weights(data):
    trainer = Trainer(settings(["ensemble"], fusion="feature"), SOURCES).fit(data, FOLD)
    assert set(trainer.heads_) == {"fused"} and trainer.late_weights_ is None and trainer.egemaps_model_ is None
    assert trainer.heads_["fused"].coef.shape == (256 + 128, 3)  # YAMNet's chosen layer6 + VGGish's embedding
    config = trainer.model_config("ensemble", data)
    assert config["fusion"] == "feature" and config["branch_untrained"] == {"yamnet": False, "vggish": True}
    proba = trainer.clip_probabilities(data, "ensemble", np.arange(5))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


@pytest.fixture(scope="module")
def spread_data(data):
    """The emotion spread weakly over YAMNet's six 512-wide blocks, gender in VGGish; RAVDESS-like gender field."""
    rng = np.random.default_rng(7)
    n = len(data.patches.clip_index)
    y_patch = data.y[data.patches.clip_index]
    spread = {f"layer{i}": (np.eye(3)[y_patch] @ rng.normal(0, 0.1, (3, 512)) + rng.normal(0, 1, (n, 512))
                            ).astype(np.float32) for i in range(7, 13)}  # fmt: skip
    genders = np.array(["female", "male"])[np.arange(len(data.table)) % 2]
    noise = rng.normal(0, 1, (n, 256)).astype(np.float32)  # layer6 no longer carries the emotion here
    taps = {"yamnet": {**data.taps["yamnet"], "layer6": noise, **spread},
            "vggish": {"fc2": data.taps["vggish"]["fc2"] + 4.0 * (genders == "male")[data.patches.clip_index, None]}}
    return CorpusData(table=data.table.assign(gender=genders), labels=data.labels, y=data.y, speakers=data.speakers,
                      patches=data.patches, keep=data.keep, taps=taps, egemaps=data.egemaps)  # fmt: skip


def test_a_weighted_mix_of_layers_is_recorded_with_its_weights_and_multitask_predicts_the_aux_field(spread_data):
    chosen = replace(settings(["ensemble", "yamnet", "vggish"]), aux_tasks=("gender",), layer_search="weighted")
    trainer = Trainer(chosen, SOURCES).fit(spread_data, FOLD)
    history = trainer.history_["yamnet"]
    assert history["weighted"] and all(row["weighted"] for row in history["search"])
    assert trainer.taps_["yamnet"] == tuple(f"layer{i}" for i in range(7, 13))
    config = trainer.model_config("yamnet", spread_data)
    assert config["taps"] == {"yamnet": [f"layer{i}" for i in range(7, 13)]}
    assert sum(config["layer_weights"]["yamnet"].values()) == pytest.approx(1.0)  # saved beside the layers
    assert sum(history["layer_weights"].values()) == pytest.approx(1.0)
    # multitask: predictions carry the auxiliary field and each neural model's guess of it
    test = np.flatnonzero(np.isin(spread_data.speakers, FOLD.test_speakers))
    table = trainer.predictions(spread_data, test, fold_index=0)
    assert {"gender", "gender_prediction"} <= set(table.columns)
    vggish = table[table["model"] == "vggish"]
    assert (vggish["gender"] == vggish["gender_prediction"]).mean() > 0.9  # VGGish's features carry gender
    assert table.loc[table["model"] == "egemaps", "gender_prediction"].isna().all()


def test_an_auxiliary_field_the_corpus_lacks_is_refused_by_name(data):
    with pytest.raises(ValueError, match="no 'intensity' values"):
        Trainer(replace(settings(["yamnet"]), aux_tasks=("intensity",)), SOURCES).fit(data, FOLD)


def test_the_default_search_tries_plain_sets_and_all_adds_the_weighted_ones(spread_data):
    both = Trainer(replace(settings(["yamnet"]), layer_search="all"), SOURCES).fit(spread_data, FOLD)
    plain = Trainer(settings(["yamnet"]), SOURCES).fit(spread_data, FOLD)
    assert {row["weighted"] for row in both.history_["yamnet"]["search"]} == {True, False}
    assert not any(row["weighted"] for row in plain.history_["yamnet"]["search"])


def test_augmented_copies_add_training_rows_only_and_must_have_been_prepared(data):
    from seraudit.ensemble.data.augmented_copies import CorpusCopies

    k = 2
    copy_index = np.repeat(np.arange(len(data.table) * k), 2)  # two patches per copy
    clip_index = copy_index // k
    rng = np.random.default_rng(3)
    taps = {b: {t: v[np.searchsorted(data.patches.clip_index, clip_index)] + rng.normal(0, 0.1, (len(clip_index), v.shape[1]))
                for t, v in layers.items()} for b, layers in data.taps.items()}  # fmt: skip
    copies = CorpusCopies(k, clip_index, copy_index, np.ones(len(copy_index)), taps)
    augmented = replace(data, copies=copies, copy_keep=np.ones(len(copy_index), bool))
    trainer = Trainer(replace(settings(["yamnet"]), augment_copies=k), SOURCES).fit(augmented, FOLD)
    history = trainer.history_["yamnet"]
    assert history["refit_rows"] == history["refit_clips"] * (1 + k)
    test = np.flatnonzero(np.isin(data.speakers, FOLD.test_speakers))
    assert len(trainer.predictions(augmented, test, 0)) == len(test)  # test clips are scored on themselves only
    with pytest.raises(ValueError, match="2 augmented copies per clip"):
        Trainer(replace(settings(["yamnet"]), augment_copies=k), SOURCES).fit(data, FOLD)


def test_test_time_copies_pool_with_the_clip_as_a_geometric_mean(data):
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
    plain = Trainer(settings(["yamnet"]), SOURCES).fit(data, FOLD)
    tta = Trainer(replace(settings(["yamnet"]), tta_copies=n), SOURCES).fit(with_tta, FOLD)
    clips = np.flatnonzero(np.isin(data.speakers, FOLD.test_speakers))
    clean = plain.clip_probabilities(data, "yamnet", clips)
    copies = np.exp(log_softmax(plain.heads_["yamnet"].logits(taps["yamnet"]["layer6"][np.isin(clip_index, clips)])))
    expected = pool_by_clip(np.concatenate([clean, copies]),
                            np.concatenate([np.arange(len(clips)), np.repeat(np.arange(len(clips)), n)]), len(clips))
    np.testing.assert_allclose(tta.clip_probabilities(with_tta, "yamnet", clips), expected, atol=1e-9)
    with pytest.raises(ValueError, match="2 test-time copies"):
        tta.clip_probabilities(data, "yamnet", clips)


def graph_clip_probabilities(trainer: Trainer, name: str, data: CorpusData, clips: np.ndarray) -> np.ndarray:
    """Clip probabilities from model `name`'s flat graph, head weights moved in as `assemble` does, fed each clip's
    kept patches' tapped features (these synthetic layers have no audio behind them)."""
    import keras

    from seraudit.ensemble.model.graph import build_model, set_late_fusion_weights
    from seraudit.ensemble.model.clip_pooling import kept_by_clip

    built = build_model(trainer.model_config(name, data), data.n_classes)
    model, spec = built.keras_model, built.spec
    for head in spec.heads:
        for layer, weights in head_graph_weights(spec, head, trainer.heads_[head.key]).items():
            model.get_layer(layer).set_weights(weights)
    if spec.weighs_heads:
        set_late_fusion_weights(model, trainer.late_weights_)
    head_graph = keras.Model([model.get_layer(built.embedding_layers[b]).output for b in spec.branches], model.output)
    kept = kept_by_clip(data.keep, data.patches.clip_index)
    rows = []
    for c in clips:
        idx = np.flatnonzero(kept & (data.patches.clip_index == c))
        features = [data.head_input((b,), idx, trainer.taps_).astype(np.float32) for b in spec.branches]
        out = np.asarray(head_graph(features))
        assert np.allclose(out, out[0], atol=1e-6)  # every row carries the clip's pooled output
        rows.append(out[0])
    return np.asarray(rows)


def test_statistics_pooling_reads_mean_and_spread_and_its_graph_pools_the_same(data):
    stats = Trainer(replace(settings(["ensemble", "yamnet", "vggish"]), pooling="stats"), SOURCES).fit(data, FOLD)
    assert stats.heads_["yamnet"].coef.shape[0] == 2 * 256  # layer6: mean and standard deviation
    clips = np.flatnonzero(np.isin(data.speakers, FOLD.test_speakers))
    x = data.clip_features(("yamnet",), stats.taps_, clips, stats=True)
    kept = data.keep & (data.patches.clip_index == clips[0])
    layer = data.taps["yamnet"]["layer6"][kept]
    np.testing.assert_allclose(x[0], np.concatenate([layer.mean(axis=0), layer.std(axis=0)]), rtol=1e-4, atol=1e-5)
    expected = np.exp(log_softmax(stats.heads_["yamnet"].logits(x)))
    np.testing.assert_allclose(stats.clip_probabilities(data, "yamnet", clips), expected, atol=1e-9)
    assert np.allclose(stats.clip_probabilities(data, "ensemble", clips).sum(axis=1), 1.0)
    for name in ("yamnet", "ensemble"):
        assert stats.model_config(name, data)["pooling"] == "stats"
        np.testing.assert_allclose(graph_clip_probabilities(stats, name, data, clips),
                                   stats.clip_probabilities(data, name, clips), atol=2e-5)


def test_statistics_pooling_of_several_layers_keeps_each_weight_on_its_statistic(data):
    """The cache alternates mean and std per layer, the graph pools all layers at once: weights must follow."""
    two = replace(settings(["yamnet"]), pooling="stats", layers={"yamnet": ("layer6", "layer14")})
    trainer = Trainer(two, SOURCES).fit(data, FOLD)
    assert trainer.heads_["yamnet"].coef.shape[0] == 2 * (256 + 1024)
    clips = np.flatnonzero(np.isin(data.speakers, FOLD.test_speakers))
    np.testing.assert_allclose(graph_clip_probabilities(trainer, "yamnet", data, clips),
                               trainer.clip_probabilities(data, "yamnet", clips), atol=2e-5)


def test_attentive_pooling_weights_each_clips_patches_and_scores_clips(data):
    attentive = Trainer(replace(settings(["ensemble", "yamnet", "vggish"]), pooling="attentive"), SOURCES).fit(data, FOLD)
    clips = np.flatnonzero(np.isin(data.speakers, FOLD.test_speakers))
    for name in ("ensemble", "yamnet"):
        proba = attentive.clip_probabilities(data, name, clips)
        assert proba.shape == (len(clips), len(LABELS)) and np.allclose(proba.sum(axis=1), 1.0)
    weights = attentive.attention_weights(data, "yamnet", clips)
    kept = data.keep & np.isin(data.patches.clip_index, clips)
    assert len(weights) == kept.sum()
    np.testing.assert_allclose(np.bincount(np.searchsorted(clips, data.patches.clip_index[kept]), weights), 1.0)
    assert weights.std() > 1e-3  # the learned attention does not weigh every patch alike
    table = attentive.predictions(data, clips, 0)
    listed = [json.loads(t) for t in table.loc[table["model"] == "yamnet", "attention_yamnet"]]
    assert [len(w) for w in listed] == [PATCHES_PER_CLIP] * len(clips)  # every patch, 0 for those not pooled
    np.testing.assert_allclose(np.concatenate(listed)[kept[np.isin(data.patches.clip_index, clips)]], weights, atol=1e-6)
    assert {"attention_yamnet", "attention_vggish"} <= set(table.columns)
    for name in ("yamnet", "ensemble"):
        np.testing.assert_allclose(graph_clip_probabilities(attentive, name, data, clips),
                                   attentive.clip_probabilities(data, name, clips), atol=2e-5)
