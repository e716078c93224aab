"""Grad-CAM and Grad-CAM++ on each branch's last convolution, fused across branches for the ensemble.

Two implementations give the same maps:

* ``"fast"`` (default): one compiled ``tf.function`` runs all patches of a clip
  through a sub-model that returns every branch's last-convolution activations
  and the ``"logits"`` layer, and takes the gradients of the target logit in one
  tape — one call per clip, whatever the number of branches; Grad-CAM and Grad-CAM++
  are both computed from that one pass (traced once per model), and the second
  method explained on the same clip and target reuses it (inside `sharing_gradient_passes`,
  which `xai.explainers.registry.explain_clip` opens around each model's methods);
* ``"tf-keras-vis"``: ``tf_keras_vis.gradcam.Gradcam`` / ``GradcamPlusPlus`` with
  ``CategoricalScore(target)`` on a sub-model ending at ``"logits"``, one call per
  branch (the reference implementation the fast path is tested against).

Both score the pre-softmax ``"logits"`` (the softmax would flatten gradients of
confident patches). The raw class-activation maps (after the ReLU) go through the
same post-processing: bilinear upsampling to the 96 x 64 patch grid (half-pixel
centres), merging of overlapping patches onto the clip grid, and division by the
clip's maximum. Only the GDS-kept patches (the ones the clip's prediction pools) are
explained and merged; frames they do not cover stay 0 (`xai.explainers.heard`). One scale per clip, so quiet patches stay quiet.

Fusion rule (ensemble)
----------------------
Each branch b gets its own Grad-CAM map M_b (normalised to a clip maximum of 1)
and a contribution to the target logit, its gradient x activation total over the
clip::

    c_b = sum over patches, positions and channels of A_b * d logit_target / d A_b

which is the first-order share of the target logit that flows through the
branch's last convolution (for late fusion the gradient carries the fusion
weight, so c_b = fusion weight x the branch's own gradient x activation; for
feature fusion it is the branch's share through the fused head). The weights are
w_b = max(c_b, 0) / sum_b' max(c_b', 0) (equal weights if no branch contributes
positively), and the fused map is ``normalise(sum_b w_b M_b)``. The branch maps,
contributions and weights are kept in the attribution (``branch_maps``,
``params["branch_contributions"]``, ``params["branch_weights"]``).
"""

from __future__ import annotations

import time
import weakref
from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np

from seraudit.core.constants import PATCH_BANDS, PATCH_FRAMES
from seraudit.xai.attribution import Attribution, Explainer
from seraudit.xai.explainers.heard import kept_patches
from seraudit.xai.explainers.perturbation import merge_to_clip, resolve_target

IMPLEMENTATIONS = ("fast", "tf-keras-vis")
LOGITS_LAYER = "logits"

# keras model -> compiled gradient functions, so repeated clips reuse one trace.
_FAST_CACHE: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()
_LOGITS_CACHE: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()


def _logits_submodel(keras_model):
    """``log_mel -> logits`` on the same layers (no copy of the weights)."""
    import keras

    if keras_model not in _LOGITS_CACHE:
        _LOGITS_CACHE[keras_model] = keras.Model(keras_model.inputs, keras_model.get_layer(LOGITS_LAYER).output)
    return _LOGITS_CACHE[keras_model]


