"""The selftest on the full shared RAVDESS copy (every speaker and emotion, 1434 clips, YAMNet): the lines and the time.

On demand (minutes on 2 cores; the embedding cache makes a rerun faster):
``python benchmarks/selftest.py [--data ../shared/data/ravdess] [--out DIR] [--emotion calm]``

Measured (cold cache, 2 shared cores, 586 s; the planted emotion is the corpus's first, neutral, 96 clips):
tone caught: high_band check 48/48 flipped vs 19/48 on the clean run (null edit 0), cue removed flips 96/96,
attribution AUC gradcam 0.896, occlusion 0.888; silence caught: trim check 48/48 vs 26/48, cue removed flips 93/96,
AUC gradcam 0.985, occlusion 0.952; the unplanted run passes (cue-removed flips 35/96 and 24/96, AUC at most 0.607).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from seraudit.core.paths import default_models_dir, shared_dir
    from seraudit.xai.selftest.selftest import run_selftest

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=shared_dir() / "data" / "ravdess")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--emotion", default=None, help="the planted emotion (default: the corpus's first)")
    parser.add_argument("--cache-dir", default=None)
    args = parser.parse_args(argv)
    models_dir = default_models_dir() or str(shared_dir() / "models")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="selftest-benchmark-") as scratch:
        result = run_selftest(args.data, "ravdess", args.out or scratch, emotion=args.emotion, models_dir=models_dir,
                              cache_dir=args.cache_dir)
    print(f"selftest, full shared RAVDESS copy: {result.clips} clips, {result.speakers} speakers, "
          f"{len(result.emotions)} emotions; {time.perf_counter() - start:.0f} s")
    for line in result.lines():
        print(line)
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
