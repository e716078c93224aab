"""The package's import direction: core -> preprocessing -> ensemble -> xai -> reports -> api -> cli, never back, no cycle.

Every `import` in every module counts, including those inside functions: a
function-level import still ties the two modules together. The package root
(`seraudit/__init__.py`) may import the API and nothing else, and only inside a
function (its module `__getattr__`), so `import seraudit` stays light.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

# Folder of each part of the `seraudit` package (the mapping in pyproject.toml) and its layer, lowest first.
PART_FOLDERS = {
    "seraudit.core": "seraudit/core",
    "seraudit.preprocessing": "preprocessing",
    "seraudit.ensemble": "ensemble",
    "seraudit.xai": "xai",
    "seraudit.reports": "reports",
    "seraudit.api": "seraudit/api",
    "seraudit.cli": "seraudit/cli",
}
ROOT_MAY_IMPORT = "seraudit.api"  # lazily: the root's `__getattr__` loads it on first use of an API name
LAYERS = list(PART_FOLDERS)


def module_files(root: Path) -> dict[str, Path]:
    """Every module of the package, by dotted name (the top-level `seraudit/__init__.py` included)."""
    modules = {"seraudit": root / "seraudit" / "__init__.py"}
    for part, folder in PART_FOLDERS.items():
        for path in sorted((root / folder).rglob("*.py")):
            rel = path.relative_to(root / folder).with_suffix("")
            names = [p for p in rel.parts if p != "__init__"]
            modules[".".join([part, *names])] = path
    return modules


def imported_modules(path: Path, module: str) -> set[str]:
    """Project modules that `path` imports anywhere in its body (absolute and relative imports)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    return imported_modules_of_tree(tree, module if path.name == "__init__.py" else module.rpartition(".")[0])


def imported_modules_of_tree(tree: ast.AST, package: str) -> set[str]:
    """Project modules imported anywhere in `tree`; relative imports resolve against `package`."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{a.name}" for a in node.names)
    return {m for m in found if m == "seraudit" or m.startswith("seraudit.")}


def layer_of(module: str) -> int | None:
    for i, part in enumerate(LAYERS):
        if module == part or module.startswith(part + "."):
            return i
    return None


def import_graph(root: Path) -> dict[str, set[str]]:
    modules = module_files(root)
    return {m: {t for t in imported_modules(p, m) if t in modules and t != m} for m, p in modules.items()}


def eager_imports(path: Path) -> set[str]:
    """Project modules a file imports at module level (run by `import`), as opposed to inside a function."""
    tree = ast.parse(path.read_text(), filename=str(path))
    top = ast.Module(body=[n for n in tree.body if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))],
                     type_ignores=[])
    return imported_modules_of_tree(top, "seraudit" if path.name == "__init__.py" else "")


def layering_violations(root: Path) -> list[str]:
    """'a imports b' for every import from a lower layer into a higher one (or a forbidden one into the package root)."""
    problems = []
    eager_root = eager_imports(root / "seraudit" / "__init__.py")
    for module, targets in sorted(import_graph(root).items()):
        own = layer_of(module)
        for target in sorted(targets):
            theirs = layer_of(target)
            if module == "seraudit" and target != "seraudit":
                if target != ROOT_MAY_IMPORT:
                    problems.append(f"seraudit/__init__.py imports {target}: the package root may only load {ROOT_MAY_IMPORT}")
                elif target in eager_root:
                    problems.append(f"seraudit/__init__.py imports {target} on import: load it lazily, in __getattr__")
            elif own is not None and (theirs is None or theirs > own):
                problems.append(f"{module} ({LAYERS[own]}) imports {target} (a higher layer)")
    return problems


def import_cycles(root: Path) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each a cycle of imports."""
    graph = import_graph(root)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_no_module_imports_a_higher_layer():
    assert layering_violations(REPO_ROOT) == []


def test_no_import_cycle():
    assert import_cycles(REPO_ROOT) == []