def _gradient_fn(keras_model, conv_layers: tuple[str, ...]):
    """Compiled ``(patches, target) -> (Grad-CAM cams, Grad-CAM++ cams, gradient x activation)``, each per branch.

    Both methods come from one forward and one backward pass, traced once per model: Grad-CAM++
    only weighs the same gradients differently.
    """
    import keras
    import tensorflow as tf

    cache = _FAST_CACHE.setdefault(keras_model, {})
    if conv_layers in cache:
        return cache[conv_layers]
    sub = keras.Model(
        keras_model.inputs,
        [keras_model.get_layer(name).output for name in conv_layers] + [keras_model.get_layer(LOGITS_LAYER).output],
    )

    @tf.function(
        input_signature=[tf.TensorSpec([None, PATCH_FRAMES, PATCH_BANDS], tf.float32), tf.TensorSpec([], tf.int32)],
        reduce_retracing=True,
        autograph=False,  # no tensor-dependent control flow: the Python loop over branches unrolls as it is
    )
    def run(x, target):
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(x)  # frozen towers have no watched variables; watching the input records every op
            outputs = sub(x, training=False)
            acts, logits = list(outputs[:-1]), outputs[-1]
            score = logits[:, target]
        # Patches are independent, so the gradient of the batch sum is each patch's own gradient.
        grads = tape.gradient(score, acts)
        plain, plus, contributions = [], [], []
        for a, g in zip(acts, grads):
            contributions.append(tf.reduce_sum(a * g, axis=[1, 2, 3]))
            weights = tf.reduce_mean(g, axis=[1, 2], keepdims=True)
            plain.append(tf.nn.relu(tf.reduce_sum(a * weights, axis=-1)))
            # Same algebra as tf_keras_vis.gradcam_plus_plus, with exp(score) shifted by the clip's
            # maximum score: a common factor that the per-clip normalisation removes, without overflow.
            e = tf.reshape(tf.exp(score - tf.reduce_max(score)), [-1, 1, 1, 1])
            first = e * g
            second = first * g
            third = second * g
            global_sum = tf.reduce_sum(a, axis=[1, 2], keepdims=True)
            denom = second * 2.0 + third * global_sum
            denom += tf.cast(second == 0.0, denom.dtype)
            alphas = second / denom
            norm = tf.reduce_sum(alphas, axis=[1, 2], keepdims=True)
            alphas /= norm + tf.cast(norm == 0.0, norm.dtype)
            weights_pp = tf.reduce_sum(tf.nn.relu(first) * alphas, axis=[1, 2], keepdims=True)
            plus.append(tf.nn.relu(tf.reduce_sum(a * weights_pp, axis=-1)))
        return plain, plus, contributions

    cache[conv_layers] = run
    return run


class _LastPass:
    """The raw maps of the last (model, patches, target) explained inside `sharing_gradient_passes`.

    One entry, holding the model weakly (a released model's graphs are never kept alive here), and
    only while a sharing block is open: a model's weights may change between blocks (model
    randomisation redraws them in place), never inside one.
    """

    def __init__(self):
        self._entry: tuple[Any, tuple, Any] | None = None
        self.depth = 0

    def get(self, keras_model, key: tuple):
        if self.depth and self._entry is not None and self._entry[0]() is keras_model and self._entry[1] == key:
            return self._entry[2]
        return None

    def put(self, keras_model, key: tuple, value) -> None:
        if self.depth:
            self._entry = (weakref.ref(keras_model), key, value)

    def clear(self) -> None:
        self._entry = None


_LAST_PASS = _LastPass()


@contextmanager
def sharing_gradient_passes() -> Iterator[None]:
    """Inside the block, Grad-CAM++ after Grad-CAM (or the reverse) on the same model, patches and target reuses the
    first one's gradient pass. The models' weights must not change inside the block."""
    _LAST_PASS.depth += 1
    try:
        yield
    finally:
        _LAST_PASS.depth -= 1
        if not _LAST_PASS.depth:
            _LAST_PASS.clear()


