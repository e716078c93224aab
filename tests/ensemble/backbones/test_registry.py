"""A backbone is its module plus one registry line: a toy backbone registered that way trains and explains.

The toy module is written here as a file of its own, the way a new backbone would
be: a tiny convolutional tower on the ``[B, 96, 64]`` log-mel patches, seeded
weights, nothing published (so nothing is downloaded and its models are marked
"untrained"). It is registered with the one call the registry's own lines make,
then trained (embedding cache, layer search, heads, the flat graph and its
assembly check) on synthetic clips whose emotion is the pitch of a tone, and
explained with Grad-CAM and occlusion.
"""

from __future__ import annotations

import importlib.util
import textwrap

import numpy as np
import pandas as pd
import pytest

from seraudit.core.errors import WeightsError
from seraudit.ensemble.backbones.registry import BACKBONES, UnknownBackboneError, register_backbone
from seraudit.ensemble.model.spec import MODELS, ModelSpec

TOY_MODULE = '''
"""Toy: two strided 3x3 convolutions on log-mel patches; seeded weights, nothing published."""

import numpy as np

from seraudit.ensemble.backbones.backbone import Backbone
from seraudit.ensemble.backbones.tower import Tower

TAPS = {"conv1": 4, "conv2": 8}


def toy_tower(x, prefix="toy", up_to=None):
    import keras

    names, taps, outputs = [], {}, {}
    net = keras.layers.Reshape((96, 64, 1), name=f"{prefix}_reshape")(x)
    names.append(f"{prefix}_reshape")
    for tap, filters in TAPS.items():
        name = f"{prefix}_{tap}"
        net = keras.layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu", name=name)(net)
        names.append(name)
        taps[tap], outputs[tap] = name, net
        if tap == up_to:
            break
    whole = up_to in (None, "conv2")
    embedding = keras.layers.GlobalAveragePooling2D(name=f"{prefix}_embedding")(net) if whole else None
    return Tower(inputs=x, last_conv=net, embedding=embedding, last_conv_layer=names[-1],
                 embedding_layer=f"{prefix}_embedding" if whole else None, prefix=prefix,
                 layer_names=names, taps=taps, tap_outputs=outputs)


def seeded_weights(model, source, seed, prefix):
    rng = np.random.default_rng(seed)
    layers = {layer.name: layer for layer in model.layers}
    for tap in TAPS:
        layer = layers.get(f"{prefix}_{tap}")
        if layer is not None:  # a tower cut after conv1 has no conv2
            kernel, bias = layer.get_weights()
            layer.set_weights([rng.normal(0, 0.5, kernel.shape).astype("float32"), np.zeros_like(bias)])


BACKBONE = Backbone(name="toy", display="Toy", embedding_size=8, tower=toy_tower, weights=seeded_weights,
                    tap_widths=TAPS, candidate_taps=(("conv1",), ("conv2",)))
'''

LABELS = ["neutral", "angry"]
SPEAKERS = [f"s{i}" for i in range(6)]
PITCH = {"neutral": 250.0, "angry": 2000.0}  # the emotion is the pitch of a tone: a task a tiny tower can learn


