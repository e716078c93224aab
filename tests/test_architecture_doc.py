"""docs/ARCHITECTURE.md names every sub-package of the code, so a newcomer's map matches the tree."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PARTS = ("ensemble", "xai", "reports", "seraudit/api")


def sub_packages(root: Path) -> list[str]:
    """Every folder under the layered parts that holds an `__init__.py`, as `part/sub/`."""
    found = []
    for part in PARTS:
        for init in sorted((root / part).rglob("__init__.py")):
            folder = init.parent.relative_to(root).as_posix()
            if "__pycache__" not in folder and "templates" not in folder:
                found.append(folder + "/")
    return found


def undocumented(root: Path) -> list[str]:
    text = (root / "docs" / "ARCHITECTURE.md").read_text()
    return [folder for folder in sub_packages(root) if f"`{folder}`" not in text]


def test_every_sub_package_is_on_the_package_map():
    assert len(sub_packages(REPO_ROOT)) >= 17
    assert undocumented(REPO_ROOT) == []


def test_a_new_sub_package_is_named_until_documented(tmp_path):
    for part in PARTS:
        (tmp_path / part).mkdir(parents=True)
        (tmp_path / part / "__init__.py").write_text("")
    (tmp_path / "xai" / "newthing").mkdir()
    (tmp_path / "xai" / "newthing" / "__init__.py").write_text("")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "ARCHITECTURE.md").write_text("`ensemble/` `xai/` `reports/` `seraudit/api/`")
    assert undocumented(tmp_path) == ["xai/newthing/"]