def gradient_pass(model, patches: np.ndarray, target: int, batch_size: int) -> tuple[dict, dict, dict]:
    """Both methods' raw maps of `patches` ``(gradcam {branch: [N, h, w]}, gradcam++ {...}, contributions {branch:
    [N]})`` from one pass `batch_size` patches at a time; inside `sharing_gradient_passes`, the last call's answer is
    reused for the same arguments."""
    import hashlib

    import tensorflow as tf

    patches = np.ascontiguousarray(patches, dtype=np.float32)
    branches = tuple(model.conv_layers)
    layers = tuple(model.conv_layers[b] for b in branches)
    key = (branches, layers, patches.shape, hashlib.blake2b(patches.tobytes(), digest_size=16).digest(),
           int(target), int(batch_size))
    cached = _LAST_PASS.get(model.keras_model, key)
    if cached is not None:
        return cached
    run = _gradient_fn(model.keras_model, layers)
    parts = {kind: {b: [] for b in branches} for kind in ("gradcam", "gradcam++", "contributions")}
    for i in range(0, len(patches), batch_size):
        outputs = run(tf.constant(patches[i : i + batch_size]), tf.constant(target, tf.int32))
        for kind, per_branch in zip(parts, outputs):
            for b, value in zip(branches, per_branch):
                parts[kind][b].append(value.numpy())
    result = tuple({b: np.concatenate(v) for b, v in parts[kind].items()} for kind in parts)
    _LAST_PASS.put(model.keras_model, key, result)
    return result


def _upsample(cams: np.ndarray) -> np.ndarray:
    """Raw CAMs ``[N, h, w]`` -> ``[N, 96, 64]`` by bilinear interpolation (non-negative stays non-negative)."""
    import tensorflow as tf

    cams = np.asarray(cams, dtype=np.float32)
    if cams.shape[1:] == (PATCH_FRAMES, PATCH_BANDS):
        return cams
    up = tf.image.resize(cams[..., None], (PATCH_FRAMES, PATCH_BANDS), method="bilinear")[..., 0].numpy()
    return np.maximum(up, 0.0)


def fuse_branch_maps(branch_maps: dict[str, np.ndarray], contributions: dict[str, float]) -> tuple[np.ndarray, dict[str, float]]:
    """The documented fusion rule: ``normalise(sum_b w_b M_b)`` with ``w_b ∝ max(c_b, 0)``; returns (map, weights)."""
    names = list(branch_maps)
    positive = np.array([max(float(contributions[b]), 0.0) for b in names])
    w = positive / positive.sum() if positive.sum() > 0 else np.full(len(names), 1.0 / len(names))
    weights = {b: float(wb) for b, wb in zip(names, w)}
    fused = sum(weights[b] * np.asarray(branch_maps[b], dtype=np.float64) for b in names)
    return _normalised(fused)[0].astype(np.float32), weights


def _normalised(x: np.ndarray) -> tuple[np.ndarray, float]:
    peak = float(np.max(x)) if np.size(x) else 0.0
    return (x / peak if peak > 0 else x), peak


