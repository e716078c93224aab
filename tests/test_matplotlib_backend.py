"""Importing SERAudit leaves matplotlib's backend as the user chose it (a notebook keeps its inline plots).

A module that calls ``matplotlib.use(...)`` at import switches every later figure of
the session to that backend. The check imports every module of the package in a
fresh interpreter that chose another backend first, so a module this session never
imported still counts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

# Runs in a fresh interpreter: sets a backend no SERAudit module would pick, imports every module
# (the packages listed in pyproject.toml and everything found under them; `__main__` runs the CLI,
# so it is skipped), writes two PNGs, and prints the modules it imported and the backend in force after
# importing and after drawing.
IMPORT_EVERYTHING = r"""
import importlib, json, pkgutil, sys, tomllib
import matplotlib

matplotlib.use(sys.argv[1])

def fail(name):
    raise ImportError(f"cannot import {name}")

packages = tomllib.load(open("pyproject.toml", "rb"))["tool"]["setuptools"]["packages"]
names = set(packages)
for package in packages:
    module = importlib.import_module(package)
    for info in pkgutil.walk_packages(module.__path__, prefix=package + ".", onerror=fail):
        if info.name.rsplit(".", 1)[-1] != "__main__":
            names.add(info.name)
for name in sorted(names):
    importlib.import_module(name)
after_import = matplotlib.get_backend()

# the PNG writers draw under this backend too, and leave it in force
from seraudit.reports.plots import confusion_matrix_png
from seraudit.xai.render.image import plot_faithfulness_curves

out = sys.argv[2]
confusion_matrix_png(["a", "b"], [[3, 1], [0, 4]], "model", f"{out}/cm.png")
plot_faithfulness_curves({"m": {"fractions": [0, 1], "deletion": [1, 0], "insertion": [0, 1], "random_deletion": [1, 0],
                               "random_insertion": [0, 1]}}, f"{out}/curves.png", model="yamnet")
print(json.dumps({"modules": sorted(names), "after_import": after_import, "after_drawing": matplotlib.get_backend()}))
"""


def test_importing_every_module_and_drawing_leave_the_backend_alone(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERYTHING, "svg", str(tmp_path)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    imported = json.loads(done.stdout.splitlines()[-1])
    # the walk reached the figure modules and the command line, not just the top-level folders
    assert {"seraudit.xai.render.image", "seraudit.reports.plots", "seraudit.cli.commands.report"} <= set(imported["modules"])
    assert imported["after_import"] == "svg"
    assert imported["after_drawing"] == "svg"
    for png in ("cm.png", "curves.png"):  # written as PNG whatever the backend
        assert (tmp_path / png).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
