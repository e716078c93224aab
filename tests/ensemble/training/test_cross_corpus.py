"""Cross-corpus testing works over the emotions both corpora share, and says so when they share too few; it reads,
checks and records its clips as a cross-validated run does (the label map, `check_trainable`, the provenance)."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from seraudit.core.errors import CorpusError
from seraudit.ensemble.training.cross_corpus import restrict, run_cross_corpus, shared_labels
from seraudit.ensemble.training.experiment import TRAINING
from seraudit.ensemble.training.settings import TrainSettings


def test_shared_emotions_keep_the_canonical_order():
    assert shared_labels(["sad", "calm", "neutral", "angry"], ["angry", "boredom", "neutral", "sad"]) == ["neutral", "sad", "angry"]


def test_restrict_keeps_only_the_shared_emotions():
    table = pd.DataFrame({"path": ["a", "b", "c"], "label": ["sad", "boredom", "angry"]})
    assert restrict(table, ["sad", "angry"])["path"].tolist() == ["a", "c"]


def test_corpora_sharing_one_emotion_are_refused_before_any_training():
    settings = TrainSettings(corpus="one", data="x", models=["egemaps"], progress=False)
    train = pd.DataFrame({"path": ["a", "b"], "label": ["sad", "calm"], "speaker": ["s1", "s2"]})
    test = pd.DataFrame({"path": ["c", "d"], "label": ["sad", "boredom"], "speaker": ["t1", "t2"]})
    with pytest.raises(CorpusError, match="share 1 emotion"):
        run_cross_corpus(settings, "two", "y", train_table=train, test_table=test)


RATE = 16_000
PITCH = {"ANG": 240.0, "HAP": 170.0, "NEU": 110.0, "angry": 240.0, "happy": 170.0, "sad": 90.0}


def _tone(path: Path, f0: float, seed: int) -> Path:
    """A 1.5 s harmonic 'voice' at pitch `f0` with syllable-rate loudness: emotions told apart by pitch alone."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(1.5 * RATE)) / RATE
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.03 * np.sin(2 * np.pi * 5 * t))) / RATE
    wave = sum(np.sin(k * phase) / k for k in range(1, 10))
    envelope = np.clip(np.sin(2 * np.pi * 2.0 * t), 0, None) ** 0.5
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), (0.3 * wave * envelope / np.abs(wave).max() + 1e-4 * rng.standard_normal(t.size)), RATE)
    return path


def _manifest(folder: Path, labels: list[str], speakers: list[str]) -> Path:
    rows = [f"{_tone(folder / f'{s}_{lab}.wav', PITCH[lab] * (1 + 0.02 * i), seed=i).name},{lab},{s}"
            for i, s in enumerate(speakers) for lab in labels]
    path = folder / "manifest.csv"
    path.write_text("\n".join(["path,label,speaker", *rows, ""]))
    return path


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    """A training manifest with its own labels ANG/HAP/NEU (and their map), a test manifest of angry/happy/sad."""
    root = tmp_path_factory.mktemp("cross-corpus")
    label_map = root / "map.csv"
    label_map.write_text("from,to\nANG,angry\nHAP,happy\nNEU,neutral\n")
    return {"train": _manifest(root / "train", ["ANG", "HAP", "NEU"], ["s1", "s2", "s3", "s4"]),
            "test": _manifest(root / "test", ["angry", "happy", "sad"], ["t1", "t2"]), "map": label_map}


def test_a_cross_corpus_run_maps_a_manifests_own_labels_with_the_label_map(corpora, tmp_path):
    settings = TrainSettings(corpus="manifest", data=str(corpora["train"]), models=["egemaps"], progress=False,
                             n_boot=20, cache_dir=str(tmp_path / "cache"))
    with pytest.raises(CorpusError, match="unknown label"):  # without the map the manifest's labels are unknown
        run_cross_corpus(settings, "manifest", str(corpora["test"]))

    mapped = replace(settings, label_map=str(corpora["map"]))
    results = run_cross_corpus(mapped, "manifest", str(corpora["test"]), tmp_path / "run")

    assert results["shared_labels"] == ["happy", "angry"] and results["n_train_clips"] == 8
    predictions = pd.read_csv(tmp_path / "run" / "predictions.csv")
    assert set(predictions["label"]) == {"happy", "angry"} and len(predictions) == 4
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["labels"] == ["happy", "angry"]
    # the provenance a cross-validated run writes, with the cross-corpus facts beside it
    assert run["training"] == TRAINING[False] and run["labels_shared"] == ["happy", "angry"]
    assert {"cache", "failures", "seeds", "library_versions", "final_split"} <= set(run)
    assert run["created"].endswith("Z") and run["software"]["seraudit"] and run["software"]["commit"]  # the report shows them
    egemaps = json.loads((tmp_path / "run" / "models" / "egemaps" / "provenance.json").read_text())
    assert egemaps["training"] == TRAINING[False] and egemaps["test_corpus"] == "manifest"


def test_the_training_clips_are_checked_before_any_weights_are_looked_up(corpora, tmp_path):
    """Two shared emotions, but a one-clip slice carries one: `check_trainable` refuses it before the (missing)
    models folder is read or a cache is made."""
    settings = TrainSettings(corpus="manifest", data=str(corpora["train"]), models=["yamnet"], progress=False,
                             max_clips=1, models_dir=str(tmp_path / "no-such-folder"), cache_dir=str(tmp_path / "cache"),
                             label_map=str(corpora["map"]))
    with pytest.raises(CorpusError, match="only 'happy' of the emotions|only 'angry' of the emotions"):
        run_cross_corpus(settings, "manifest", str(corpora["test"]))
    assert not (tmp_path / "cache").exists()
