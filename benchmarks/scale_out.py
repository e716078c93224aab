"""Clips per second of one audit on the local engine, on Ray with 1 worker and on Ray with 2 workers, measured in one run.

Each engine audits the same clips into its own folder with the `audit-all`
settings; the Ray runs start their own local instance, as `--engine ray` without
`--ray-address` does, so their wall time includes starting Ray and loading the
models in every worker. Printed per engine: wall time, clips/s, the time inside
the worker pool and how much of it each worker spent on clips (the rest is worker
start-up: TensorFlow import and model loading), the driver's share (starting Ray,
cache keys, index), peak memory per worker, and the bytes each clip sends back to the driver and writes to the audit
folder (what a shared filesystem carries per clip).

Without ``--run`` the benchmark writes a run holding one full YAMNet model with
seeded random weights: the same graph and cost per clip as a trained one.

Usage: ``python benchmarks/scale_out.py [--run RUN] [--clips 6] [--methods gradcam,occlusion]``
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

LABELS = ["neutral", "happy", "sad", "angry"]


def speed_run(out: Path) -> Path:
    """A run with one full YAMNet model (random weights): the cost of a real audit, without training one."""
    import pandas as pd

    from seraudit.ensemble.model.graph import build_model
    from seraudit.ensemble.run import write_run

    config = {"name": "yamnet", "head": {}, "branch_untrained": {"yamnet": True}}
    built = build_model(config, n_classes=len(LABELS))
    info = {"labels": LABELS, "gds": {"enabled": True, "threshold": 0.9}}
    predictions = pd.DataFrame({"path": [], "label": [], "speaker": []})
    return write_run(out, info, {}, predictions, {}, {"yamnet": (built.keras_model, config, {})}, LABELS, None)


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def audit_once(run_dir: Path, model_names: list[str], clips: list[str], out: Path, methods: tuple[str, ...],
               workers: int | None) -> dict:
    from seraudit.ensemble.run import Run
    from seraudit.xai.audit.runner import run_audit
    from seraudit.xai.audit.plan import fast_settings
    from seraudit.xai.audit.clip_identity import specs_from_run
    from seraudit.xai.engines.ray_engine import RayEngine, RayOptions

    start = time.perf_counter()
    run = Run.open(run_dir)
    models = run.models(model_names)
    engine = None if workers is None else RayEngine(RayOptions(workers=workers), progress=False)
    index = run_audit(models, specs_from_run(run, clips), out, fast_settings(methods, probe=False),
                      run=run, progress=False, engine=engine)
    wall = time.perf_counter() - start
    if index["failures"]:
        raise RuntimeError(f"audit failed: {index['failures']}")
    clip_dirs = [out / c["dir"] for c in index["clips"]]
    stats = engine.last_stats if engine is not None else {}
    return {
        "engine": "local" if workers is None else f"ray, {workers} worker{'s' if workers > 1 else ''}",
        "clips": len(clip_dirs),
        "wall_s": wall,
        "clips_per_s": len(clip_dirs) / wall,
        "pool_s": stats.get("seconds"),
        "worker_busy_s": stats.get("busy_seconds", []),
        "peak_memory_gib": [b / 2**30 for b in stats.get("peak_memory_bytes", [])],
        "record_bytes_per_clip": sum(len((d / "clip.json").read_bytes()) for d in clip_dirs) / len(clip_dirs),
        "folder_bytes_per_clip": sum(folder_bytes(d) for d in clip_dirs) / len(clip_dirs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=None, help="trained run (default: a full YAMNet with random weights)")
    parser.add_argument("--models", default="yamnet", help="comma-separated models of the run (default: yamnet)")
    parser.add_argument("--clips", type=int, default=6, help="EmoDB clips (2 s) to audit (default: 6)")
    parser.add_argument("--methods", default="gradcam,occlusion", help="methods (default: gradcam,occlusion)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()
    from seraudit.core.paths import shared_dir
    from seraudit.xai.audit.runner import parse_methods

    methods, _ = parse_methods(args.methods)
    clips = [str(p) for p in sorted((shared_dir() / "data" / "emodb-2s").glob("*.flac"))[: args.clips]]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run_dir = args.run or speed_run(tmp / "run")
        names = [m.strip() for m in args.models.split(",") if m.strip()]
        rows = [audit_once(run_dir, names, clips, tmp / f"audit-{i}", methods, workers)
                for i, workers in enumerate((None, 1, 2))]
    print(f"{len(clips)} clips x {', '.join(names)} x {', '.join(methods)}, {os.cpu_count()} CPU(s) on this machine")
    for row in rows:
        pool = ""
        if row["pool_s"]:
            busy = row["worker_busy_s"]
            pool = (f", pool {row['pool_s']:.1f} s (workers busy {', '.join(f'{b:.1f}' for b in busy)} s, "
                    f"{sum(busy) / row['clips']:.2f} s per clip), driver {row['wall_s'] - row['pool_s']:.1f} s")
        memory = f", peak memory per worker {', '.join(f'{m:.2f}' for m in row['peak_memory_gib'])} GiB" if row["peak_memory_gib"] else ""
        print(f"{row['engine']:>16}: {row['wall_s']:6.1f} s, {row['clips_per_s']:.3f} clips/s{pool}{memory}; "
              f"per clip {row['record_bytes_per_clip'] / 1e3:.0f} kB back to the driver, "
              f"{row['folder_bytes_per_clip'] / 1e6:.2f} MB written")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
