"""Report fixtures: an audit folder written with the real writers (no network is trained), and a headless Chromium."""

from __future__ import annotations

import contextlib
import functools
import shutil
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from seraudit.xai.audit.runner import AuditSettings, audit_index
from seraudit.xai.audit.compute import ClipAudit
from seraudit.xai.audit.folder import write_audit_index, write_clip_audit
from seraudit.xai.audit.summary import metric_rows
from seraudit.xai.audit.clip_identity import ClipSpec, clip_id_for

LABELS = ["neutral", "happy", "sad", "angry"]
METHODS = ("gradcam", "occlusion")
# How `run_audit` marks a corpus clip explained by its fold's model (`clip_identity.explained_by`).
HELD_OUT_FOLD_0 = {"kind": "held-out", "model": "fold", "fold": 0, "held_out": True, "in_sample": False,
                   "text": "fold 0 model; speaker not seen in training"}


def _clip_map(features, method: str) -> np.ndarray:
    """A map with a real shape: louder cells score higher (signed for occlusion, like the real method)."""
    energy = features.log_mel - features.log_mel.min()
    clip_map = energy / energy.max()
    return clip_map - clip_map.mean() if method == "occlusion" else clip_map


def write_audit(make_attribution, out_dir: Path, clips: list[tuple[Path, str]], labels: list[str] = LABELS) -> Path:
    """An audit folder for `clips` (path, true label) with two models, one of them with an untrained branch."""
    from seraudit.preprocessing.pipeline import clip_features

    models = [
        SimpleNamespace(name="ensemble", display_name="Ensemble (late fusion; VGGish untrained)",
                        untrained_branches=["vggish"], labels=labels),
        SimpleNamespace(name="yamnet", display_name="YAMNet", untrained_branches=[], labels=labels),
    ]
    records = []
    for i, (path, true_label) in enumerate(clips):
        features = clip_features(path)
        probs = np.roll(np.linspace(0.1, 0.4, len(labels)), i)
        probs = probs / probs.sum()
        mix = (0.2, 0.9, 0.5, 0.7)[i % 4]  # how far the single model strays from the ensemble
        other = (1 - mix) * probs + mix * np.roll(probs, 1)
        predictions = {
            "ensemble": {"label": labels[int(np.argmax(probs))], "probabilities": dict(zip(labels, map(float, probs)))},
            "yamnet": {"label": labels[int(np.argmax(other))], "probabilities": dict(zip(labels, map(float, other)))},
        }
        attributions = [
            make_attribution(
                _clip_map(features, method), method, model=m.name, target=labels.index(predictions[m.name]["label"]),
                target_label=predictions[m.name]["label"], seconds=0.01, clip_path=str(features.path),
            )
            for m in models for method in METHODS
        ]
        audit = ClipAudit(
            spec=ClipSpec(str(path), true_label, "speaker_1", explained_by=HELD_OUT_FOLD_0),
            clip_id=clip_id_for(path),
            predictions=predictions,
            attributions=attributions,
            faithfulness={(a.model, a.method): {"deletion_auc": 0.2, "insertion_auc": 0.6, "random_deletion_auc": 0.4,
                                                "random_insertion_auc": 0.4, "seconds": a.seconds} for a in attributions},
            agreement={"ensemble": {"methods": list(METHODS), "matrix": [[1.0, 0.5], [0.5, 1.0]]}},
            egemaps_deviation=[{"feature": "F0semitoneFrom27.5Hz_sma3nz_amean", "value": 30.1, "z": 2.5}],
            curves={(a.model, a.method): {"fractions": [0.0, 0.5, 1.0], "deletion": [0.6, 0.2, 0.1],
                                          "insertion": [0.1, 0.5, 0.6], "random_deletion": [0.6, 0.4, 0.1],
                                          "random_insertion": [0.1, 0.3, 0.6]} for a in attributions},
            duration_s=features.audio.waveform.size / 16000,
        )
        records.append(write_clip_audit(audit, features, out_dir / "clips" / audit.clip_id,
                                        {m.name: m for m in models}))
    index = audit_index(models, records, [{"clip": "broken.wav", "error": "unreadable"}],
                        AuditSettings(methods=METHODS, probe=True), run_dir="runs/test", title="Test audit")
    write_audit_index(out_dir, index, metric_rows(records))
    return out_dir


