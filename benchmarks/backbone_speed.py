"""Backbone throughput: patches/s of YAMNet and VGGish at batch 1 and 64, and the real-time factor on RAVDESS.

Run on demand (not a test):

    SERAUDIT_MODELS_DIR=../shared/models .venv/bin/python benchmarks/backbone_speed.py

Targets on 2 CPU cores: batched YAMNet >= 300 patches/s, batched VGGish >= 40 patches/s.
The real-time factor is wall time / audio duration for the whole per-clip path
(load, log-mel, patches, Gaussian data selection, embeddings); below 1 is faster than real time.
VGGish runs with seeded random weights when no pretrained checkpoint is found; speed
does not depend on the weights' values, and the table says "untrained" for it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from seraudit.core.paths import shared_dir


def patches_per_second(model, batch_size: int, seconds: float) -> float:
    """Steady-state throughput of one compiled forward pass, after a warm-up call."""
    import tensorflow as tf

    forward = tf.function(lambda x: model(x, training=False))
    batch = tf.constant(np.random.default_rng(0).normal(-4.0, 2.0, (batch_size, 96, 64)).astype(np.float32))
    forward(batch).numpy()  # trace and warm up
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        forward(batch).numpy()
        done += batch_size
    return done / (time.perf_counter() - start)


def real_time_factor(model, clips: list[Path]) -> tuple[float, float]:
    """(wall seconds, audio seconds) for the full per-clip path over `clips`."""
    from seraudit.ensemble.data.embedding_cache import embed_patches
    from seraudit.preprocessing.pipeline import clip_features

    start = time.perf_counter()
    features = [clip_features(path) for path in clips]
    embed_patches(model, np.concatenate([f.patches.data for f in features]), batch_size=64, progress=False)
    wall = time.perf_counter() - start
    return wall, sum(f.audio.duration_s for f in features)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(shared_dir() / "data" / "ravdess"))
    parser.add_argument("--clips", type=int, default=100, help="RAVDESS clips for the real-time factor")
    parser.add_argument("--seconds", type=float, default=5.0, help="timing window per measurement")
    parser.add_argument("--models-dir", default=None)
    args = parser.parse_args()

    from seraudit.ensemble.data.embedding_cache import build_embedder
    from seraudit.ensemble.weights.official import resolve_weights

    clips = sorted(Path(args.data).rglob("*.flac"))[: args.clips]
    print(f"{'backbone':<22} {'batch 1 (p/s)':>14} {'batch 64 (p/s)':>15} {'RTF':>8}")
    for backbone in ("yamnet", "vggish"):
        source = resolve_weights(backbone, models_dir=args.models_dir, allow_untrained=True, download=False)
        model = build_embedder(backbone, source, seed=0)
        single = patches_per_second(model, 1, args.seconds)
        batched = patches_per_second(model, 64, args.seconds)
        wall, audio = real_time_factor(model, clips) if clips else (float("nan"), float("nan"))
        name = backbone if source.pretrained else f"{backbone} (untrained)"
        print(f"{name:<22} {single:>14.1f} {batched:>15.1f} {wall / audio:>8.3f}")
    print(f"RTF over {len(clips)} RAVDESS (2.4 s) clips; 2 CPU cores expected.")


if __name__ == "__main__":
    main()
