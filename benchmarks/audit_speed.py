"""Times a full audit of one 3-s clip (every method, three models, renders and metrics) against the naive way.

Naive way, per model: tf-keras-vis Grad-CAM and Grad-CAM++ built and traced again for
every patch; LIME's image explainer with its default quickshift segmentation, 1000
samples and ``batch_size=10`` predict calls per patch; occlusion with one predict call
per occluded input. The fast path is `xai.audit.runner.run_audit` with the `seraudit audit-all`
settings. Both run in this process, one after the other, and the ratio is printed.

Each line gives the wall time and the process's CPU time (every thread; steadier than the wall time on a
shared machine). A process pays once for importing the explainers' libraries and tracing Grad-CAM's gradient
functions: the first line times that as the audit of another clip, the first of the process. The headline line
is the 3-s clip audited next, in the same process (its batches, perturbations and files are its own: nothing
is reused from the first clip); the clip is then audited once more. The tower passes line counts the
distinct patches each backbone ran on for the 3-s clip, and the floor line turns them into arithmetic: each
tower's multiply-adds per patch (counted from its layers) over this machine's float32 convolution rate
(measured here on VGGish's widest 3x3 convolutions) is about the least time any float32 audit computing those
patches can take, whatever else it does.

Usage: ``python benchmarks/audit_speed.py --run runs/ravdess [--clip FILE]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

CLIP_SECONDS = 3.0


def three_second_clip(source: Path, out: Path) -> Path:
    """A 3.0-s wav: the clip, continued by its own start where it is shorter."""
    import soundfile as sf

    from seraudit.preprocessing.audio import load_audio
    from seraudit.core.constants import SAMPLE_RATE

    waveform = load_audio(source).waveform
    n = int(CLIP_SECONDS * SAMPLE_RATE)
    sf.write(out, np.resize(waveform, n), SAMPLE_RATE, subtype="PCM_16")
    return out


class Clock:
    """Wall and CPU seconds of a block (CPU: this process, every thread)."""

    def __enter__(self) -> "Clock":
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu

    def __str__(self) -> str:
        return f"{self.wall:.1f} s (CPU {self.cpu:.1f} s)"


@contextmanager
def counting_tower_passes():
    """Count the distinct patches each backbone tower runs on (the embedding memo's misses), by tower name."""
    from seraudit.ensemble.inference.shared_backbones import EmbeddingMemo

    counts: dict[str, int] = {}
    embed = EmbeddingMemo.embed

    def counted(self, tower, digests, patches, compute):
        def run(x):
            name = tower.split(":")[0]
            counts[name] = counts.get(name, 0) + len(x)
            return compute(x)

        return embed(self, tower, digests, patches, run)

    EmbeddingMemo.embed = counted
    try:
        yield counts
    finally:
        EmbeddingMemo.embed = embed


def tower_flops(tower) -> float:
    """Floating-point operations of one patch through a Keras tower (2 per multiply-add of its conv and dense layers)."""
    import math

    import keras

    macs = 0
    for layer in tower.layers:
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense)):
            outputs = math.prod(layer.output.shape[1:])
            kernel = layer.get_weights()[0].shape  # conv [kh, kw, in / groups, out]; depthwise [kh, kw, in, mult]; dense [in, out]
            if isinstance(layer, keras.layers.DepthwiseConv2D):
                macs += outputs * kernel[0] * kernel[1]
            else:
                macs += outputs * math.prod(kernel[:-1])
    return 2.0 * macs


def conv_rate(repeats: int = 3) -> float:
    """This machine's float32 3x3-convolution rate through TensorFlow: FLOP per wall second (every core), the best
    of VGGish's two widest convolution shapes at batch 64 (the towers' bulk)."""
    import tensorflow as tf

    rates = []
    for frames, bands, channels in ((24, 16, 256), (12, 8, 512)):  # conv3_2 and conv4_2
        x = tf.random.uniform((64, frames, bands, channels), dtype=tf.float32)
        kernel = tf.random.uniform((3, 3, channels, channels), dtype=tf.float32)
        tf.nn.conv2d(x, kernel, 1, "SAME").numpy()
        with Clock() as clock:
            for _ in range(repeats):
                tf.nn.conv2d(x, kernel, 1, "SAME").numpy()
        rates.append(repeats * 2.0 * 64 * frames * bands * channels * channels * 9 / clock.wall)
    return max(rates)


def floor_line(models, passes: dict[str, int]) -> str:
    """The tower work of the counted passes and about the least wall time it takes at this machine's convolution rate."""
    flops = {}
    for model in models:
        for branch, tower in model.towers().items():
            flops.setdefault(branch, tower_flops(tower))
    rate = conv_rate()
    total = sum(n * flops[tower] for tower, n in passes.items())
    parts = ", ".join(f"{tower} {n} x {flops[tower] / 1e9:.2f} GFLOP" for tower, n in sorted(passes.items()))
    return (f"tower work: {parts} = {total / 1e9:.0f} GFLOP; at this machine's float32 3x3-convolution rate "
            f"({rate / 1e9:.0f} GFLOP/s, every core) that alone takes about {total / rate:.1f} s")


