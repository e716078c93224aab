"""`seraudit train` on hostile corpora and under faults: unusable clips are left out and recorded (or refused with
--strict), corpora that cannot be learned are refused before any work, an interrupted or disk-full run leaves
nothing that loads, and the next run resumes from the caches — a damaged cache entry is recomputed, never used."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cases import _wav, voice

from seraudit.core.errors import EXIT_NOTHING_DONE, EXIT_SOME_FAILED, RunError
from seraudit.ensemble.run import Run

SPEAKERS = {"spk_a": 110.0, "spk_b": 160.0, "spk_c": 220.0}
EMOTIONS = {"neutral": 1.0, "angry": 1.6}  # the angry clips sit higher and louder


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """Twelve synthetic clips (3 speakers x 2 emotions x 2 takes) and three unusable ones, relative paths."""
    root = tmp_path_factory.mktemp("corpus")
    rows = []
    for speaker, f0 in SPEAKERS.items():
        for emotion, lift in EMOTIONS.items():
            for take in range(2):
                name = f"clips/{speaker}_{emotion}_{take}.wav"
                _wav(root / name, np.clip(voice(1.2, f0=f0 * lift, seed=take) * lift, -1, 1))
                rows.append((name, emotion, speaker))
    nan = voice(1.2)
    nan[10] = np.nan
    _wav(root / "clips/broken_nan.wav", nan, subtype="FLOAT")
    left = voice(1.2)
    _wav(root / "clips/broken_cancel.wav", np.stack([left, -left], axis=1), subtype="FLOAT")
    (root / "clips/broken_text.wav").write_text("not audio\n" * 20)
    bad = [("clips/broken_nan.wav", "angry", "spk_a"), ("clips/broken_cancel.wav", "neutral", "spk_b"),
           ("clips/broken_text.wav", "angry", "spk_c")]
    return root, rows, bad


def _manifest(root: Path, rows, name: str = "manifest.csv") -> Path:
    path = root / name
    pd.DataFrame(rows, columns=["path", "label", "speaker"]).to_csv(path, index=False)
    return path


def _train_args(manifest, out, cache, models_dir, *extra):
    return ["train", "--corpus", "manifest", "--data", manifest, "--models", "yamnet", "--layers", "last",
            "--models-dir", models_dir, "--no-download", "--bootstrap", "10", "--cache-dir", cache, "--quiet",
            "--out", out, *extra]


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("hostile-cache")


@pytest.fixture(scope="session")
def trained(corpus, cache_dir, models_dir, tmp_path_factory):
    """One real training on the corpus with its three unusable clips (through main(), as a user runs it)."""
    import contextlib
    import io

    from seraudit.cli import main

    root, rows, bad = corpus
    manifest = _manifest(root, rows + bad)
    out = tmp_path_factory.mktemp("trained") / "run"
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main([str(a) for a in _train_args(manifest, out, cache_dir, models_dir)])
    return code, out, err.getvalue(), manifest


def test_train_leaves_out_unusable_clips_records_them_and_exits_3(trained, corpus):
    code, out, err, _ = trained
    root, rows, bad = corpus
    assert code == EXIT_SOME_FAILED
    run = Run.open(out)
    failed = {Path(f["clip"]).name: f["error"] for f in run.failures}
    assert set(failed) == {Path(b[0]).name for b in bad}
    assert "NaN or infinite" in failed["broken_nan.wav"] and "cancel in the mono mix" in failed["broken_cancel.wav"]
    assert "libsndfile cannot decode it" in failed["broken_text.wav"]
    used = set(run.predictions["path"])
    assert used == {str(root / r[0]) for r in rows}  # relative paths resolved against the manifest's folder
    assert json.loads((out / "run.json").read_text())["failures"] == run.failures
    for name in failed:
        assert f"left out {root / 'clips' / name}" in err


def test_strict_refuses_the_corpus_naming_the_clips(trained, tmp_path, cache_dir, models_dir, seraudit):
    manifest = trained[3]
    code, _, err = seraudit(*_train_args(manifest, tmp_path / "run", cache_dir, models_dir, "--strict"))
    assert code == EXIT_NOTHING_DONE and "--strict: 3 clip(s)" in err and "broken_nan.wav" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("keep,phrase", [
    (lambda r: r[1] == "angry", "a classifier needs at least two emotions"),
    (lambda r: r[2] == "spk_a", "come from one speaker"),
    (lambda r: r[1] == "angry" or r[2] == "spk_a", "spoken by fewer than 2 speakers ('neutral': 1)"),
])
def test_corpora_that_cannot_be_learned_are_refused_before_any_work(corpus, tmp_path, models_dir, seraudit, keep, phrase):
    root, rows, _ = corpus
    manifest = _manifest(tmp_path, [(str(root / r[0]), r[1], r[2]) for r in rows if keep(r)])
    cache = tmp_path / "cache"
    code, _, err = seraudit(*_train_args(manifest, tmp_path / "run", cache, models_dir))
    assert code == EXIT_NOTHING_DONE and phrase in err and str(manifest) in err
    assert not cache.exists() and not (tmp_path / "run").exists()  # no audio read, no cache, no run


def test_an_interrupted_training_leaves_nothing_that_loads_and_the_rerun_resumes_from_the_caches(
        trained, tmp_path, cache_dir, models_dir, seraudit, monkeypatch):
    import seraudit.ensemble.training.experiment as experiment
    from seraudit.ensemble.data.embedding_cache import EmbeddingCache

    manifest, out = trained[3], tmp_path / "run"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # what Ctrl-C (SIGINT) raises, here while the final models train

    with monkeypatch.context() as patch:
        patch.setattr(experiment, "train_final", interrupted)
        code, _, err = seraudit(*_train_args(manifest, out, cache_dir, models_dir))
    assert code == 130 and "interrupted" in err
    assert not out.exists() and os.listdir(tmp_path) == []
    with pytest.raises(RunError):
        Run.open(out)

    computed = []
    original = EmbeddingCache._write
    monkeypatch.setattr(EmbeddingCache, "_write", lambda self, path, **arrays: (computed.append(path.name),
                                                                               original(self, path, **arrays)))
    code, _, _ = seraudit(*_train_args(manifest, out, cache_dir, models_dir))
    assert code == EXIT_SOME_FAILED and Run.open(out).model_names == ["yamnet"]
    assert computed == []  # patches, layers and the list of unusable clips all came from the caches
    cache = json.loads((out / "run.json").read_text())["cache"]
    assert cache["computed"] == [] and len(cache["hits"]) >= 2


_KILLABLE = """
import sys, time
import seraudit.ensemble.run as run_module
real = run_module.write_failures

