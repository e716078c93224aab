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
