"""`--engine ray`: the same audit folder as the local engine, a worker that dies is replaced, a rerun resumes;
`predict` and `embed` assemble the same records and arrays.

The first Ray run starts its own local instance with 2 workers, as a user's
would; the later ones join one instance the module starts (as `--ray-address`
joins a cluster), to start Ray only twice.
The run is the smallest there is (an untrained YAMNet read at its second block),
the clips are three 2-s EmoDB clips and one file that is not audio, and one
method (Grad-CAM) is explained.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from seraudit.cli import main
from seraudit.xai.engines.ray_engine import FAULT_MARKER_ENV

LABELS = ["neutral", "happy", "sad"]
TIMING_KEYS = {"seconds", "created"}  # wall-clock times (a computation's, the file's): the fields engines may differ in
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def yamnet_run(tmp_path_factory, untrained_yamnet_run):
    return untrained_yamnet_run(tmp_path_factory.mktemp("runs") / "yamnet", LABELS)


@pytest.fixture(scope="module")
def clips(emodb_dir, tmp_path_factory) -> list[str]:
    bad = tmp_path_factory.mktemp("bad") / "not-audio.wav"
    bad.write_bytes(b"this is not a wav file")
    good = sorted(emodb_dir.glob("*.flac"))[:3]
    return [str(good[0]), str(bad), str(good[1]), str(good[2])]


def explain(run, clips, out, *engine) -> int:
    return main(["explain", str(run), *clips, "--models", "yamnet", "--methods", "gradcam", "--out", str(out),
                 "--quiet", *engine])


@pytest.fixture(scope="module")
def local_audit(yamnet_run, clips, tmp_path_factory) -> tuple[Path, int]:
    """The local engine's audit folder and exit status (the Ray runs must match both)."""
    out = tmp_path_factory.mktemp("local") / "audit"
    return out, explain(yamnet_run, clips, out)


@pytest.fixture(scope="module")
def ray_instance():
    """A running local Ray instance with 2 CPUs; the engine joins it and leaves it running."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=256 * 2**20, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def crashed_audit(yamnet_run, clips, tmp_path_factory, ray_instance) -> tuple[Path, Path, int]:
    """A Ray run in which the first worker to start a clip dies (once, across the pool)."""
    base = tmp_path_factory.mktemp("crash")
    marker, out = base / "worker-died", base / "audit"
    os.environ[FAULT_MARKER_ENV] = str(marker)
    try:
        code = explain(yamnet_run, clips, out, "--engine", "ray", "--workers", "2")
    finally:
        del os.environ[FAULT_MARKER_ENV]
    return out, marker, code


def files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def assert_same(a, b, where="") -> None:
    """Equal JSON values: floats to 1e-5, timings ignored."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), where
        for key in a:
            if key not in TIMING_KEYS:
                assert_same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, abs=1e-5), where
    else:
        assert a == b, where


def assert_same_audit(local: Path, other: Path) -> None:
    assert files(other) == files(local)
    for name in files(local):
        if name.endswith(".json"):
            assert_same(json.loads((local / name).read_text()), json.loads((other / name).read_text()), name)
        elif name.endswith(".npz"):
            with np.load(local / name) as x, np.load(other / name) as y:
                assert x.files == y.files
                for key in x.files:
                    if x[key].dtype.kind == "f" and key not in TIMING_KEYS:
                        np.testing.assert_allclose(y[key], x[key], atol=1e-5, err_msg=f"{name}:{key}")
                    elif x[key].dtype.kind == "U" and x[key].ndim == 0:  # the map's metadata, as JSON
                        assert_same(json.loads(str(x[key])), json.loads(str(y[key])), f"{name}:{key}")
                    else:
                        assert np.array_equal(x[key], y[key]), f"{name}:{key}"


