"""Times verified interventions of 8 full-length RAVDESS clips x the default plan x one model, cold cache then warm.

Cold: every variant synthesised with Praat, measured (Praat, then one batched eGeMAPS request)
and scored by the model; warm: the same call again, which must synthesise and measure nothing.
The issue's target is 8 clips x every feature x 3 models in under 3 minutes on 2 cores.
Prints the time per phase, the accepted and rejected counts per variant and the identity's own
effect (flip rate and mean |change| of the target probability against the original).

Usage: ``python benchmarks/interventions_speed.py --run RUN [--data ../shared/data/ravdess-full] [--models yamnet]``
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def clips(data: Path, n: int) -> list[str]:
    """`n` clips, one per emotion (statement 01, repetition 01, the first actors), sorted."""
    chosen = []
    for emotion in range(1, 9):
        found = sorted(data.glob(f"Actor_*/03-01-0{emotion}-0{2 if emotion > 1 else 1}-01-01-*.flac"))
        if found:
            chosen.append(str(found[emotion % len(found)]))
    return chosen[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", required=True, help="a trained run folder")
    parser.add_argument("--data", default="../shared/data/ravdess-full", type=Path)
    parser.add_argument("--models", default="yamnet", help="comma-separated models of the run")
    parser.add_argument("--clips", type=int, default=8)
    args = parser.parse_args()

    from seraudit.ensemble.run import Run
    from seraudit.xai.interventions.stage import run_interventions

    run = Run.open(args.run)
    paths = clips(args.data, args.clips)
    models = args.models.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        timings = {}
        for phase in ("cold", "warm"):
            start = time.perf_counter()
            result = run_interventions(run, paths, models=models, out=Path(tmp) / phase, cache_dir=Path(tmp) / "cache")
            timings[phase] = {"wall_s": round(time.perf_counter() - start, 1), **result["seconds"],
                              "cache": result["cache"]}
    print(json.dumps({"clips": len(paths), "models": models, "timings": timings, "counts": result["counts"],
                      "identity": result["dose_response"]["identity"],
                      "notes": {c["path"]: c["notes"] for c in result["clips"] if c["notes"]}}, indent=1))


if __name__ == "__main__":
    main()
