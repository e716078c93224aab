"""The main job (`seraudit audit-all`): it trains, audits, writes the report, says where it is, and reuses its work.

Which clips it picks is tested with the rule itself, in tests/xai/audit/test_plan.py.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


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
            "--allow-untrained", "vggish", "--models-dir", str(models_dir), "--no-download", "--max-clips", "24",
            "--per-emotion", "1", "--methods", "gradcam,probe", "--sanity", "0", "--no-interventions", "--quiet"]
    env = {"SERAUDIT_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    first = seraudit(*args, env=env)
    assert first.returncode == 0, first.stderr[-2000:]
    index = first.stdout.strip().splitlines()[-1].removeprefix("report index: ")
    assert index.endswith("report/index.html") and (tmp_path / "run" / "report" / "index.html").is_file()
    # Where the time went: a table at the end of the run, and the same figures in RUN/timings.json.
    assert "where the time went" in first.stderr
    for row in ("training", "  cross-validation", "audit", "  explain gradcam, yamnet", "report", "total"):
        assert f"\n{row}" in first.stderr, row
    timings = json.loads((tmp_path / "run" / "timings.json").read_text())
    phases = {p["name"]: p for p in timings["phases"]}
    assert list(phases) == ["training", "eGeMAPS deviations", "audit", "eGeMAPS probing",
                            "what the model uses (shortcut battery)", "report"]
    # probing ran in a worker process beside the audit (its time is said to be outside the total); 24 clips hold too
    # few speakers per emotion to probe, so the job says why it skipped it and goes on
    assert "not added to the total" in phases["eGeMAPS probing"]["note"]
    assert 0 < sum(p["seconds"] for p in phases.values() if not p["note"]) <= timings["total_seconds"]
    assert json.loads((tmp_path / "run" / "audit" / "audit.json").read_text())["probing"] is None
    assert "eGeMAPS probing skipped: " in first.stderr
    assert phases["training"]["seconds"] > 0
    assert {"explain gradcam, yamnet", "explain gradcam, ensemble"} <= {p["name"] for p in phases["audit"]["parts"]}
    assert "verdict: " in first.stderr and " warn" in first.stderr  # VGGish is untrained: at least that check warns
    second = seraudit(*args, env=env)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "reusing the trained run" in second.stderr
    assert "clip(s) reused" in second.stderr
    assert json.loads((tmp_path / "run" / "timings.json").read_text())["phases"][0]["note"] == "reused"



WORKER = """
import os


def probe(run_dir, models_dir):
    if run_dir == "broken":
        raise KeyError("settings")
    return {"rows": [run_dir], "models_dir": models_dir, "pid": os.getpid()}, "", 1.5
"""


def test_probing_beside_the_audit_runs_in_another_process_and_raises_what_failed(tmp_path, monkeypatch):
    import os
    import sys
    from importlib import import_module
    from types import SimpleNamespace

    (tmp_path / "probing_worker.py").write_text(WORKER)  # a module the spawned worker can import by name
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    worker = import_module("probing_worker")
    main_job = import_module("seraudit.api.main_job")  # the module (the package exports its function by that name)
    job = main_job.ProbingBesideAudit(SimpleNamespace(path="the run"), "models", probe=worker.probe)
    probing = job.result()
    assert probing["rows"] == ["the run"] and probing["models_dir"] == "models" and job.seconds == 1.5
    assert probing["pid"] != os.getpid()
    with pytest.raises(KeyError, match="settings"):
        main_job.ProbingBesideAudit(SimpleNamespace(path="broken"), None, probe=worker.probe).result()


def test_a_run_that_cannot_be_probed_gives_no_rows_and_says_why(monkeypatch):
    from seraudit.xai.probing import run_probing

    def too_small(run, models_dir, progress):
        raise ValueError("emotion 'sad' needs clips of more speakers")

    monkeypatch.setattr(run_probing.Run, "open", lambda path: path)
    monkeypatch.setattr(run_probing, "probe_run", too_small)
    assert run_probing.probe_run_dir("the run", None)[:2] == (None, "emotion 'sad' needs clips of more speakers")
    monkeypatch.setattr(run_probing, "probe_run", lambda run, models_dir, progress: {"run": run, "bar": progress})
    assert run_probing.probe_run_dir("the run", None)[:2] == ({"run": "the run", "bar": False}, "")
