"""A quiet start: TensorFlow's C++ start-up lines are hidden by default, `--verbose` shows them, Python warnings stay."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from seraudit.cli.native_logs import _Filter, is_native_noise

# Lines TensorFlow 2.21 prints on a CPU-only machine before the first op (copied from a real start).
NOISE = [
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    b"I0000 00:00:1796181119.446985    7906 port.cc:153] oneDNN custom operations are on. You may see ...",
    b"I0000 00:00:1796181119.447314    7906 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.",
    b"I0000 00:00:1796181119.502318    7906 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use ...",
    b"To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow with ...",
    b"E0000 00:00:1796181131.180796    8038 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: ...",
    b"E0000 00:00:1796181131.180796    8038 cuda_dnn.cc:8310] Unable to register cuDNN factory: Attempting to ...",
]
KEPT = [
    b"/work/x.py:12: UserWarning: eGeMAPS cache c.parquet is unreadable; it will be rebuilt",
    b"Traceback (most recent call last):",
    b"E0000 00:00:1796181131.180796    8038 op_kernel.cc:1830] OP_REQUIRES failed at conv_ops.cc: RESOURCE_EXHAUSTED",
    b"F0000 00:00:1796181131.180796    8038 logging.cc:62] Check failed: shape",
    b"E0000 00:00:1796181131.180796    8038 cuda_dnn.cc:522] Could not create cudnn handle: CUDNN_STATUS_INTERNAL_ERROR",
    b"seraudit train: error: corpus folder not found",
]


@pytest.mark.parametrize("line", NOISE)
def test_tensorflow_start_up_lines_are_noise(line):
    assert is_native_noise(line)


@pytest.mark.parametrize("line", KEPT)
def test_warnings_errors_and_other_native_errors_are_kept(line):
    assert not is_native_noise(line)


def test_the_filter_forwards_progress_bars_at_once_and_drops_noise_split_across_reads(tmp_path):
    out = tmp_path / "stderr"
    with open(out, "wb") as handle:
        filt = _Filter(read_fd=-1, out_fd=handle.fileno())
        filt.feed(b"\rtraining:  10%|#  | 1/10")
        assert out.read_bytes() == b"\rtraining:  10%|#  | 1/10"  # no newline yet, shown anyway
        filt.feed(b"\n" + NOISE[1][:20])
        filt.feed(NOISE[1][20:] + b"\nkept line\n")
        filt.flush()
    assert out.read_bytes() == b"\rtraining:  10%|#  | 1/10\nkept line\n"


WARN_AFTER_TF = """
import sys, warnings
import seraudit.cli.commands.embed as embed
original = embed.run
def run(args):
    status = original(args)  # TensorFlow is imported and has printed its start-up lines by now
    warnings.warn("a warning that matters")
    return status
embed.run = run
from seraudit.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _embed(tmp_path, speech_wav, models_dir, *front: str, code: str | None = None) -> subprocess.CompletedProcess:
    args = [*front, "embed", str(speech_wav), "--backbone", "yamnet", "--models-dir", str(models_dir),
            "--no-download", "--out", str(tmp_path / "e.npz")]
    command = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "seraudit.cli", *args]
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.slow
def test_a_real_command_starts_quietly_but_python_warnings_still_show(tmp_path, speech_wav, models_dir):
    done = _embed(tmp_path, speech_wav, models_dir, code=WARN_AFTER_TF)

    assert done.returncode == 0, done.stderr
    assert "UserWarning: a warning that matters" in done.stderr
    for marker in ("absl::InitializeLog", "cuInit", "cpu_feature_guard", "cudart_stub", "port.cc"):
        assert marker not in done.stderr


@pytest.mark.slow
def test_verbose_shows_the_start_up_lines(tmp_path, speech_wav, models_dir):
    done = _embed(tmp_path, speech_wav, models_dir, "--verbose")

    assert done.returncode == 0, done.stderr
    assert any(is_native_noise(line.encode()) for line in done.stderr.splitlines())


def test_version_and_help_start_quietly_too():
    """Parsing the command line imports TensorFlow; `--version` and `--help` exit there, and must be quiet too."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    for flag in ("--version", "--help"):
        done = subprocess.run([sys.executable, "-m", "seraudit.cli", flag], capture_output=True, text=True, env=env,
                              timeout=120)
        assert done.returncode == 0, done.stderr
        assert "seraudit" in done.stdout
        assert not any(is_native_noise(line.encode()) for line in done.stderr.splitlines()), done.stderr
