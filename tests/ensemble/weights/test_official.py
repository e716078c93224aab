"""Finding, downloading and caching the official weights, against a local HTTP server (never the internet)."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import json
import re
import threading
from pathlib import Path

import numpy as np
import pytest

from seraudit.ensemble.backbones.registry import BACKBONES
from seraudit.ensemble.weights.official import (
    UNVERIFIED_FIRST_DOWNLOAD,
    VERIFIED,
    ChecksumMismatchError,
    class_map,
    resolve_weights,
    vggish_pca_params,
)
from seraudit.core.errors import WeightsError


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the test folder; counts requests; can cut a transfer in half."""

    def do_GET(self):  # noqa: N802 (http.server naming)
        self.server.requests.append(self.path)
        name = self.path.lstrip("/")
        if name in self.server.truncate:
            data = (Path(self.directory) / name).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()

    def log_message(self, *args):
        pass


class LocalServer:
    def __init__(self, folder: Path):
        self.folder = folder
        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(_Handler, directory=str(folder))
        )
        self.httpd.requests = []
        self.httpd.truncate = set()
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def requests(self) -> list[str]:
        return self.httpd.requests

    def serve(self, name: str, data: bytes, truncate: bool = False) -> str:
        (self.folder / name).write_bytes(data)
        if truncate:
            self.httpd.truncate.add(name)
        return hashlib.sha256(data).hexdigest()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def server(tmp_path):
    folder = tmp_path / "served"
    folder.mkdir()
    srv = LocalServer(folder)
    yield srv
    srv.close()


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch) -> Path:
    """Every test gets its own empty cache, no models folder, and a download base nobody listens on.

    Returns the weights cache folder (`$SERAUDIT_CACHE_DIR/models`).
    """
    monkeypatch.setenv("SERAUDIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("SERAUDIT_MODELS_DIR", raising=False)
    monkeypatch.setenv("SERAUDIT_DOWNLOAD_BASE", "http://127.0.0.1:9")
    return tmp_path / "cache" / "models"


def _files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_a_download_lands_in_the_cache_and_the_next_run_reuses_it(server, isolated_env):
    payload = np.random.default_rng(0).bytes(3 * (1 << 20) + 17)  # several chunks
    digest = server.serve("vggish_model.ckpt", payload)

    first = resolve_weights("vggish", download_base=server.url)

    assert first.origin == "download" and first.pretrained and first.format == "ckpt"
    assert first.path == isolated_env / "vggish" / "vggish_model.ckpt"
    assert first.path.read_bytes() == payload and first.sha256 == digest
    # Google publishes no hash for the checkpoint: it is recorded, and says so.
    assert first.integrity == UNVERIFIED_FIRST_DOWNLOAD
    assert "unverified (first download)" in first.describe()
    manifest = json.loads((isolated_env / "manifest.json").read_text())
    assert manifest["files"]["vggish/vggish_model.ckpt"]["sha256"] == digest
    assert server.requests == ["/vggish_model.ckpt"]

    second = resolve_weights("vggish", download_base=server.url)

    assert second.origin == "cache" and second.sha256 == digest
    assert second.integrity == UNVERIFIED_FIRST_DOWNLOAD
    assert server.requests == ["/vggish_model.ckpt"]  # the server was not contacted again


def test_a_corrupted_download_names_both_hashes_and_leaves_nothing_in_the_cache(server, isolated_env):
    wrong = server.serve("vggish_pca_params.npz", b"not the PCA parameters" * 1000)

    with pytest.raises(ChecksumMismatchError) as caught:
        vggish_pca_params(download_base=server.url)

    message = str(caught.value)
    assert f"{server.url}/vggish_pca_params.npz" in message
    assert BACKBONES["vggish"].official.files[0].sha256 in message and wrong in message
    assert _files_under(isolated_env) == []


def test_a_corrupted_download_is_never_replaced_by_untrained_weights(server, isolated_env, monkeypatch):
    # Pretend Google published a hash for the checkpoint (in VGGish's registry entry); the server's bytes do not match it.
    vggish = BACKBONES["vggish"]
    published = dataclasses.replace(vggish.official.downloads[0], sha256="0" * 64)
    monkeypatch.setitem(BACKBONES, "vggish",
                        dataclasses.replace(vggish, official=dataclasses.replace(vggish.official, downloads=(published,))))
    server.serve("vggish_model.ckpt", b"tampered")

    with pytest.raises(ChecksumMismatchError):
        resolve_weights("vggish", allow_untrained=True, download_base=server.url)
    assert _files_under(isolated_env) == []


def test_an_interrupted_download_leaves_no_partial_file(server, isolated_env):
    server.serve("vggish_model.ckpt", bytes(2 * (1 << 20)), truncate=True)

    with pytest.raises(WeightsError) as caught:
        resolve_weights("vggish", download_base=server.url)

    assert re.search(rf"{re.escape(server.url)}/vggish_model\.ckpt (stopped|failed) after \d+", str(caught.value))
    assert server.requests == ["/vggish_model.ckpt"]
    assert _files_under(isolated_env) == []  # no .part file, no manifest entry


def test_the_models_folder_wins_over_cache_and_download(server, isolated_env, tmp_path, monkeypatch):
    models = tmp_path / "models"
    (models / "vggish").mkdir(parents=True)
    (models / "vggish" / "vggish_model.ckpt").write_bytes(b"from the models folder")
    (isolated_env / "vggish").mkdir(parents=True)
    (isolated_env / "vggish" / "vggish_model.ckpt").write_bytes(b"from the cache")
    server.serve("vggish_model.ckpt", b"from the server")

    by_argument = resolve_weights("vggish", models_dir=models, download_base=server.url)
    monkeypatch.setenv("SERAUDIT_MODELS_DIR", str(models))
    by_environment = resolve_weights("vggish", download_base=server.url)

    for source in (by_argument, by_environment):
        assert source.origin == "models_dir"
        assert source.path == models / "vggish" / "vggish_model.ckpt"
        assert source.sha256 == hashlib.sha256(b"from the models folder").hexdigest()
    assert server.requests == []


def test_a_two_file_checkpoint_is_found_by_its_prefix(tmp_path):
    folder = tmp_path / "models" / "vggish"
    folder.mkdir(parents=True)
    (folder / "vggish_model.ckpt.index").write_bytes(b"index")

    with pytest.raises(WeightsError, match=r"vggish_model\.ckpt\.data-00000-of-00001"):
        resolve_weights("vggish", models_dir=tmp_path / "models", download=False)

    (folder / "vggish_model.ckpt.data-00000-of-00001").write_bytes(b"data")
    source = resolve_weights("vggish", models_dir=tmp_path / "models", download=False)
    assert source.format == "ckpt" and source.path == folder / "vggish_model.ckpt"
    assert len(source.sha256) == 64


def test_missing_vggish_says_where_to_get_it_and_where_to_put_it(models_dir, server):
    with pytest.raises(WeightsError) as caught:
        resolve_weights("vggish", models_dir=models_dir, download_base=server.url)

    message = str(caught.value)
    for needed in (
        "https://storage.googleapis.com/audioset/vggish_model.ckpt",
        "vggish/vggish_model.ckpt",
        "`models_dir=FOLDER`",
        "SERAUDIT_MODELS_DIR",
        '`allow_untrained=["vggish"]`',
        '"untrained"',
        str(models_dir),
        "HTTP 404",
    ):
        assert needed in message, needed

    with pytest.raises(WeightsError, match="downloads disabled"):
        resolve_weights("vggish", models_dir=models_dir, download=False)


def test_allow_untrained_gives_a_source_marked_untrained(models_dir):
    source = resolve_weights("vggish", models_dir=models_dir, allow_untrained=True, download=False)

    assert (source.format, source.pretrained, source.origin, source.path) == ("untrained", False, "untrained", None)
    assert source.describe() == "VGGish — untrained (seeded random weights)"
    assert source.to_dict()["pretrained"] is False


def test_the_shared_yamnet_is_recognised_by_its_hash(models_dir):
    source = resolve_weights("yamnet", models_dir=models_dir, download=False)

    assert (source.format, source.origin, source.integrity) == ("tflite", "models_dir", VERIFIED)
    assert source.describe() == "YAMNet — pretrained (yamnet.tflite, sha256 2d5e1e05…)"


def test_a_cached_file_changed_after_download_is_refused(server, isolated_env):
    server.serve("vggish_model.ckpt", b"original bytes")
    cached = resolve_weights("vggish", download_base=server.url).path
    cached.write_bytes(b"changed bytes")

    with pytest.raises(WeightsError, match="delete it to download it again") as caught:
        resolve_weights("vggish", download_base=server.url)
    assert hashlib.sha256(b"changed bytes").hexdigest() in str(caught.value)


def test_class_map_lists_the_521_audioset_names(models_dir):
    names = class_map(models_dir, download=False)

    assert len(names) == 521
    assert names[0] == "Speech" and names[-1] == "Field recording"
    assert "Child speech, kid speaking" in names  # quoted CSV field kept whole


def test_pca_params_come_from_the_official_file(models_dir):
    means, eigen = vggish_pca_params(models_dir, download=False)

    with np.load(models_dir / "vggish" / "vggish_pca_params.npz") as raw:
        np.testing.assert_array_equal(means, raw["pca_means"].reshape(-1))
        np.testing.assert_array_equal(eigen, raw["pca_eigen_vectors"])
    assert means.shape == (128,) and eigen.shape == (128, 128)
