"""`--weights HANDLE`: a TF Hub / Kaggle handle resolved by tensorflow_hub against a local server (hub's compressed
layout: a .tar.gz of a SavedModel), cached, read by the YAMNet SavedModel loader, recorded with the files' SHA-256."""

from __future__ import annotations

import argparse
import hashlib
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

from seraudit.cli.options import hub_handle
from seraudit.core.errors import WeightsError
from seraudit.ensemble.backbones.yamnet import CONV_NAMES, LAYER_DEFS, build_yamnet, keras_layer_name, load_yamnet_weights
from seraudit.ensemble.training.experiment import resolve_sources
from seraudit.ensemble.weights.hub import UNVERIFIED_HUB, hub_cache_dir, resolve_hub_weights

tf = pytest.importorskip("tensorflow")
import tensorflow_hub  # noqa: E402,F401  (pinned in requirements.txt: a missing install fails, never skips)


def _official_variables(rng) -> dict[str, np.ndarray]:
    """Random values under the names and shapes of Google's YAMNet SavedModel (batch norm separate)."""
    variables: dict[str, np.ndarray] = {}
    channels = 1
    for index, (kind, kernel, _stride, filters) in enumerate(LAYER_DEFS, start=1):
        parts = ([(f"layer{index}/conv", "kernel", (kernel, kernel, channels, filters))] if kind == "conv" else
                 [(f"layer{index}/depthwise_conv", "depthwise_kernel", (kernel, kernel, channels, 1)),
                  (f"layer{index}/pointwise_conv", "kernel", (1, 1, channels, filters))])
        for name, var, shape in parts:
            width = shape[-2] if var == "depthwise_kernel" else shape[-1]
            variables[f"{name}/{var}"] = rng.normal(0, 0.1, shape).astype(np.float32)
            variables[f"{name}/bn/beta"] = rng.normal(0, 0.1, width).astype(np.float32)
            variables[f"{name}/bn/moving_mean"] = rng.normal(0, 0.2, width).astype(np.float32)
            variables[f"{name}/bn/moving_variance"] = rng.uniform(0.5, 2.0, width).astype(np.float32)
        channels = filters
    variables["dense/kernel"] = rng.normal(0, 0.05, (1024, 521)).astype(np.float32)
    variables["dense/bias"] = rng.normal(0, 0.1, 521).astype(np.float32)
    return variables


@pytest.fixture(scope="module")
def hub_archive(tmp_path_factory) -> tuple[bytes, Path]:
    """(the .tar.gz TF Hub serves for ?tf-hub-format=compressed, the SavedModel folder it was made from)."""
    module = tf.Module()
    module.weights_list = [tf.Variable(v, name=n) for n, v in _official_variables(np.random.default_rng(5)).items()]
    saved = tmp_path_factory.mktemp("hub") / "yamnet_1"
    tf.saved_model.save(module, str(saved))
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for path in sorted(saved.rglob("*")):
            tar.add(path, arcname=path.relative_to(saved).as_posix(), recursive=False)
    return out.getvalue(), saved


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("SERAUDIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("TFHUB_CACHE_DIR", raising=False)
    return tmp_path / "cache"


def test_a_handle_is_resolved_once_into_the_cache_and_recorded_with_its_files(range_server, hub_archive, cache):
    archive, saved = hub_archive
    range_server.serve("google/yamnet/1", archive)
    handle = range_server.url("google/yamnet/1")

    source = resolve_hub_weights("yamnet", handle)

    assert range_server.requests == [("/google/yamnet/1?tf-hub-format=compressed", None)]
    assert source.path.is_relative_to(cache / "tfhub") and hub_cache_dir() == cache / "tfhub"
    assert source.format == "savedmodel" and source.origin == "hub" and source.url == handle
    assert source.integrity == UNVERIFIED_HUB and source.pretrained
    expected = {p.relative_to(saved).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in saved.rglob("*") if p.is_file()}
    assert source.files == expected and "saved_model.pb" in expected
    record = source.to_dict()
    assert record["url"] == handle and record["files"] == expected and record["sha256"] == source.sha256

    again = resolve_hub_weights("yamnet", handle)

    assert again.path == source.path and again.sha256 == source.sha256
    assert len(range_server.requests) == 1  # read from the cache, not downloaded again


def test_the_resolved_savedmodel_loads_like_the_same_savedmodel_on_disk(range_server, hub_archive):
    archive, saved = hub_archive
    range_server.serve("google/yamnet/1", archive)
    source = resolve_sources(["yamnet"], None, (), weights={"yamnet": range_server.url("google/yamnet/1")})["yamnet"]

    from_hub, from_disk = build_yamnet(), build_yamnet()
    assert load_yamnet_weights(from_hub, source).format == "savedmodel"
    load_yamnet_weights(from_disk, saved)

    for official in (*CONV_NAMES, "dense"):
        name = keras_layer_name(official)
        for a, b in zip(from_hub.get_layer(name).get_weights(), from_disk.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)


def test_a_handle_that_does_not_resolve_is_named_with_the_fix(range_server):
    with pytest.raises(WeightsError, match=r"model handle .*google/yamnet/9 could not be resolved.*<models-dir>/yamnet/"):
        resolve_hub_weights("yamnet", range_server.url("google/yamnet/9"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://tfhub.dev/google/yamnet/1", ("yamnet", "https://tfhub.dev/google/yamnet/1")),
        ("https://www.kaggle.com/models/google/vggish/TensorFlow2/vggish/1",
         ("vggish", "https://www.kaggle.com/models/google/vggish/TensorFlow2/vggish/1")),
        ("yamnet=http://127.0.0.1:8000/m/1", ("yamnet", "http://127.0.0.1:8000/m/1")),
    ],
)
def test_the_weights_flag_names_its_backbone(text, expected):
    assert hub_handle(text) == expected


@pytest.mark.parametrize("text", ["https://example.org/models/encoder/1", "yamnet=../models/yamnet"])
def test_a_handle_without_a_backbone_or_scheme_is_refused(text):
    with pytest.raises(argparse.ArgumentTypeError):
        hub_handle(text)


@pytest.mark.slow
def test_train_with_a_handle_records_it_in_the_run(range_server, hub_archive, tmp_path, ravdess_dir):
    """`seraudit train --weights HANDLE`: the run's provenance names the handle and every file's SHA-256."""
    import json

    from seraudit.cli import main
    from seraudit.preprocessing.corpora import read_corpus

    table = read_corpus("ravdess", ravdess_dir)
    table = table[table["path"].str.contains("Actor_0[1-3]/03-01-0[1345]-01-01-01")]
    manifest = tmp_path / "manifest.csv"
    table.assign(speaker=table["speaker"].str.replace("ravdess_", "actor"))[["path", "label", "speaker"]].to_csv(
        manifest, index=False)
    archive, _ = hub_archive
    range_server.serve("google/yamnet/1", archive)
    handle = range_server.url("google/yamnet/1")

    status = main(["train", "--corpus", "manifest", "--data", str(manifest), "--models", "yamnet",
                   "--weights", handle, "--bootstrap", "20", "--quiet", "--cache-dir", str(tmp_path / "emb"),
                   "--out", str(tmp_path / "run")])

    assert status == 0
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    recorded = info["weights"]["yamnet"]
    assert recorded["url"] == handle and recorded["origin"] == "hub" and recorded["format"] == "savedmodel"
    assert "saved_model.pb" in recorded["files"] and all(len(h) == 64 for h in recorded["files"].values())
    assert info["settings"]["weights"] == {"yamnet": handle}
