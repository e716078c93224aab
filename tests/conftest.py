"""Shared fixtures: where the read-only corpora and weights live, and clips synthesised on the fly."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from seraudit.core.paths import shared_dir as _shared_dir

SHARED_DIR = _shared_dir().resolve()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED_DIR.is_dir():
        pytest.fail(f"shared data folder not found at {SHARED_DIR}; set SERAUDIT_SHARED")
    return SHARED_DIR


@pytest.fixture(scope="session")
def ravdess_dir(shared_dir) -> Path:
    return shared_dir / "data" / "ravdess"


@pytest.fixture(scope="session")
def emodb_dir(shared_dir) -> Path:
    return shared_dir / "data" / "emodb-2s"


@pytest.fixture(scope="session")
def models_dir(shared_dir) -> Path:
    return shared_dir / "models"


@pytest.fixture(scope="session")
def yamnet_tflite(models_dir) -> Path:
    return models_dir / "yamnet" / "yamnet.tflite"


@pytest.fixture(scope="session")
def ravdess_clips(ravdess_dir) -> list[Path]:
    """A small, fixed slice of RAVDESS: two actors, every emotion."""
    return sorted((ravdess_dir / "Actor_01").glob("*.flac"))[:30:3] + sorted(
        (ravdess_dir / "Actor_02").glob("*.flac")
    )[:30:3]


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory) -> Path:
    """A real spoken sentence from espeak-ng (22.05 kHz mono wav), with silence around it."""
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is not installed: `apt-get install espeak-ng` (the CI script does this)")
    out = tmp_path_factory.mktemp("speech") / "speech.wav"
    subprocess.run(
        ["espeak-ng", "-w", str(out), "The quick brown fox jumps over the lazy dog, twice."],
        check=True,
        capture_output=True,
    )
    return out


@pytest.fixture()
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def make_attribution():
    """`make_attribution(clip_map, method, model=..., target=..., target_label=..., **fields)`: an `Attribution`.

    The patch fields default to `clip_map` cut on the default patch grid, the
    way an explainer returns them; any other field can be given.
    """
    from seraudit.preprocessing.segments import make_patches
    from seraudit.xai.attribution import Attribution

    def make(clip_map, method="gradcam", model="ensemble", target=0, target_label="neutral", **fields):
        if not {"patch_maps", "patch_start_s", "patch_end_s"} <= fields.keys():
            patches = make_patches(clip_map)
            fields = {"patch_maps": patches.data, "patch_start_s": patches.start_s, "patch_end_s": patches.end_s, **fields}
        fields = {"params": {}, "seconds": 0.0, **fields}
        return Attribution(method=method, model=model, target=target, target_label=target_label, clip_map=clip_map, **fields)

    return make


@pytest.fixture(scope="session")
def untrained_yamnet_run():
    """`make(out, labels)`: a run folder holding one real (untrained) YAMNet Keras model reading its second block, GDS at 0.9."""

    def make(out: Path, labels: list[str]):
        import pandas as pd

        from seraudit.ensemble.model.graph import build_model
        from seraudit.ensemble.run import write_run

        config = {"name": "yamnet", "head": {}, "branch_untrained": {"yamnet": True}, "taps": {"yamnet": ["layer2"]}}
        built = build_model(config, n_classes=len(labels))
        info = {"labels": labels, "gds": {"enabled": True, "threshold": 0.9}}
        predictions = pd.DataFrame({"path": [], "label": [], "speaker": []})
        return write_run(out, info, {}, predictions, {}, {"yamnet": (built.keras_model, config, {})}, labels, None)

    return make


import http.server as _http_server  # noqa: E402 (download-test server below)


class _RangeHandler(_http_server.BaseHTTPRequestHandler):
    """Serves `server.files` from memory, honours `Range: bytes=N-`, and can cut a transfer short."""

    def do_GET(self):  # noqa: N802 (http.server naming)
        name = self.path.split("?")[0].lstrip("/")
        srv = self.server
        srv.requests.append((self.path, self.headers.get("Range")))
        if name not in srv.files:
            self.send_error(404)
            return
        data = srv.files[name]
        start = 0
        wanted = self.headers.get("Range", "")
        if wanted.startswith("bytes=") and srv.ranges:
            start = int(wanted[6:].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        cut = srv.cut.pop(name, None)  # cut once: the next request gets the rest
        body = data[start:] if cut is None else data[start:cut]
        self.wfile.write(body)
        self.wfile.flush()
        if cut is not None:
            self.close_connection = True

    def log_message(self, *args):
        pass


class RangeServer:
    """A local HTTP server on 127.0.0.1 (never the internet) for download tests.

    `serve(name, data)` publishes bytes at `url(name)`; `cut_once(name, n)` makes the
    next transfer of `name` stop after byte n (the full length is still announced);
    `ranges = False` makes it ignore Range headers like some servers do.
    """

    def __init__(self):
        import threading

        self.httpd = _http_server.ThreadingHTTPServer(("127.0.0.1", 0), _RangeHandler)
        self.httpd.files, self.httpd.cut, self.httpd.requests, self.httpd.ranges = {}, {}, [], True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def serve(self, name: str, data: bytes) -> str:
        import hashlib

        self.httpd.files[name] = data
        return hashlib.sha256(data).hexdigest()

    def cut_once(self, name: str, after: int) -> None:
        self.httpd.cut[name] = after

    @property
    def requests(self) -> list[tuple[str, str | None]]:
        return self.httpd.requests

    @property
    def ranges(self) -> bool:
        return self.httpd.ranges

    @ranges.setter
    def ranges(self, value: bool) -> None:
        self.httpd.ranges = value

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def range_server():
    """A `RangeServer` for this test, shut down after it."""
    srv = RangeServer()
    yield srv
    srv.close()
