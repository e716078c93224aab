"""`--engine local|ray` and its flags: the same in every command that computes clips, and Ray loaded only when asked for."""

from __future__ import annotations

import subprocess
import sys

import pytest

from seraudit.cli import build_parser, main

ENGINE_COMMANDS = {
    "embed": ["embed", "a.wav", "--out", "e.npz"],
    "predict": ["predict", "RUN", "a.wav"],
    "explain": ["explain", "RUN", "a.wav", "--out", "o"],
    "audit-all": ["audit-all", "--corpus", "ravdess", "--data", "d", "--out", "o"],
}


@pytest.mark.parametrize("command", ENGINE_COMMANDS)
def test_each_clip_command_takes_the_engine_flags_with_local_as_the_default(command):
    argv = ENGINE_COMMANDS[command]
    assert build_parser().parse_args(argv).engine == "local"
    args = build_parser().parse_args([*argv, "--engine", "ray", "--ray-address", "auto", "--workers", "3",
                                      "--cpus-per-worker", "2", "--gpus-per-worker", "0.5"])
    assert (args.engine, args.ray_address, args.workers, args.cpus_per_worker, args.gpus_per_worker) == ("ray", "auto", 3, 2, 0.5)


def test_a_worker_count_below_one_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args([*ENGINE_COMMANDS["explain"], "--engine", "ray", "--workers", "0"])
    assert "--workers: expected a whole number, 1 or more, got '0'" in capsys.readouterr().err


def test_ray_flags_without_the_ray_engine_stop_with_the_fix(tmp_path, capsys):
    clip = tmp_path / "a.wav"
    clip.write_bytes(b"")
    assert main(["explain", str(tmp_path / "run"), str(clip), "--out", str(tmp_path / "o"), "--workers", "3"]) == 2
    assert "--workers only apply to --engine ray; add --engine ray or drop them" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_the_command_line_and_the_engine_module_do_not_import_ray_until_a_ray_run_starts():
    code = ("import sys; from seraudit.cli import build_parser; build_parser(); "
            "import seraudit.xai.engines.ray_engine, seraudit.xai.audit.runner; print('ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
