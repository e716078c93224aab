"""Where SERAudit keeps caches (SERAUDIT_CACHE_DIR, else XDG_CACHE_HOME, else ~/.cache) and finds the shared corpora and weights."""

from __future__ import annotations

from pathlib import Path

from seraudit.core.paths import cache_root, cache_subdir, default_models_dir, shared_dir


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


REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_shared_folder_is_beside_the_repository_unless_seraudit_shared_says_otherwise(monkeypatch, tmp_path):
    monkeypatch.delenv("SERAUDIT_SHARED", raising=False)
    assert shared_dir() == REPO_ROOT.parent / "shared"
    monkeypatch.setenv("SERAUDIT_SHARED", str(tmp_path))
    assert shared_dir() == tmp_path
    monkeypatch.setenv("SERAUDIT_SHARED", "")
    assert shared_dir() == REPO_ROOT.parent / "shared"


def test_the_models_folder_comes_from_seraudit_models_dir_and_is_never_guessed(monkeypatch, tmp_path):
    monkeypatch.delenv("SERAUDIT_MODELS_DIR", raising=False)
    assert default_models_dir() is None
    monkeypatch.setenv("SERAUDIT_MODELS_DIR", "")
    assert default_models_dir() is None
    monkeypatch.setenv("SERAUDIT_MODELS_DIR", str(tmp_path))
    assert default_models_dir() == str(tmp_path)