RUN_SUMMARY = {
    "corpus_note": "RAVDESS (2.4 s)",
    "models": {
        "ensemble": {"uar_mean": 41.5, "uar_std": 3.2, "confusion_labels": LABELS,
                     "confusion": [[5, 1, 0, 0], [1, 4, 1, 0], [0, 2, 3, 1], [0, 0, 1, 5]]},
        "yamnet": {"uar_mean": 38.0, "uar_std": 4.1, "confusion_labels": LABELS,
                   "confusion": [[4, 2, 0, 0], [1, 3, 2, 0], [0, 2, 3, 1], [1, 0, 1, 4]]},
    },
    "comparisons": [{"model": "ensemble", "other": "yamnet", "uar_difference": 3.5, "ci_low": -1.0,
                     "ci_high": 8.0, "mcnemar_p": 0.21}],
}


@pytest.fixture(scope="session")
def report_clips(ravdess_dir) -> list[tuple[Path, str]]:
    """Three RAVDESS clips of actor 1 with their true labels (neutral, happy, angry)."""
    names = ["03-01-01-01-01-01-01.flac", "03-01-03-01-01-01-01.flac", "03-01-05-01-01-01-01.flac"]
    return [(ravdess_dir / "Actor_01" / n, label) for n, label in zip(names, ["neutral", "happy", "angry"])]


@pytest.fixture(scope="session")
def audit_writer(make_attribution):
    """`write_audit(out_dir, [(path, true_label), ...], labels=...)`: an audit folder from the real writers."""
    return functools.partial(write_audit, make_attribution)


@pytest.fixture(scope="session")
def audit_dir(tmp_path_factory, report_clips, make_attribution) -> Path:
    return write_audit(make_attribution, tmp_path_factory.mktemp("audit"), report_clips)


def write_run_folder(out_dir: Path, clips: list[tuple[Path, str]], corpus_root: Path, labels: list[str] = LABELS) -> Path:
    """A run folder as `seraudit train` writes one (VGGish untrained), scored by the real evaluation code.

    Its predictions cover the audited clips plus synthetic ones of four speakers over two
    folds; its ``failures.csv`` names one file training could not read.
    """
    import pandas as pd

    from seraudit.ensemble.evaluation.scoring import evaluate_predictions
    from seraudit.ensemble.run import write_run

    rng = np.random.default_rng(0)
    paths = [str(p) for p, _ in clips] + [str(corpus_root / f"Actor_0{s}" / f"synthetic-{s}-{i}.flac")
                                          for s in (2, 3, 4) for i in range(len(labels) * 2)]
    truths = [label for _, label in clips] + [labels[i % len(labels)] for _ in (2, 3, 4) for i in range(len(labels) * 2)]
    speakers = ["ravdess_01"] * len(clips) + [f"ravdess_0{s}" for s in (2, 3, 4) for _ in range(len(labels) * 2)]
    skill = {"ensemble": 0.7, "yamnet": 0.6, "vggish": 0.2, "egemaps": 0.5}
    rows = []
    for model, p_right in skill.items():
        for path, truth, speaker in zip(paths, truths, speakers):
            right = rng.random() < p_right
            predicted = truth if right else labels[(labels.index(truth) + 1) % len(labels)]
            probs = np.full(len(labels), 0.1)
            probs[labels.index(predicted)] = 0.7
            probs /= probs.sum()
            rows.append({"model": model, "fold": 0 if speaker in ("ravdess_01", "ravdess_02") else 1, "path": path,
                         "speaker": speaker, "label": truth, "prediction": predicted,
                         **{f"p_{lab}": float(v) for lab, v in zip(labels, probs)}})
    predictions = pd.DataFrame(rows)
    info = {"ensemble": {"fusion": "late", "untrained": ["vggish"]}, "yamnet": {"fusion": None, "untrained": []},
            "vggish": {"fusion": None, "untrained": ["vggish"]}, "egemaps": {"fusion": None, "untrained": []}}
    results = evaluate_predictions(predictions, labels, info, n_boot=200, seed=0)
    results.update({
        "corpus": "ravdess", "corpus_display": "RAVDESS (2.4 s)", "gds": {"enabled": True, "threshold": 0.4},
        "gds_kept_fraction": 0.6, "n_clips": len(paths), "n_speakers": 4,
        "corpus_summary": {"n_clips": len(paths), "n_speakers": 4,
                           "clips_per_emotion": {lab: truths.count(lab) for lab in labels},
                           "duration_s": {"min": 2.39, "median": 2.39, "max": 2.39, "total": 2.39 * len(paths)},
                           "patches": {"total": 4 * len(paths), "kept": 3 * len(paths), "dropped": len(paths)}},
        "gds_ablation": {"threshold": 0.4, "kept_fraction": 0.6, "seconds": 1.0, "rows": [
            {"model": "ensemble", "display_name": results["models"]["ensemble"]["display_name"], "uar_with_gds": 52.0,
             "uar_with_gds_std": 3.0, "uar_without_gds": 49.5, "uar_without_gds_std": 4.0, "difference": 2.5}]},
    })
    weights = {
        "yamnet": {"backbone": "yamnet", "description": "YAMNet — pretrained (yamnet.tflite, sha256 2d5e1e05…)",
                   "format": "tflite", "integrity": "verified", "origin": "models_dir", "pretrained": True,
                   "path": "/work/shared/models/yamnet/yamnet.tflite", "url": None,
                   "sha256": "2d5e1e0577beb1fd3b6ba4cf89a7b8813340added8dae72f64fe8cd18731dd4a"},
        "vggish": {"backbone": "vggish", "description": "VGGish — untrained (seeded random weights)", "format": "untrained",
                   "integrity": None, "origin": "untrained", "pretrained": False, "path": None, "url": None, "sha256": None},
    }
    run_info = {
        "corpus": "ravdess", "corpus_display": "RAVDESS (2.4 s)", "data": str(corpus_root), "labels": labels,
        "gds": {"enabled": True, "threshold": 0.4}, "models": info, "weights": weights,
        "seeds": {"global": 0, "head": 0, "untrained_vggish": 0, "bootstrap": 0},
        "library_versions": {"python": "3.11.7", "tensorflow": "2.21.0"},
        "command_line": ["seraudit", "audit-all", "--corpus", "ravdess", "--allow-untrained", "vggish"],
        "settings": {"corpus": "ravdess", "data": str(corpus_root), "seed": 0, "max_clips": None,
                     "models": list(info), "gds": {"enabled": True, "threshold": 0.4}},
        "training": "frozen backbones, linear heads on cached layer features",
    }
    folds = {"corpus": "ravdess", "folds": [
        {"index": 0, "train_speakers": ["ravdess_03"], "val_speakers": ["ravdess_04"], "test_speakers": ["ravdess_01", "ravdess_02"]},
        {"index": 1, "train_speakers": ["ravdess_01"], "val_speakers": ["ravdess_02"], "test_speakers": ["ravdess_03", "ravdess_04"]}]}
    write_run(out_dir, run_info, folds, predictions, results, {}, labels, None)
    (out_dir / "failures.csv").write_text(f"clip,error\n{corpus_root / 'Actor_05' / 'silent.flac'},no speech detected\n",
                                          encoding="utf-8")
    return out_dir