class GradCAM(Explainer):
    """Grad-CAM (Selvaraju et al. 2017) on every branch's last convolution, fused for the ensemble.

    Parameters
    ----------
    implementation : {"fast", "tf-keras-vis"}
        Batched ``tf.function`` path (default) or the tf-keras-vis reference.
    batch_size : int
        Patches per gradient call (a 3-s clip has 5 patches, so one call).
    """

    method = "gradcam"
    _plus_plus = False

    def __init__(self, implementation: str = "fast", batch_size: int = 256):
        if implementation not in IMPLEMENTATIONS:
            raise ValueError(f"implementation must be one of {IMPLEMENTATIONS}, got {implementation!r}")
        self.implementation = implementation
        self.batch_size = int(batch_size)

    # ------------------------------------------------------------- raw maps
    def _raw_fast(self, model, patches: np.ndarray, target: int, batch_size: int | None = None) -> tuple[dict, dict]:
        plain, plus, contributions = gradient_pass(model, patches, target, batch_size or self.batch_size)
        return (plus if self._plus_plus else plain), {b: float(c.sum()) for b, c in contributions.items()}

    def _raw_library(self, model, patches: np.ndarray, target: int, batch_size: int | None = None) -> tuple[dict, dict]:
        from tf_keras_vis.gradcam import Gradcam, GradcamPlusPlus
        from tf_keras_vis.utils.scores import CategoricalScore

        batch_size = batch_size or self.batch_size
        cls = GradcamPlusPlus if self._plus_plus else Gradcam
        vis = cls(_logits_submodel(model.keras_model), model_modifier=None, clone=False)
        cams = {}
        for branch, layer in model.conv_layers.items():
            out = [
                np.asarray(
                    vis(
                        CategoricalScore(target),
                        patches[i : i + batch_size],
                        penultimate_layer=layer,
                        seek_penultimate_conv_layer=False,
                        expand_cam=False,
                        normalize_cam=False,
                    ),
                    dtype=np.float32,
                )
                for i in range(0, len(patches), batch_size)
            ]
            cams[branch] = np.concatenate(out)
        # tf-keras-vis does not expose gradients; the contributions (fusion weights) come from the fast path's pass.
        _, contrib = self._raw_fast(model, patches, target, batch_size)
        return cams, contrib

    def _raw_kept(self, raw_fn, model, clip, patches: np.ndarray, target: int) -> tuple[dict, dict]:
        """Raw maps of the clip's GDS-kept patches (the only ones its prediction pools); the others get empty maps.

        A model that pools in its graph takes the kept patches in one call (the clip logit depends on all
        of them); a patch-wise model takes them `batch_size` at a time. The branch contributions (the
        ensemble's fusion weights) sum over the kept patches too.
        """
        kept = kept_patches(clip)
        batch = int(kept.sum()) if getattr(model, "pools_in_graph", False) else None
        raw_kept, contrib = raw_fn(model, patches[kept], target, batch)
        raw = {}
        for b, cams in raw_kept.items():
            raw[b] = np.zeros((len(patches), *cams.shape[1:]), cams.dtype)
            raw[b][kept] = cams
        return raw, contrib

    # -------------------------------------------------------------- explain
    def explain(self, model, clip, target: int | str | None = None) -> Attribution:
        """Grad-CAM map of every patch of `clip`, merged on the clip grid; fused over branches for an ensemble."""
        t0 = time.perf_counter()
        target = resolve_target(model, clip, target)
        patches = np.asarray(clip.patches.data, dtype=np.float32)
        raw_fn = self._raw_fast if self.implementation == "fast" else self._raw_library
        raw, contrib = self._raw_kept(raw_fn, model, clip, patches, target)
        kept = kept_patches(clip)

        branch_clip, branch_patch, peaks = {}, {}, {}
        for b, cams in raw.items():
            up = _upsample(cams)
            clip_map, peaks[b] = _normalised(merge_to_clip(up, clip, only=kept))
            branch_clip[b] = clip_map
            branch_patch[b] = up / peaks[b] if peaks[b] > 0 else up
        if len(raw) == 1:
            (b,) = raw
            clip_map, patch_maps, weights = branch_clip[b], branch_patch[b], {b: 1.0}
        else:
            clip_map, weights = fuse_branch_maps(branch_clip, contrib)
            fused_patches = sum(weights[b] * branch_patch[b] for b in raw)
            fused_clip_peak = float(np.max(sum(weights[b] * branch_clip[b] for b in raw)))
            patch_maps = fused_patches / fused_clip_peak if fused_clip_peak > 0 else fused_patches
        raw_shapes = {b: list(c.shape[1:]) for b, c in raw.items()}
        details = {
            "score": "logits",
            "conv_layers": dict(model.conv_layers),
            "cam_shapes": raw_shapes,
            "branch_contributions": contrib,
            "branch_weights": weights,
            "fusion_rule": "normalise(sum_b w_b * M_b), w_b = max(c_b, 0) / sum max(c, 0), "
            "c_b = sum(A_b * dlogit/dA_b) over the clip",
            "normalisation": "clip maximum = 1",
        }
        return self._attribution(model, clip, target, clip_map, patch_maps, details, t0,
                                 branch_maps=branch_clip if len(raw) > 1 else {})


class GradCAMPlusPlus(GradCAM):
    """Grad-CAM++ (Chattopadhyay et al. 2018): pixel-weighted gradients, better for several evidence regions.

    Same parameters, post-processing and fusion rule as ``GradCAM``.
    """

    method = "gradcam++"
    _plus_plus = True