def test_explain_on_ray_with_2_workers_writes_the_same_audit_as_the_local_engine(yamnet_run, clips, local_audit, tmp_path, capsys):
    local, local_code = local_audit
    out = tmp_path / "audit"
    capsys.readouterr()
    assert explain(yamnet_run, clips, out, "--engine", "ray", "--workers", "2") == local_code
    err = capsys.readouterr().err
    assert "ray engine: 4 clip(s) in" in err and "on 2 worker(s), peak memory per worker" in err
    index = json.loads((out / "audit.json").read_text())
    assert [c["path"] for c in index["clips"]] == [clips[0], clips[2], clips[3]]
    assert [f["clip"] for f in index["failures"]] == [clips[1]] and "not-audio.wav" in index["failures"][0]["error"]
    assert_same_audit(local, out)
    assert "ray" not in sys.modules or not __import__("ray").is_initialized()  # the local instance was stopped


def test_a_worker_that_dies_on_a_clip_is_replaced_and_every_good_clip_completes(crashed_audit, local_audit):
    out, marker, code = crashed_audit
    local, local_code = local_audit
    assert marker.is_file()  # a worker did die
    assert code == local_code
    assert not [p for p in (out / "clips").iterdir() if p.name.startswith(".")]  # no half-written clip folder left
    assert_same_audit(local, out)


def test_a_resumed_ray_run_recomputes_nothing_that_is_done(yamnet_run, clips, crashed_audit, capsys):
    out, _, _ = crashed_audit
    good = [c for c in clips if c.endswith(".flac")]
    before = {p: p.stat().st_mtime_ns for p in (out / "clips").rglob("clip.json")}
    capsys.readouterr()
    assert explain(yamnet_run, good, out, "--engine", "ray", "--workers", "2") == 0
    captured = capsys.readouterr()
    assert "audited 3 clip(s)" in captured.out and "(3 reused, 0 failed)" in captured.out
    assert "ray engine:" not in captured.err  # nothing left to compute: no worker was started
    assert {p: p.stat().st_mtime_ns for p in (out / "clips").rglob("clip.json")} == before




def in_process_map(job, items):
    """`RayEngine.map` without Ray: the job set up once and mapped here, with the workers' result tuples."""
    job.setup()
    for index, item in items:
        try:
            yield index, True, job(item), ""
        except Exception as error:
            yield index, False, error, ""


def test_predict_and_embed_on_the_ray_engine_give_the_local_records_and_arrays(yamnet_run, clips, models_dir, tmp_path,
                                                                               capsys, monkeypatch):
    """The jobs and the driver's assembly; the transport to Ray workers is what the `explain` tests above run."""
    from seraudit.xai.engines.ray_engine import RayEngine

    monkeypatch.setenv("SERAUDIT_MODELS_DIR", str(models_dir))
    jobs = []
    monkeypatch.setattr(RayEngine, "map", lambda self, job, items: jobs.append(type(job).__name__) or in_process_map(job, items))
    good = [c for c in clips if c.endswith(".flac")]
    outputs = {}
    for engine in ([], ["--engine", "ray", "--workers", "2"]):
        capsys.readouterr()
        assert main(["predict", str(yamnet_run), *good, "--format", "json", "--quiet", *engine]) == 0
        predicted = json.loads(capsys.readouterr().out)
        out = tmp_path / f"embed{len(engine)}.npz"
        embed_code = main(["embed", *clips, "--out", str(out), "--quiet", *engine])
        skipped = capsys.readouterr().err
        outputs[bool(engine)] = predicted, embed_code, skipped, out
    (local, local_code, local_skip, local_npz), (ray, ray_code, ray_skip, ray_npz) = outputs[False], outputs[True]
    assert jobs == ["PredictJob", "EmbedJob"]  # --engine ray went through the engine
    assert_same(local, ray)
    assert [(r["path"], r["model"]) for r in ray] == [(c, "yamnet") for c in good]
    assert ray_code == local_code
    assert f"skipped {clips[1]}: {clips[1]}" in ray_skip and f"skipped {clips[1]}: {clips[1]}" in local_skip
    with np.load(local_npz) as x, np.load(ray_npz) as y:
        assert x.files == y.files
        for key in x.files:
            if x[key].dtype.kind == "f":
                np.testing.assert_allclose(y[key], x[key], atol=1e-5, err_msg=key)
            else:
                assert np.array_equal(x[key], y[key]), key
