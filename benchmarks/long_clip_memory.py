"""Peak memory of a clip just under the duration limit: loading, predicting and explaining it, each in its own process.

Run on demand (not a test):

    .venv/bin/python benchmarks/long_clip_memory.py            # a 599 s clip, 48 kHz stereo 16-bit
    .venv/bin/python benchmarks/long_clip_memory.py --seconds 120

Each stage runs in a fresh interpreter so its peak resident memory (``ru_maxrss``) is
its own; the table gives that peak, the part added by the stage over the process after
its imports and model build, and tracemalloc's peak of Python and numpy allocations
(TensorFlow's own buffers are outside tracemalloc). The model is one untrained YAMNet
head on the second block, the shape of the smallest real model; a deeper head adds its
weights, not per-clip memory, because patches go through it in fixed batches.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

STAGES = ("load", "predict", "gradcam+faithfulness")

_STAGE = r"""
import json, resource, sys, time, tracemalloc
stage, clip, run_dir = sys.argv[1], sys.argv[2], sys.argv[3]
from seraudit.preprocessing.audio import load_audio
from seraudit.preprocessing.pipeline import clip_features
model = None
if stage != "load":
    from seraudit.ensemble.run import Run
    model = Run.open(run_dir).model("yamnet")
    from seraudit.preprocessing.pipeline import clip_features as _warm
    model.predict_patches(__import__("numpy").zeros((1, 96, 64), "float32"))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tracemalloc.start()
started = time.perf_counter()
if stage == "load":
    audio = load_audio(clip)
    detail = {"seconds_of_audio": audio.duration_s}
else:
    features = clip_features(clip, gds_threshold=0.9)
    if stage == "predict":
        prediction = model.predict_clip(features)
        detail = {"patches": int(len(features.patches.data))}
    else:
        from seraudit.xai.metrics.faithfulness import deletion_insertion
        from seraudit.xai.explainers.gradcam import GradCAM
        attribution = GradCAM().explain(model, features)
        result = deletion_insertion(model, features, attribution)
        detail = {"patches": int(len(features.patches.data)), "deletion_auc": result.deletion_auc}
elapsed = time.perf_counter() - started
_, traced = tracemalloc.get_traced_memory()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"stage": stage, "peak_rss_mb": peak / 1024, "added_rss_mb": (peak - base) / 1024,
                  "traced_peak_mb": traced / 2**20, "seconds": elapsed, **detail}))
"""


def make_run(folder: Path) -> Path:
    import pandas as pd

    from seraudit.ensemble.model.graph import build_model
    from seraudit.ensemble.run import write_run

    labels = ["neutral", "happy", "sad"]
    config = {"name": "yamnet", "head": {}, "branch_untrained": {"yamnet": True}, "taps": {"yamnet": ["layer2"]}}
    built = build_model(config, n_classes=len(labels))
    info = {"labels": labels, "gds": {"enabled": True, "threshold": 0.9}}
    return write_run(folder / "run", info, {}, pd.DataFrame({"path": []}), {}, {"yamnet": (built.keras_model, config, {})},
                     labels, None)


def make_clip(folder: Path, seconds: float, rate: int, channels: int) -> Path:
    """A long voiced signal, written block by block (the writer never holds it whole)."""
    import numpy as np
    import soundfile as sf

    path = folder / f"long_{seconds:g}s_{rate}Hz_{channels}ch.wav"
    block = rate * 10
    with sf.SoundFile(str(path), "w", rate, channels, subtype="PCM_16") as out:
        for start in range(0, int(seconds * rate), block):
            n = min(block, int(seconds * rate) - start)
            t = (start + np.arange(n)) / rate
            wave = 0.2 * np.sin(2 * np.pi * 150 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 0.7 * t))
            out.write(np.repeat(wave[:, None], channels, axis=1))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=599.0, help="clip length (default: 599, just under the 600 s limit)")
    parser.add_argument("--rate", type=int, default=48_000)
    parser.add_argument("--channels", type=int, default=2)
    parser.add_argument("--stages", default=",".join(STAGES))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clip = make_clip(folder, args.seconds, args.rate, args.channels)
        run = make_run(folder)
        size_mb = clip.stat().st_size / 2**20
        print(f"clip: {args.seconds:g} s, {args.rate} Hz, {args.channels} channels, 16-bit ({size_mb:.0f} MB on disk; "
              f"{args.seconds * args.rate * args.channels * 4 / 2**20:.0f} MB as float32 if decoded whole)")
        print(f"{'stage':24s} {'peak RSS':>10s} {'added':>10s} {'traced':>10s} {'seconds':>8s}")
        for stage in args.stages.split(","):
            out = subprocess.run([sys.executable, "-c", _STAGE, stage, str(clip), str(run)], capture_output=True, text=True)
            if out.returncode:
                print(f"{stage:24s} failed: {out.stderr[-800:]}")
                continue
            row = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{stage:24s} {row['peak_rss_mb']:8.0f} MB {row['added_rss_mb']:8.0f} MB {row['traced_peak_mb']:8.0f} MB "
                  f"{row['seconds']:8.1f}")


if __name__ == "__main__":
    main()
