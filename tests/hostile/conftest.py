"""Fixtures of the hostile-input suite: the cases (built once), one tiny run, and the real command line in-process.

The run holds one untrained YAMNet model whose head reads the second block: it is
built and saved in a second, not trained, and every command reads it exactly like
a trained run. The one real training (`trained_run`) is on six synthetic clips.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from cases import LIMIT_S, RATE, broken_cases, good_cases, noise_cases, path_cases, voice, _wav  # noqa: E402

LABELS = ["neutral", "happy", "sad"]
HANG_S = 120  # a command that takes longer is taken to hang (a pipe opened, a lock never freed)


@pytest.fixture(autouse=True)
def no_hang():
    """Fail a test that hangs instead of waiting forever (a named pipe opened by mistake blocks for good)."""

    def hung(signum, frame):
        raise TimeoutError(f"the command did not finish within {HANG_S} s: it hangs")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(HANG_S)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="session")
def case_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hostile-cases")


@pytest.fixture(scope="session")
def cases(case_root):
    """Every case, by kind: good (a result), noise (a result and the warning), broken and paths (an error)."""
    return {
        "good": good_cases(case_root / "good"),
        "noise": noise_cases(case_root / "noise"),
        "broken": broken_cases(case_root / "bad", LIMIT_S),
        "paths": path_cases(case_root / "paths"),
    }


@pytest.fixture(scope="session")
def long_clip(case_root) -> Path:
    """A clip just under the suite's --max-duration."""
    import numpy as np

    return _wav(case_root / "long" / "just_under.wav", np.tile(voice(1.0), int(LIMIT_S) - 1)[: int((LIMIT_S - 0.5) * RATE)])


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, untrained_yamnet_run):
    return untrained_yamnet_run(tmp_path_factory.mktemp("runs") / "tiny", LABELS)


@pytest.fixture()
def seraudit(capsys):
    """`seraudit(*argv) -> (exit status, stdout, stderr)`: the real command line, in this process."""
    from seraudit.cli import main

    def run(*argv: str):
        capsys.readouterr()
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        assert "Traceback" not in err, err
        return code, out, err

    return run
