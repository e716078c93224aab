"""An interrupted write never leaves a half-written file or folder, and a bad JSON file names itself and its fix."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from seraudit.core.errors import RunError, SerauditError
from seraudit.core.io import atomic_directory, atomic_path, read_json, write_json, write_text


class Interrupted(Exception):
    pass


def test_a_failed_write_leaves_the_old_file_intact(tmp_path):
    target = tmp_path / "summary.json"
    target.write_text("old")
    with pytest.raises(Interrupted):
        with atomic_path(target) as tmp:
            tmp.write_text("half-writ")
            raise Interrupted
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]  # no .part left behind


def test_a_successful_write_replaces_the_file_and_creates_its_folder(tmp_path):
    target = tmp_path / "new" / "folder" / "notes.txt"
    write_text(target, "bonjour ☺")
    assert target.read_text(encoding="utf-8") == "bonjour ☺"
    assert sorted(p.name for p in target.parent.iterdir()) == ["notes.txt"]


def test_a_directory_is_replaced_only_when_the_block_succeeds(tmp_path):
    target = tmp_path / "audit"
    target.mkdir()
    (target / "index.json").write_text("old")
    with pytest.raises(Interrupted):
        with atomic_directory(target) as tmp:
            (tmp / "index.json").write_text("new")
            raise Interrupted
    assert [p.name for p in target.iterdir()] == ["index.json"] and (target / "index.json").read_text() == "old"

    with atomic_directory(target) as tmp:
        (tmp / "clips").mkdir()
        (tmp / "clips" / "a.json").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["clips"]  # the old content is gone, not merged
    assert (target / "clips" / "a.json").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit"]  # no .part or .old folder left behind


def test_write_json_converts_numpy_and_paths(tmp_path):
    path = tmp_path / "out.json"
    write_json(path, {"b": np.float32(0.5), "a": np.arange(3), "n": np.int64(7), "flag": np.bool_(True), "where": tmp_path})
    text = path.read_text()
    assert json.loads(text) == {"a": [0, 1, 2], "b": 0.5, "flag": True, "n": 7, "where": str(tmp_path)}
    assert text.index('"a"') < text.index('"b"') and text.endswith("}\n")  # sorted keys, stable diffs


@pytest.mark.parametrize("bad", [math.nan, np.float64("nan"), np.array([1.0, np.inf])])
def test_write_json_refuses_nan_and_keeps_the_old_file(tmp_path, bad):
    path = tmp_path / "out.json"
    write_json(path, {"uar": 41.5})
    with pytest.raises(ValueError):
        write_json(path, {"uar": bad})
    assert json.loads(path.read_text()) == {"uar": 41.5}


def test_write_json_refuses_objects_it_cannot_represent(tmp_path):
    with pytest.raises(TypeError, match="set is not JSON serialisable"):
        write_json(tmp_path / "out.json", {"labels": {"happy"}})
    assert not list(tmp_path.iterdir())


def test_read_json_names_a_missing_file_and_the_fix(tmp_path):
    path = tmp_path / "run" / "summary.json"
    with pytest.raises(RunError) as info:
        read_json(path, "run summary", "re-train with `seraudit train`", error=RunError)
    assert str(info.value) == f"run summary {path} does not exist; re-train with `seraudit train`"


def test_read_json_names_a_corrupt_file_and_the_fix(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text('{"uar": 41.')
    with pytest.raises(SerauditError, match=rf"^file {path} is not readable JSON \(.*\); re-run the audit$"):
        read_json(path, fix="re-run the audit")
    path.write_text('{"uar": 41.5}')
    assert read_json(path) == {"uar": 41.5}
