"""predict, embed, explain and report on every hostile case: a result for each good file, a clear error naming
each bad one, one exit-status contract (0 all done, 3 some failed, 2 nothing done), never a traceback or a hang."""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cases import LIMIT_S

from seraudit.core.errors import EXIT_NOTHING_DONE, EXIT_OK, EXIT_SOME_FAILED
from seraudit.core.io import read_failures, write_failures


def _all(cases):
    return [c for kind in cases.values() for c in kind]


def test_predict_gives_every_case_its_outcome_in_one_batch(tiny_run, cases, seraudit):
    everything = _all(cases)
    code, out, err = seraudit("predict", tiny_run, *[c.path for c in everything], "--format", "json", "--quiet",
                              "--max-duration", LIMIT_S)
    assert code == EXIT_SOME_FAILED
    records = {r["path"]: r for r in json.loads(out)}
    assert set(records) == {str(c.path) for c in everything}  # one record per file, good or bad
    for case in everything:
        record = records[str(case.path)]
        if case.outcome == "error":
            assert record["label"] == "" and str(case.path) in record["error"], case.name
            assert case.phrase in record["error"], (case.name, record["error"])
            assert f"failed: {case.path}" in err
        else:
            assert record["error"] == "" and record["label"] in ("neutral", "happy", "sad"), case.name
            assert sum(record["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
            assert record["warning"] == ("no speech detected" if case.outcome == "warn" else ""), case.name
    for case in cases["noise"]:
        assert f"warning: {case.path}: no speech detected" in err


def test_predict_csv_has_an_error_column_and_a_row_per_file(tiny_run, cases, seraudit):
    good, bad = cases["good"][:3], cases["broken"][:3]
    code, out, _ = seraudit("predict", tiny_run, *[c.path for c in good + bad], "--quiet")
    assert code == EXIT_SOME_FAILED
    table = pd.read_csv(io.StringIO(out), keep_default_na=False)
    assert {"error", "warning", "speech_fraction"} <= set(table.columns)
    assert table["path"].tolist() == [str(c.path) for c in good + bad]
    assert (table["error"].iloc[:3] == "").all() and table["error"].iloc[3:].str.contains("libsndfile").all()


def test_predict_exit_status_is_0_when_all_are_used_and_2_when_none_is(tiny_run, cases, seraudit):
    assert seraudit("predict", tiny_run, cases["good"][0].path, "--quiet")[0] == EXIT_OK
    code, _, err = seraudit("predict", tiny_run, *[c.path for c in cases["paths"]], "--quiet")
    assert code == EXIT_NOTHING_DONE and "named pipe" in err


def test_require_speech_turns_the_warning_into_an_error(tiny_run, cases, seraudit):
    noise, good = cases["noise"][0], cases["good"][0]
    code, out, _ = seraudit("predict", tiny_run, noise.path, good.path, "--format", "json", "--quiet", "--require-speech")
    records = {r["path"]: r for r in json.loads(out)}
    assert code == EXIT_SOME_FAILED
    assert "no speech detected" in records[str(noise.path)]["error"] and records[str(good.path)]["error"] == ""


def test_a_clip_just_under_the_limit_is_predicted_and_one_over_is_refused_before_decoding(tiny_run, long_clip, cases, seraudit):
    over = next(c for c in cases["broken"] if c.name == "over the duration limit")
    code, out, _ = seraudit("predict", tiny_run, long_clip, over.path, "--format", "json", "--quiet", "--max-duration", LIMIT_S)
    records = {r["path"]: r for r in json.loads(out)}
    assert code == EXIT_SOME_FAILED and records[str(long_clip)]["error"] == ""
    assert f"longer than the {LIMIT_S:g} s limit" in records[str(over.path)]["error"]


def test_embed_skips_bad_files_lists_them_and_exits_3(tmp_path, cases, seraudit, models_dir):
    good = cases["good"][:2]
    bad = [cases["paths"][0], cases["broken"][0]]
    out = tmp_path / "emb.npz"
    code, _, err = seraudit("embed", *[c.path for c in good + bad], "--backbone", "yamnet", "--models-dir", models_dir,
                            "--no-download", "--quiet", "--out", out)
    assert code == EXIT_SOME_FAILED
    with np.load(out) as z:
        assert list(z["paths"]) == [str(c.path) for c in good]
        assert list(z["skipped_paths"]) == [str(c.path) for c in bad]
    assert "named pipe" in err and "libsndfile" in err


def test_explain_audits_the_good_files_and_records_the_bad_ones(tmp_path, tiny_run, cases, seraudit):
    good = cases["good"][:2] + cases["noise"][:1]
    bad = cases["paths"] + [c for c in cases["broken"] if c.name in ("channels that cancel", "DC only", "NaN sample")]
    audit = tmp_path / "audit"
    code, out, err = seraudit("explain", tiny_run, *[c.path for c in good + bad], "--models", "yamnet", "--methods",
                              "gradcam", "--out", audit, "--quiet", "--max-duration", LIMIT_S)
    assert code == EXIT_SOME_FAILED
    index = json.loads((audit / "audit.json").read_text())
    assert sorted(c["path"] for c in index["clips"]) == sorted(str(c.path) for c in good)
    failed = {f["clip"]: f["error"] for f in index["failures"]}
    assert set(failed) == {str(c.path) for c in bad}
    for case in bad:
        assert case.phrase in failed[str(case.path)] and str(case.path) in failed[str(case.path)]
    assert {f["clip"] for f in read_failures(audit)} == set(failed)  # failures.csv beside audit.json
    noisy = next(c for c in index["clips"] if c["path"] == str(cases["noise"][0].path))
    assert noisy["warnings"] == ["no speech detected"]
    assert "warning:" in err and "no speech detected" in err

    # The report lists every failure (the audit's and the run's failures.csv) and the warning, with no absolute
    # path of this machine.
    run = Path(shutil.copytree(tiny_run, tmp_path / "run"))
    left_out = cases["broken"][0].path
    write_failures(run, [{"clip": str(left_out), "error": f"{left_out}: libsndfile cannot decode it", "stage": "train"}])
    report = tmp_path / "report"
    code, _, _ = seraudit("report", run, "--audit", audit, "--out", report)
    assert code == EXIT_SOME_FAILED
    index_page = (report / "index.html").read_text(encoding="utf-8")
    assert f"Files that could not be used ({len(bad) + 1})" in index_page and "no speech detected" in index_page
    assert f"<code>{left_out.name}</code> (train): {left_out.name}: libsndfile" in index_page
    pages = "".join(p.read_text(encoding="utf-8") for p in report.glob("*.html"))
    assert str(tmp_path) not in pages and str(cases["good"][0].path.parent) not in pages
    redacted = tmp_path / "redacted"
    seraudit("report", tiny_run, "--audit", audit, "--out", redacted, "--redact-paths")
    pages = "".join(p.read_text(encoding="utf-8") for p in redacted.glob("*.html"))
    assert "/" + cases["good"][0].path.parent.name + "/" not in pages and cases["good"][0].path.name in pages

    # A rerun reuses the audited clips; a damaged clip folder is recomputed, not shown.
    victim = audit / next(c["dir"] for c in index["clips"] if c["path"] == str(good[0].path))
    overlay = next(victim.rglob("*overlay*.png"))
    overlay.write_bytes(b"")
    code, out, _ = seraudit("explain", tiny_run, *[c.path for c in good], "--models", "yamnet", "--methods", "gradcam",
                            "--out", audit, "--quiet", "--json")
    assert code == EXIT_OK and json.loads(out)["reused"] == len(good) - 1 and overlay.stat().st_size > 0

    # --require-speech refuses the noise clip, even though its audited folder could be reused.
    code, _, err = seraudit("explain", tiny_run, cases["noise"][0].path, "--models", "yamnet", "--methods", "gradcam",
                            "--out", audit, "--quiet", "--require-speech")
    assert code == EXIT_NOTHING_DONE and "no speech detected" in err


def test_explain_with_no_usable_file_exits_2(tmp_path, tiny_run, cases, seraudit):
    code, _, err = seraudit("explain", tiny_run, cases["paths"][1].path, "--models", "yamnet", "--methods", "gradcam",
                            "--out", tmp_path / "audit", "--quiet")
    assert code == EXIT_NOTHING_DONE and "a directory, not a regular file" in err


def test_an_unreadable_file_says_so(tiny_run, cases, seraudit, monkeypatch):
    """No read permission. Root may read anything, so the refusal the kernel would give is simulated at the open."""
    victim, other = cases["good"][0].path, cases["good"][1].path
    real_open = os.open

    def refusing(path, flags, *args, **kwargs):
        if os.fspath(path) == str(victim):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refusing)
    code, out, _ = seraudit("predict", tiny_run, victim, other, "--format", "json", "--quiet")
    records = {r["path"]: r for r in json.loads(out)}
    assert code == EXIT_SOME_FAILED and records[str(other)]["error"] == ""
    assert records[str(victim)]["error"].startswith(f"{victim}: no permission to read it")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files without read permission")
def test_an_unreadable_file_says_so_without_simulation(tmp_path, tiny_run, cases, seraudit):
    victim = Path(shutil.copy(cases["good"][0].path, tmp_path / "locked.wav"))
    victim.chmod(0)
    code, _, err = seraudit("predict", tiny_run, victim, "--quiet")
    assert code == EXIT_NOTHING_DONE and f"{victim}: no permission to read it" in err