def fast_audit(models, clip: Path, out: Path) -> Clock:
    from seraudit.xai.audit.runner import DEFAULT_METHODS, run_audit
    from seraudit.xai.audit.plan import fast_settings
    from seraudit.xai.audit.clip_identity import ClipSpec

    settings = fast_settings(DEFAULT_METHODS, probe=False)
    with Clock() as clock:
        index = run_audit(models, [ClipSpec(str(clip))], out, settings, progress=False)
    if index["failures"]:
        raise RuntimeError(f"audit failed: {index['failures']}")
    return clock


def naive_audit(models, clip: Path) -> Clock:
    """The same explanations, computed patch by patch with the libraries' defaults."""
    import lime.lime_image  # noqa: F401 -- the libraries are imported before the clock starts
    import tf_keras_vis.gradcam_plus_plus  # noqa: F401

    from seraudit.preprocessing.pipeline import clip_features

    features = clip_features(clip)
    patches = np.asarray(features.patches.data, dtype=np.float32)
    with Clock() as clock:
        _naive_explanations(models, features, patches)
    return clock


def _naive_explanations(models, features, patches) -> None:
    from unittest import mock

    import keras
    from lime import lime_image
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from tf_keras_vis.utils.scores import CategoricalScore

    for model in models:
        km = model.keras_model
        target = int(np.argmax(model.predict_clip(features).probabilities))
        for patch in patches:
            for cls in (Gradcam, GradcamPlusPlus):
                for layer in model.conv_layers.values():  # re-built and re-traced for every patch
                    cam = cls(keras.Model(km.inputs, km.outputs), model_modifier=ReplaceToLinear(), clone=True)
                    cam(CategoricalScore(target), patch[None], penultimate_layer=layer)

            def classify(images, km=km):
                return np.asarray(km.predict(images[..., 0].astype(np.float32), verbose=0))

            rgb = np.repeat(((patch - patch.min()) / (np.ptp(patch) or 1.0))[..., None], 3, axis=-1)
            with mock.patch.object(lime_image, "tqdm", lambda iterable, **_: iterable):  # lime's own progress bar
                lime_image.LimeImageExplainer(random_state=0).explain_instance(
                    rgb.astype(np.float64), lambda imgs: classify(imgs * np.ptp(patch) + patch.min()),
                    labels=(target,), top_labels=None, num_samples=1000, batch_size=10,
                )
            for f0 in range(0, 96 - 16 + 1, 8):  # occlusion: one predict call per occluded input
                for b0 in range(0, 64 - 16 + 1, 8):
                    occluded = patch.copy()
                    occluded[f0 : f0 + 16, b0 : b0 + 16] = np.log(0.001)
                    km.predict(occluded[None], verbose=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("runs/ravdess"), help="trained run (seraudit train / audit-all)")
    parser.add_argument("--clip", type=Path, default=None, help="source clip (default: first RAVDESS clip of actor 1)")
    parser.add_argument("--skip-naive", action="store_true", help="time only the fast path")
    args = parser.parse_args()
    from seraudit.core.paths import shared_dir
    from seraudit.ensemble.run import Run
    from seraudit.xai.audit.plan import AUDITED_MODELS

    sources = sorted((shared_dir() / "data" / "ravdess" / "Actor_01").glob("*.flac"))
    source = args.clip or sources[0]
    first_source = next(p for p in sources if p != source)
    run = Run.open(args.run)
    models = [run.model(n) for n in AUDITED_MODELS]
    with tempfile.TemporaryDirectory() as tmp:
        clip = three_second_clip(source, Path(tmp) / "clip3s.wav")
        first_clip = three_second_clip(first_source, Path(tmp) / "first3s.wav")
        from seraudit.ensemble.inference.shared_backbones import sharing_backbones

        with sharing_backbones(models):  # build each model's predict functions once, as a warm process would
            for model in models:
                model.predict_patches(np.zeros((1, 96, 64), np.float32))
        first = fast_audit(models, first_clip, Path(tmp) / "first")
        with counting_tower_passes() as passes:
            fast = fast_audit(models, clip, Path(tmp) / "audit")
        again = fast_audit(models, clip, Path(tmp) / "again")
        print(f"first clip of this process (another clip; imports, Grad-CAM traced): {first}")
        print(f"full audit, 1 clip of {CLIP_SECONDS:.0f} s, 3 models x 4 methods, renders + metrics: {fast}")
        print(f"the same clip again in this process: {again}")
        print("tower passes (distinct patches per backbone): "
              + ", ".join(f"{tower} {n}" for tower, n in sorted(passes.items())))
        print(floor_line(models, passes))
        if not args.skip_naive:
            naive = naive_audit(models, clip)
            print(f"naive explanations only (no renders, no metrics): {naive}")
            print(f"speed-up: {naive.wall / fast.wall:.1f}x (CPU {naive.cpu / fast.cpu:.1f}x)")


if __name__ == "__main__":
    main()