def slow_write(folder, failures):  # inside the run folder being written: half of it is on disk
    real(folder, failures)
    print("WRITING", flush=True)
    time.sleep(120)

run_module.write_failures = slow_write
from seraudit.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_training_killed_while_writing_its_run_leaves_no_run_folder(trained, tmp_path, cache_dir, models_dir):
    """SIGKILL (no chance to clean up) while the run folder is half written: no run folder appears, only a hidden
    temporary one, and that does not load as a run either."""
    manifest, out = trained[3], tmp_path / "run"
    args = [sys.executable, "-c", _KILLABLE, *map(str, _train_args(manifest, out, cache_dir, models_dir))]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout.readline().strip() == "WRITING"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert not out.exists()
    with pytest.raises(RunError):
        Run.open(out)
    leftovers = list(tmp_path.iterdir())
    assert leftovers and all(p.name.startswith(".") and p.name.endswith(".part") for p in leftovers)
    for partial in leftovers:
        with pytest.raises(RunError):
            Run.open(partial).model("yamnet")


def test_a_full_disk_gives_a_clear_error_and_leaves_nothing_half_written(trained, tmp_path, cache_dir, models_dir,
                                                                          seraudit, monkeypatch):
    manifest, out = trained[3], tmp_path / "run"

    def disk_full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", disk_full)  # predictions.csv, inside the run folder being written
    code, _, err = seraudit(*_train_args(manifest, out, cache_dir, models_dir))
    assert code == EXIT_NOTHING_DONE
    assert f"cannot write {out}: no space left on the device" in err and "nothing was written" in err
    assert not out.exists() and os.listdir(tmp_path) == []


