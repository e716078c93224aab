"""What a run, an audit and a report record about how they were made: version, commit, time, the clip list's digest."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess

import pytest

from seraudit.core import provenance


def test_the_clip_list_digest_is_the_sorted_relative_list_wherever_the_corpus_lies():
    here = [("/data/ravdess/Actor_01/a.flac", "happy"), ("/data/ravdess/Actor_02/b.flac", "sad")]
    there = [("/mnt/copy/Actor_02/b.flac", "sad"), ("/mnt/copy/Actor_01/a.flac", "happy"),
             ("/mnt/copy/Actor_01/a.flac", "happy")]  # another order, another folder, a clip twice
    expected = hashlib.sha256(b"Actor_01/a.flac\thappy\nActor_02/b.flac\tsad").hexdigest()
    assert provenance.clip_list_digest(here, "/data/ravdess") == {"sha256": expected, "n_clips": 2}
    assert provenance.clip_list_digest(there, "/mnt/copy/") == {"sha256": expected, "n_clips": 2}


def test_the_digest_changes_with_a_missing_clip_or_another_label():
    clips = [("/c/a.wav", "happy"), ("/c/b.wav", "sad")]
    digest = provenance.clip_list_digest(clips, "/c")["sha256"]
    assert provenance.clip_list_digest(clips[:1], "/c")["sha256"] != digest
    assert provenance.clip_list_digest([("/c/a.wav", "happy"), ("/c/b.wav", "angry")], "/c")["sha256"] != digest


def test_a_date_is_iso_utc_to_the_second(tmp_path):
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", provenance.utc_now())
    (tmp_path / "f").write_text("x")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", provenance.file_time(tmp_path / "f"))
    assert provenance.file_time(tmp_path / "missing") is None


def _git(cwd, *args):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_the_commit_is_read_from_the_checkout_the_package_is_tracked_in(tmp_path):
    package = tmp_path / "repo" / "seraudit"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('__version__ = "9.9"\n')
    repo = package.parent
    _git(repo, "init", "-q")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    head = _git(repo, "rev-parse", "HEAD")
    assert provenance.git_commit(package) == {"commit": head, "dirty": False}
    (package / "__init__.py").write_text('__version__ = "9.9"\nX = 1\n')
    assert provenance.git_commit(package) == {"commit": head, "dirty": True}


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_a_copy_that_is_not_tracked_has_an_unknown_commit(tmp_path):
    repo = tmp_path / "repo"
    (repo / "site-packages" / "seraudit").mkdir(parents=True)
    (repo / "site-packages" / "seraudit" / "__init__.py").write_text("")
    (repo / "README").write_text("another project")
    _git(repo, "init", "-q")  # an installed copy lying inside some other, unrelated checkout with a commit
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "add", "README")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "other")
    assert provenance.git_commit(repo / "site-packages" / "seraudit")["commit"] == "unknown"
    (tmp_path / "plain").mkdir()
    assert provenance.git_commit(tmp_path / "plain") == {"commit": "unknown", "dirty": None}


def test_the_software_record_names_the_version():
    record = provenance.software()
    assert record["seraudit"] == provenance.version() and set(record) == {"seraudit", "commit", "dirty"}
