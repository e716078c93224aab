"""The openSMILE worker must never see TensorFlow: openSMILE aborts a process that imported it first."""

from __future__ import annotations

import ast
import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from seraudit.preprocessing import egemaps_worker

REPO_ROOT = Path(__file__).resolve().parents[2]
ALLOWED_PARTS = {"seraudit.core": REPO_ROOT / "seraudit" / "core", "seraudit.preprocessing": REPO_ROOT / "preprocessing"}
THIRD_PARTY = {"numpy", "pandas", "opensmile", "soundfile", "soxr", "onnxruntime"}  # onnxruntime: the speech check (Silero VAD)


def test_the_worker_imports_neither_tensorflow_nor_keras():
    # A fresh interpreter, as the worker is started: import the module, then what the worker loads to serve.
    code = (
        "import json, sys\n"
        "from seraudit.preprocessing import egemaps_worker\n"
        "after_import = [m for m in ('tensorflow', 'keras') if m in sys.modules]\n"
        "egemaps_worker._open_smile()\n"
        "after_start = [m for m in ('tensorflow', 'keras') if m in sys.modules]\n"
        "print(json.dumps([after_import, after_start]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [[], []]


def _module_file(module: str) -> Path | None:
    """The file of a core or preprocessing module (None for anything else, or a name that is no module)."""
    for part, folder in ALLOWED_PARTS.items():
        if module == part or module.startswith(part + "."):
            rel = module.split(".")[2:]
            candidates = [folder.joinpath(*rel).with_suffix(".py")] if rel else []
            return next((f for f in [*candidates, folder.joinpath(*rel, "__init__.py")] if f.is_file()), None)
    return None


def _imports(path: Path) -> set[str]:
    """Modules `path` imports anywhere (``from package import module`` counts the module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names if _module_file(f"{node.module}.{a.name}"))
    return found


def test_the_worker_reaches_only_core_preprocessing_and_its_audio_libraries():
    """Every project module the worker imports, and those in turn, is in core or preprocessing; every other
    import is the standard library or numpy/pandas/opensmile/soundfile/soxr."""
    seen, todo, outside = set(), ["seraudit.preprocessing.egemaps_worker"], []
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        for name in _imports(_module_file(module)):
            top = name.split(".")[0]
            if name == "seraudit":
                continue  # the package's own __init__: its version only
            if top == "seraudit":
                if _module_file(name) is None:
                    outside.append(f"{module} imports {name}")
                else:  # importing a module runs its packages' __init__ too
                    parts = name.split(".")
                    todo += [".".join(parts[:n]) for n in range(2, len(parts) + 1)]
            elif top not in THIRD_PARTY | set(sys.stdlib_module_names) | {"__future__"}:
                outside.append(f"{module} imports {name}")
    assert {"seraudit.preprocessing.audio", "seraudit.preprocessing", "seraudit.core"} <= seen  # packages and function-level imports count
    assert outside == []


def test_messages_survive_the_pipe_and_a_cut_pipe_is_end_of_input():
    stream = io.BytesIO()
    frame = pd.DataFrame({"loudness_sma3_amean": [0.5]})
    egemaps_worker.send(stream, (0, "a.wav", frame, None))
    egemaps_worker.send(stream, None)
    whole = stream.getvalue()
    stream.seek(0)
    index, key, received, error = egemaps_worker.receive(stream)
    assert (index, key, error) == (0, "a.wav", None)
    pd.testing.assert_frame_equal(received, frame)
    assert egemaps_worker.receive(stream) is None
    with pytest.raises(EOFError):
        egemaps_worker.receive(stream)
    with pytest.raises(EOFError):  # a worker that died mid-message
        egemaps_worker.receive(io.BytesIO(whole[:12]))
