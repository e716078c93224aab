"""The main job (`seraudit audit-all`): it audits a balanced sample of test clips, mistakes included, and says where the report is."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from seraudit.cli.commands.audit_all import pick_clips

EMOTIONS = ["neutral", "happy", "sad", "angry"]


def predictions(rng) -> pd.DataFrame:
    """Cross-validation test predictions shaped like a run's predictions.csv (6 clips per emotion, 2 wrong)."""
    rows = []
    for e, label in enumerate(EMOTIONS):
        for i in range(6):
            probs = rng.dirichlet(np.ones(len(EMOTIONS)))
            predicted = EMOTIONS[(e + 1) % 4] if i < 2 else label
            probs[EMOTIONS.index(predicted)] += 1.0 + i / 10
            probs /= probs.sum()
            for model in ("ensemble", "yamnet"):
                rows.append({"model": model, "fold": 0, "path": f"/c/{label}_{i}.wav", "speaker": f"s{i % 3}",
                             "label": label, "prediction": predicted,
                             **{f"p_{x}": p for x, p in zip(EMOTIONS, probs)}})
    return pd.DataFrame(rows)


def test_two_per_emotion_pick_one_mistake_and_one_correct_clip_each(rng):
    chosen = pick_clips(predictions(rng), per_emotion=2)
    assert chosen.groupby("label").size().to_dict() == {e: 2 for e in EMOTIONS}
    assert (chosen["label"] != chosen["prediction"]).groupby(chosen["label"]).sum().to_dict() == {e: 1 for e in EMOTIONS}


def test_the_most_confident_mistake_is_picked_first(rng):
    table = predictions(rng)
    chosen = pick_clips(table, per_emotion=2)
    ensemble = table[table["model"] == "ensemble"]
    for label in EMOTIONS:
        wrong = ensemble[(ensemble["label"] == label) & (ensemble["label"] != ensemble["prediction"])]
        confidence = wrong[[f"p_{x}" for x in EMOTIONS]].max(axis=1)
        assert wrong.loc[confidence.idxmax(), "path"] in set(chosen["path"])


def test_one_per_emotion_still_includes_mistakes_and_correct_clips(rng):
    chosen = pick_clips(predictions(rng), per_emotion=1)
    assert len(chosen) == len(EMOTIONS)
    wrong = chosen["label"] != chosen["prediction"]
    assert wrong.any() and (~wrong).any()


def seraudit(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real command line in a fresh interpreter, as a user would."""
    return subprocess.run([sys.executable, "-m", "seraudit.cli", *args], capture_output=True, text=True, env=env)


def test_a_corpus_folder_that_does_not_exist_is_named_with_the_fix(tmp_path):
    out = seraudit("audit-all", "--corpus", "ravdess", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run"))
    assert out.returncode == 2
    assert "nowhere does not exist" in out.stderr and "--data" in out.stderr


@pytest.mark.slow
def test_main_job_end_to_end_then_reuses_its_caches(tmp_path, ravdess_dir, models_dir):
    """A quick audit-all on 24 RAVDESS clips: the report index exists; the second run retrains and re-audits nothing."""
    args = ["audit-all", "--corpus", "ravdess", "--data", str(ravdess_dir), "--out", str(tmp_path / "run"),
            "--allow-untrained", "vggish", "--models-dir", str(models_dir), "--max-clips", "24",
            "--per-emotion", "1", "--methods", "gradcam", "--sanity", "0", "--quiet"]
    env = {"SERAUDIT_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    first = seraudit(*args, env=env)
    assert first.returncode == 0, first.stderr[-2000:]
    index = first.stdout.strip().splitlines()[-1].removeprefix("report index: ")
    assert index.endswith("report/index.html") and (tmp_path / "run" / "report" / "index.html").is_file()
    second = seraudit(*args, env=env)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "reusing the trained run" in second.stderr
    assert "clip(s) reused" in second.stderr
