"""`make audit` on a fresh machine: without ../shared and without DATA it fetches RAVDESS, then runs the main job.

The Makefile runs against a stand-in `seraudit` that records its arguments, so the
test checks what `make` calls, not the (long) main job itself.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

STAND_IN = """#!/bin/sh
echo "$@" >> "{log}"
if [ "$1" = fetch-corpus ]; then echo "fetching ..." >&2; echo "{fetched}"; fi
"""


def _make_audit(tmp_path: Path, *overrides: str) -> list[str]:
    if shutil.which("make") is None:
        pytest.fail("make is not installed: `apt-get install make`")
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    script = bin_dir / "seraudit"
    script.write_text(STAND_IN.format(log=log, fetched=tmp_path / "cache" / "corpora" / "ravdess"))
    script.chmod(0o755)
    future = 4_000_000_000  # newer than requirements.txt: the set-up step has nothing to do
    os.utime(script, (future, future))
    env = {k: v for k, v in os.environ.items() if k not in ("DATA", "SHARED", "MAKEFLAGS")}
    done = subprocess.run(["make", "-s", "-C", str(REPO_ROOT), "audit", f"BIN={bin_dir}", *overrides],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return log.read_text().splitlines()


def test_without_shared_data_make_audit_fetches_ravdess_and_audits_the_fetched_folder(tmp_path):
    calls = _make_audit(tmp_path, f"SHARED={tmp_path / 'no-shared'}")

    assert calls[0] == "fetch-corpus ravdess"
    assert calls[1].startswith(f"audit-all --corpus ravdess --data {tmp_path / 'cache' / 'corpora' / 'ravdess'} ")


def test_with_data_given_nothing_is_fetched(tmp_path):
    calls = _make_audit(tmp_path, f"SHARED={tmp_path / 'no-shared'}", f"DATA={tmp_path / 'mine'}")

    assert len(calls) == 1 and calls[0].startswith(f"audit-all --corpus ravdess --data {tmp_path / 'mine'} ")


def test_the_main_job_uses_the_full_length_ravdess_clips_when_shared_holds_them(tmp_path):
    shared = tmp_path / "shared"
    (shared / "data" / "ravdess").mkdir(parents=True)
    (shared / "data" / "ravdess-full").mkdir(parents=True)
    calls = _make_audit(tmp_path, f"SHARED={shared}")
    assert len(calls) == 1 and calls[0].startswith(f"audit-all --corpus ravdess --data {shared / 'data' / 'ravdess-full'} ")


def test_without_the_full_length_clips_the_main_job_falls_back_to_the_cut_copy(tmp_path):
    shared = tmp_path / "shared"
    (shared / "data" / "ravdess").mkdir(parents=True)
    calls = _make_audit(tmp_path, f"SHARED={shared}")
    assert len(calls) == 1 and calls[0].startswith(f"audit-all --corpus ravdess --data {shared / 'data' / 'ravdess'} ")