@pytest.fixture(scope="session")
def summary_report(audit_dir):
    """A report of the audit fixture with a hand-written run summary (known UAR, interval and p)."""
    from seraudit.reports.loading import load_report

    return load_report(RUN_SUMMARY, audit_dir)


@pytest.fixture(scope="session")
def run_writer():
    """`write_run_folder(out_dir, [(path, true_label), ...], corpus_root, labels=...)`: a run folder as training writes it."""
    return write_run_folder


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory, report_clips, ravdess_dir) -> Path:
    return write_run_folder(tmp_path_factory.mktemp("run") / "run", report_clips, ravdess_dir)


@pytest.fixture(scope="session")
def report(audit_dir, run_dir):
    """The report of the audit fixture and the run fixture, read as `seraudit report` reads them."""
    from seraudit.ensemble.run import Run
    from seraudit.reports.loading import load_report
    from seraudit.reports.run_reader import run_summary

    return load_report(run_summary(Run.open(run_dir)), audit_dir, run_dir=str(run_dir))


@pytest.fixture(scope="session")
def report_dir(tmp_path_factory, report) -> Path:
    from seraudit.reports.build import build_report

    out = tmp_path_factory.mktemp("report") / "report"
    build_report(report, out)
    return out


@contextlib.contextmanager
def chromium(logs: tuple[str, ...] = ("browser",)):
    """Headless Chromium through chromedriver with a fresh profile, recording the `logs` named (browser console,
    Chrome's performance log); quit and its profile removed on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver_bin = shutil.which("chromium") or "/usr/bin/chromium", shutil.which("chromedriver")
    if driver_bin is None or not Path(binary).exists():
        pytest.fail("chromium and chromedriver are needed: `apt-get install chromium chromium-driver` (.ci/run does this)")
    profile = tempfile.mkdtemp(prefix="seraudit-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--autoplay-policy=no-user-gesture-required", f"--user-data-dir={profile}",
                "--window-size=1400,1000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {log: "ALL" for log in logs})
    driver = webdriver.Chrome(service=Service(driver_bin), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium with the browser console captured."""
    with chromium() as driver:
        yield driver
