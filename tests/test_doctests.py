"""Every docstring example of the package runs and shows what it says, from any working directory.

The modules are found the way a reader finds them: every package module whose source holds a
``>>>`` prompt (the folders of pyproject.toml's package-dir mapping). Each runs in an empty
temporary directory, so an example that only works from the repository root fails here.
"""

from __future__ import annotations

import doctest
import importlib
import io
import tomllib
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def package_folders() -> dict[str, Path]:
    """Dotted package name -> its folder, as pyproject.toml maps them."""
    mapping = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    return {name: REPO_ROOT / folder for name, folder in mapping.items()}


def modules_with_examples() -> list[str]:
    """Every package module whose source holds a ``>>>`` prompt, by dotted name."""
    found = set()
    for package, folder in package_folders().items():
        for path in folder.rglob("*.py"):
            if ">>>" not in path.read_text(encoding="utf-8"):
                continue
            parts = [p for p in path.relative_to(folder).with_suffix("").parts if p != "__init__"]
            found.add(".".join([package, *parts]))
    return sorted(found)


MODULES = modules_with_examples()


def test_the_modules_with_examples_are_found():
    assert {"seraudit.preprocessing.gds", "seraudit.preprocessing.frontend", "seraudit.ensemble.weights.official"} <= set(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples_run(module, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tests = doctest.DocTestFinder().find(importlib.import_module(module))
    assert sum(len(t.examples) for t in tests) > 0, f"{module} holds '>>>' but doctest finds no example in it"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    report = io.StringIO()
    for test in tests:
        runner.run(test, out=report.write)
    assert runner.failures == 0, report.getvalue()