def test_damaged_cache_entries_are_recomputed_never_used(trained, tmp_path, cache_dir, models_dir, seraudit):
    manifest = trained[3]
    first = pd.read_csv(trained[1] / "predictions.csv")
    damaged = tmp_path / "cache"
    damaged.mkdir()
    for entry in Path(cache_dir).iterdir():
        if entry.suffix == ".npz":
            data = entry.read_bytes()
            # the layer table cut in half; the patch table with one byte of its data flipped (the zip's CRC-32 sees it)
            broken = data[: len(data) // 2] if "taps" in entry.name else data[:200] + bytes([data[200] ^ 0xFF]) + data[201:]
            (damaged / entry.name).write_bytes(broken)
        elif entry.is_file():
            (damaged / entry.name).write_bytes(entry.read_bytes())
    out = tmp_path / "run"
    with pytest.warns(UserWarning, match="is damaged"):
        code, _, _ = seraudit(*_train_args(manifest, out, damaged, models_dir))
    assert code == EXIT_SOME_FAILED
    cache = json.loads((out / "run.json").read_text())["cache"]
    assert any("taps" in name for name in cache["computed"]) and any("patches" in name for name in cache["computed"])
    again = pd.read_csv(out / "predictions.csv")
    pd.testing.assert_frame_equal(first, again, atol=1e-5)  # the recomputed entries give the same run


def test_a_quick_slice_with_a_thin_emotion_is_only_warned_about(corpus):
    """Angry spoken by spk_a alone: refused for a whole corpus, only warned about for a quick slice, as long as every
    fold still trains on two emotions (spk_b and spk_c also speak happy); a fold left with one emotion is refused."""
    from seraudit.ensemble.data.corpus_data import check_trainable

    root, rows, _ = corpus
    table = pd.DataFrame([(p, "happy" if label == "angry" and speaker != "spk_a" else label, speaker)
                          for p, label, speaker in rows], columns=["path", "label", "speaker"])
    with pytest.raises(Exception, match="spoken by fewer than 2 speakers"):
        check_trainable(table, "m.csv")
    with pytest.warns(UserWarning, match=r"spoken by fewer than 2 speakers \('angry': 1\)"):
        check_trainable(table, "m.csv (--max-clips 5)", thin="warn")
    one_emotion_fold = pd.DataFrame([r for r in rows if r[1] == "neutral" or r[2] == "spk_a"],
                                    columns=["path", "label", "speaker"])
    with pytest.warns(UserWarning, match="spoken by fewer than 2 speakers"), \
            pytest.raises(Exception, match=r"fold 2 \(test speakers spk_a\) would train on spk_b, whose clips hold only 'neutral'"):
        check_trainable(one_emotion_fold, "m.csv (--max-clips 5)", thin="warn")


def _thin_after_leaving_out(root: Path, rows, bad, dropped_speaker: str):
    """The good rows less `dropped_speaker`'s angry clips, plus two unreadable angry clips of that speaker: the
    corpus passes the rules before any audio is read and thins once the two are left out."""
    good = [r for r in rows if not (r[2] == dropped_speaker and r[1] == "angry")]
    unreadable = [(b[0], "angry", dropped_speaker) for b in bad if "nan" in b[0] or "text" in b[0]]
    return good, unreadable


def test_a_fold_left_with_one_emotion_by_unreadable_clips_still_trains_and_exits_3(corpus, tmp_path, cache_dir,
                                                                                   models_dir, seraudit, recwarn):
    """10 good rows and 2 unreadable ones (--max-clips 12): once the two are left out, spk_c speaks only neutral;
    the inner splits keep two emotions in training (no scikit-learn traceback), and no library warning is printed."""
    root, rows, bad = corpus
    good, unreadable = _thin_after_leaving_out(root, rows, bad, "spk_c")
    assert (len(good), len(unreadable)) == (10, 2)
    manifest = _manifest(tmp_path, [(str(root / r[0]), r[1], r[2]) for r in good + unreadable])
    out = tmp_path / "run"
    code, stdout, err = seraudit(*_train_args(manifest, out, cache_dir, models_dir, "--max-clips", "12"))
    assert code == EXIT_SOME_FAILED, err
    run = Run.open(out)
    assert len(run.failures) == 2 and len(run.predictions) == 10
    for fold in run.folds["folds"] + [run.folds["final"]]:
        held = {r[1] for r in good if f"manifest_{r[2]}" in fold["train_speakers"]}
        assert held == {"neutral", "angry"}, fold  # every head was fitted on two emotions
    # the layer search scores validation speakers that lack an emotion: no scikit-learn warning about it
    assert not [str(w.message) for w in recwarn if "not in y_true" in str(w.message)]
    assert "not in y_true" not in err
    assert "lack an emotion" in stdout and "lacks 'angry'" in stdout  # the fold testing spk_c holds no angry clip
    results = json.loads((out / "results.json").read_text())
    lacking = [f for f in results["fold_coverage"]["folds"] if f["missing"]]
    assert [(f["missing"], f["clips_per_emotion"]) for f in lacking] == [(["angry"], {"neutral": 2, "angry": 0})]
    # the title comes from the clips: every synthetic clip lasts 1.2 s
    assert results["corpus_display"] == "manifest (1.2 s)" == json.loads((out / "run.json").read_text())["corpus_display"]


def test_a_fold_that_cannot_be_trained_once_unreadable_clips_are_left_out_is_named_with_its_emotions(
        corpus, tmp_path, cache_dir, models_dir, seraudit):
    """Only spk_a speaks angry once spk_b's two unreadable angry clips are left out: the fold testing spk_a has
    nothing but neutral to train on. A clear error names that fold and the emotion, nothing is written."""
    root, rows, bad = corpus
    good, unreadable = _thin_after_leaving_out(root, rows, bad, "spk_b")
    good = [r for r in good if not (r[2] == "spk_c" and r[1] == "angry")]
    manifest = _manifest(tmp_path, [(str(root / r[0]), r[1], r[2]) for r in good + unreadable])
    out = tmp_path / "run"
    with pytest.warns(UserWarning, match=r"\('angry': 1\)"):
        code, _, err = seraudit(*_train_args(manifest, out, cache_dir, models_dir))
    assert code == EXIT_NOTHING_DONE
    assert "fold(s) cannot be trained" in err and "(test speakers manifest_spk_a)" in err
    assert "hold only 'neutral'" in err and "usable clips (of 10)" in err
    assert not out.exists()