def load_module(path):
    spec = importlib.util.spec_from_file_location("toy_backbone", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def toy(tmp_path):
    """The toy backbone's module, registered for this test with the registry's one line, removed afterwards."""
    path = tmp_path / "toy_backbone.py"
    path.write_text(textwrap.dedent(TOY_MODULE))
    toy_backbone = load_module(path)
    register_backbone(toy_backbone.BACKBONE)  # the one registry line
    yield toy_backbone
    BACKBONES.pop("toy")


def write_clips(folder) -> pd.DataFrame:
    """6 speakers x 2 emotions x 2 clips of 1.2 s: a tone at the emotion's pitch in light noise."""
    import soundfile

    rng = np.random.default_rng(0)
    t = np.arange(int(1.2 * 16_000)) / 16_000
    rows = []
    for speaker in SPEAKERS:
        for label in LABELS:
            for take in range(2):
                pitch = PITCH[label] * rng.uniform(0.9, 1.1)
                wave = 0.3 * np.sin(2 * np.pi * pitch * t) + rng.normal(0, 0.01, t.size)
                path = folder / f"{speaker}_{label}_{take}.wav"
                soundfile.write(path, wave.astype(np.float32), 16_000)
                rows.append({"path": str(path), "speaker": speaker, "label": label})
    return pd.DataFrame(rows)


def test_a_toy_backbone_registered_with_one_line_trains_and_explains(toy, tmp_path):
    from seraudit.ensemble.data.corpus_data import prepare_data
    from seraudit.ensemble.data.embedding_cache import EmbeddingCache
    from seraudit.ensemble.data.folds import Fold
    from seraudit.ensemble.model.graph import build_model
    from seraudit.ensemble.model.head_layers import HeadConfig
    from seraudit.ensemble.model.trained import TrainedModel
    from seraudit.ensemble.training.assembly import saved_models
    from seraudit.ensemble.training.settings import TrainSettings
    from seraudit.ensemble.training.trainer import Trainer
    from seraudit.ensemble.weights.official import resolve_weights
    from seraudit.preprocessing.gds import GdsSettings
    from seraudit.preprocessing.pipeline import clip_features
    from seraudit.xai.explainers.registry import explain_clip

    # the rest of the tool sees it: a model of its own, a branch of the ensemble, a weights look-up
    assert MODELS["toy"] == ("toy",) and "toy" in MODELS["ensemble"]
    source = resolve_weights("toy", models_dir=tmp_path, cache_dir=tmp_path, allow_untrained=True, download=False)
    assert not source.pretrained and source.describe() == "Toy — untrained (seeded random weights)"

    table = write_clips(tmp_path)
    settings = TrainSettings(corpus="synthetic", data=str(tmp_path), models=["toy"], head=HeadConfig(epochs=20),
                             allow_untrained=("toy",), progress=False, command_line=["test"])
    data = prepare_data(table, ["toy"], {"toy": source}, GdsSettings(), EmbeddingCache(tmp_path / "cache", progress=False),
                        seed=0, with_egemaps=False, labels=LABELS)
    assert {t: v.shape[1] for t, v in data.taps["toy"].items()} == {"conv1": 4, "conv2": 8}

    fold = Fold(0, train_speakers=SPEAKERS[:2], val_speakers=SPEAKERS[2:4], test_speakers=SPEAKERS[4:])
    trainer = Trainer(settings, {"toy": source}).fit(data, fold)
    assert {tuple(row["taps"]) for row in trainer.history_["toy"]["search"]} == {("conv1",), ("conv2",)}
    test = np.flatnonzero(np.isin(data.speakers, fold.test_speakers))
    predictions = trainer.predictions(data, test, fold_index=0)
    assert (predictions["prediction"] == predictions["label"]).mean() >= 0.75  # the tone's pitch was learned

    (built, config), = saved_models(trainer, data).values()  # the flat graph, checked against the trained heads
    assert config["name"] == "toy" and config["branch_untrained"] == {"toy": True}
    assert config["assembly_check_max_abs_diff"] < 1e-3
    weights_file = tmp_path / "model.weights.h5"
    built.keras_model.save_weights(weights_file)
    rebuilt = build_model(config, len(LABELS))  # what opening a saved run does: the graph from config.json
    rebuilt.keras_model.load_weights(weights_file)
    model = TrainedModel("toy", rebuilt.keras_model, LABELS, rebuilt.conv_layers, rebuilt.embedding_layers,
                         {"toy": True}, None)
    assert model.display_name == "Toy (untrained)"

    clip = clip_features(table.loc[test[0], "path"])
    maps = explain_clip([model], clip, ["gradcam", "occlusion"])
    assert [a.method for a in maps] == ["gradcam", "occlusion"]
    for attribution in maps:
        assert attribution.clip_map.shape == clip.log_mel.shape and np.isfinite(attribution.clip_map).all()
        assert np.ptp(attribution.clip_map) > 0  # the map says something about where the model looked


def test_an_ensemble_saved_before_a_backbone_was_registered_keeps_its_branches(toy):
    saved = {"name": "ensemble", "fusion": "late", "head": {}, "branch_untrained": {"yamnet": False, "vggish": True}}
    assert MODELS["ensemble"] == ("yamnet", "vggish", "toy")  # a new ensemble has every registered backbone
    assert ModelSpec.from_config(saved).branches == ("yamnet", "vggish")  # a saved one keeps the graph it was trained with
    assert ModelSpec.from_config({**saved, "name": "vggish", "fusion": None}).branches == ("vggish",)


def test_registration_is_undone_and_an_unregistered_name_names_the_known_backbones(toy):
    with pytest.raises(ValueError, match="already registered"):
        register_backbone(toy.BACKBONE)
    BACKBONES.pop("toy")
    try:
        assert "toy" not in MODELS and "toy" not in MODELS["ensemble"]
        with pytest.raises(UnknownBackboneError, match=r"unknown backbone 'toy'; the known backbones are yamnet, vggish"):
            BACKBONES["toy"]
        with pytest.raises(ValueError, match=r"unknown model 'toy'; choose ensemble, yamnet, vggish"):
            ModelSpec.named("toy")
        with pytest.raises(WeightsError, match=r"unknown backbone 'toy'; the known backbones are yamnet, vggish"):
            from seraudit.ensemble.weights.official import resolve_weights

            resolve_weights("toy", allow_untrained=True, download=False)
    finally:
        register_backbone(toy.BACKBONE)  # the fixture removes it again


def test_a_record_whose_embedding_is_not_its_last_layer_is_refused(toy):
    import dataclasses

    with pytest.raises(ValueError, match="last tap 'conv2' is 8 wide, its embedding 16"):
        dataclasses.replace(toy.BACKBONE, embedding_size=16)
    with pytest.raises(ValueError, match="toy has no layer"):
        dataclasses.replace(toy.BACKBONE, candidate_taps=(("conv3",),))


def test_a_backbone_s_published_files_and_checksums_come_from_its_entry(toy, tmp_path):
    """The weights look-up knows no backbone: a file the entry declares is found where it says, and its hash verified."""
    import dataclasses
    import hashlib

    from seraudit.ensemble.backbones.backbone import Asset, OfficialWeights
    from seraudit.ensemble.weights.official import VERIFIED, official_assets, resolve_weights

    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "toy.h5").write_bytes(b"toy weights")
    digest = hashlib.sha256(b"toy weights").hexdigest()
    published = OfficialWeights(
        downloads=(Asset("toy_h5", "toy/toy.h5", "https://example.invalid/toy.h5", digest, "h5", "11 B"),),
        manual_source="https://example.invalid/toy.h5 -> toy/toy.h5")
    BACKBONES["toy"] = dataclasses.replace(toy.BACKBONE, official=published)

    assert official_assets()["toy_h5"].sha256 == digest
    source = resolve_weights("toy", models_dir=tmp_path, cache_dir=tmp_path / "cache", download=False)
    assert (source.path, source.format, source.integrity) == (tmp_path / "toy" / "toy.h5", "h5", VERIFIED)
    with pytest.raises(WeightsError, match=r"Toy pretrained weights not found(.|\n)*Get them from https://example.invalid"):
        resolve_weights("toy", models_dir=tmp_path / "toy", cache_dir=tmp_path / "toy", download=False)