def _copy_tree(dest: Path) -> Path:
    for folder in ["seraudit", *PART_FOLDERS.values()]:
        for path in (REPO_ROOT / folder).rglob("*.py"):
            target = dest / path.relative_to(REPO_ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(path.read_text())
    return dest


def test_a_planted_back_import_is_named(tmp_path):
    root = _copy_tree(tmp_path)
    planted = root / "preprocessing" / "audio.py"
    planted.write_text(planted.read_text() + "\n\ndef _late():\n    from seraudit.xai.attribution import Attribution\n")
    problems = layering_violations(root)
    assert problems == ["seraudit.preprocessing.audio (seraudit.preprocessing) imports seraudit.xai.attribution (a higher layer)"]


def test_a_planted_relative_back_import_is_named(tmp_path):
    root = _copy_tree(tmp_path)
    planted = root / "seraudit" / "core" / "io.py"
    planted.write_text(planted.read_text() + "\nfrom ..cli import main\n")
    assert any(p.startswith("seraudit.core.io (seraudit.core) imports seraudit.cli") for p in layering_violations(root))


def test_a_planted_import_of_the_api_from_the_reports_is_named(tmp_path):
    root = _copy_tree(tmp_path)
    planted = root / "reports" / "build.py"
    planted.write_text(planted.read_text() + "\n\ndef _late():\n    from seraudit.api import open_run\n")
    assert layering_violations(root) == ["seraudit.reports.build (seraudit.reports) imports seraudit.api (a higher layer)"]


def test_the_package_root_loads_the_api_lazily_and_nothing_else(tmp_path):
    """An API import at the top of `seraudit/__init__.py`, or a lazy import of another part, is named."""
    root = _copy_tree(tmp_path)
    package = root / "seraudit" / "__init__.py"
    lazy = package.read_text()
    assert "from seraudit import api" in lazy  # what the root does today, inside __getattr__
    package.write_text("from seraudit.api import train\n" + lazy)
    assert layering_violations(root) == ["seraudit/__init__.py imports seraudit.api on import: load it lazily, in __getattr__"]
    package.write_text(lazy + "\n\ndef _late():\n    from seraudit.ensemble.run import Run\n")
    assert layering_violations(root) == [
        "seraudit/__init__.py imports seraudit.ensemble.run: the package root may only load seraudit.api"]


def test_a_planted_cycle_is_found(tmp_path):
    root = _copy_tree(tmp_path)
    (root / "ensemble" / "loop_a.py").write_text("from seraudit.ensemble import loop_b\n")
    (root / "ensemble" / "loop_b.py").write_text("def f():\n    from seraudit.ensemble.loop_a import x\n")
    assert ["seraudit.ensemble.loop_a", "seraudit.ensemble.loop_b"] in import_cycles(root)


def test_the_bottom_layer_loads_without_tensorflow():
    """The openSMILE worker may import the bottom layer and preprocessing: neither may pull TensorFlow in."""
    code = (
        "import sys, seraudit.core.io, seraudit.core.errors, seraudit.core.paths, seraudit.core.constants, "
        "seraudit.preprocessing.audio; "
        "bad = sorted(m for m in ('tensorflow', 'keras') if m in sys.modules); print(bad); sys.exit(bool(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """`pip wheel` of a copy of the repository (the build leaves no build/ folder in the checkout)."""
    import shutil

    tmp_path = tmp_path_factory.mktemp("wheel")
    source = tmp_path / "source"
    shutil.copytree(REPO_ROOT, source, ignore=shutil.ignore_patterns(".git", ".venv", "runs", "build", "*.egg-info", "__pycache__"))
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(source)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (built,) = tmp_path.glob("seraudit-*.whl")
    return built


@pytest.mark.slow
def test_the_wheel_holds_one_top_level_name(wheel):
    """`pip wheel` of the repository gives one package, `seraudit`, with the report templates inside."""
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"seraudit"}
    for expected in [
        "seraudit/core/errors.py",
        "seraudit/preprocessing/audio.py",
        "seraudit/ensemble/backbones/yamnet.py",
        "seraudit/xai/explainers/gradcam.py",
        "seraudit/reports/templates/index.html",
        "seraudit/reports/templates/style.css",
        "seraudit/cli/commands/train.py",
        "seraudit/api/main_job.py",
    ]:
        assert expected in names
    assert not any("/tests/" in n or n.startswith("tests/") for n in names)


@pytest.mark.slow
def test_the_installed_wheel_runs_with_its_templates(wheel, tmp_path):
    """`pip install .` (not editable) into a fresh environment: `seraudit --version` works, templates are installed.

    The environment gets the main dependencies through a .pth line (they are large and
    already installed); seraudit itself comes only from the wheel.
    """
    import importlib.util
    import venv

    env = tmp_path / "env"
    venv.EnvBuilder(with_pip=False).create(env)
    python = env / "bin" / "python"
    site_dir = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                   capture_output=True, text=True, check=True).stdout.strip())
    deps = Path(importlib.util.find_spec("jinja2").origin).parents[1]  # where the main dependencies live
    (site_dir / "zz_dependencies.pth").write_text(f"{deps}\n")
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "--quiet", str(wheel)],
        capture_output=True, text=True,
    )
    assert installed.returncode == 0, installed.stderr[-2000:]
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}

    version = subprocess.run([str(env / "bin" / "seraudit"), "--version"], capture_output=True, text=True, env=clean,
                             cwd=tmp_path)
    where = subprocess.run(
        [str(python), "-c", "import seraudit, seraudit.reports.build as b; "
         "print(seraudit.__file__); print(b.make_environment().get_template('index.html').filename)"],
        capture_output=True, text=True, env=clean, cwd=tmp_path,
    )

    assert version.returncode == 0, version.stderr
    assert re.fullmatch(r"seraudit 0\.1\.0 \(TensorFlow \S+, Keras \S+, openSMILE \S+\)\n", version.stdout)
    assert "not installed" not in version.stdout
    assert where.returncode == 0, where.stderr
    package, template = (Path(line) for line in where.stdout.split())
    assert package.is_relative_to(site_dir) and Path(template).is_relative_to(site_dir / "seraudit" / "reports")
    assert (site_dir / "seraudit" / "reports" / "templates" / "style.css").is_file()


def test_the_package_dependencies_are_the_pins_of_requirements_txt():
    """`pip install .` pulls the same versions `make setup` installs (no second, drifting list)."""
    import tomllib

    declared = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pinned = {line.split("==")[0].lower(): line.strip() for line in (REPO_ROOT / "requirements.txt").read_text().splitlines()
              if "==" in line and not line.startswith("#")}
    assert declared and all("==" in d for d in declared)
    assert [d for d in declared if pinned.get(d.split("==")[0].lower()) != d] == []
    assert {"tensorflow", "keras", "opensmile", "jinja2"} <= {d.split("==")[0].lower() for d in declared}
