"""Downloads and caches go where the user says: SERAUDIT_CACHE_DIR, else XDG_CACHE_HOME, else ~/.cache."""

from __future__ import annotations

from pathlib import Path

from seraudit.core.paths import cache_root, cache_subdir


def test_seraudit_cache_dir_wins_over_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("SERAUDIT_CACHE_DIR", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "mine"
    assert cache_subdir("models") == tmp_path / "mine" / "models"


def test_seraudit_cache_dir_expands_the_home_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("SERAUDIT_CACHE_DIR", "~/seraudit-cache")
    assert cache_root() == tmp_path / "seraudit-cache"


def test_xdg_cache_home_is_used_when_seraudit_cache_dir_is_unset_or_empty(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("SERAUDIT_CACHE_DIR", raising=False)
    assert cache_root() == tmp_path / "xdg" / "seraudit"
    monkeypatch.setenv("SERAUDIT_CACHE_DIR", "")
    assert cache_subdir("embeddings") == tmp_path / "xdg" / "seraudit" / "embeddings"


def test_home_cache_is_the_last_resort(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("SERAUDIT_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", "")
    assert cache_root() == tmp_path / ".cache" / "seraudit"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_root() == Path(tmp_path) / ".cache" / "seraudit"
