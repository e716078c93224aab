"""A small prepared corpus with known answers, shared by the trainer, assembly and cross-validation tests.

6 speakers x 3 emotions x 2 clips, 3 patches each; random layer features, some of them carrying the emotion.
`fit` trains a `Trainer` on its fixed split (2 train, 2 validation, 2 test speakers).
"""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from seraudit.ensemble.data.corpus_data import CorpusData
from seraudit.ensemble.data.embedding_cache import CorpusPatches
from seraudit.ensemble.data.folds import Fold
from seraudit.ensemble.model.head_layers import HeadConfig
from seraudit.ensemble.training.settings import TrainSettings
from seraudit.ensemble.training.trainer import Trainer

LABELS = ["neutral", "happy", "sad"]
SPEAKERS = [f"s{i}" for i in range(6)]
FOLD = Fold(0, train_speakers=SPEAKERS[:2], val_speakers=SPEAKERS[2:4], test_speakers=SPEAKERS[4:])
PATCHES_PER_CLIP = 3
SOURCES = {"yamnet": SimpleNamespace(pretrained=True), "vggish": SimpleNamespace(pretrained=False)}


def synthetic_settings(models, fusion="late", **changes) -> TrainSettings:
    changes = {"head": HeadConfig(epochs=3), **changes}
    return TrainSettings(corpus="synthetic", data="-", models=models, fusion=fusion, progress=False,
                         command_line=["test"], **changes)


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
    return replace(data, table=data.table.assign(gender=genders), taps=taps)


@pytest.fixture(scope="module")
def fit():
    """`fit(models, data, fusion="late", **settings)`: a `Trainer` fitted on the synthetic split."""

    def fitted(models, data, fusion="late", **changes) -> Trainer:
        return Trainer(synthetic_settings(models, fusion, **changes), SOURCES).fit(data, FOLD)

    return fitted


@pytest.fixture(scope="module")
def late(data, fit):
    """Every model of a default run, late fusion."""
    return fit(["ensemble", "yamnet", "vggish", "egemaps"], data)


@pytest.fixture(scope="module")
def test_clips(data):
    """The clips of the split's test speakers."""
    return np.flatnonzero(np.isin(data.speakers, FOLD.test_speakers))


@pytest.fixture(scope="module")
def settings_for():
    """`settings_for(models, fusion="late", **settings)`: the synthetic run's `TrainSettings` (3-epoch heads, quiet)."""
    return synthetic_settings


@pytest.fixture(scope="module")
def sources():
    """Backbone -> its resolved weights, as far as a synthetic run needs them (pretrained or not)."""
    return SOURCES
