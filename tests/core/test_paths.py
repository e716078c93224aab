"""Where SERAudit looks for the shared corpora and the weights folder when the user names none."""

from pathlib import Path

from seraudit.core.paths import default_models_dir, shared_dir

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
