"""Check the Keras YAMNet port against Google's own TFLite runtime on real clips.

Two comparisons per clip, both against the interpreter's per-patch outputs:

1. the port fed the interpreter's *own* log-mel patches (framed like YAMNet:
   96 frames, hop 48): this isolates the network and its weights, so embeddings
   must match (cosine) and the top AudioSet class must agree on every patch;
2. the port fed the project's front end (`preprocessing.frontend.log_mel` +
   `preprocessing.segments.make_patches`): this is what the tool really runs,
   so the top class must agree on nearly every patch, and the two log-mels
   must correlate.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from seraudit.core.constants import PATCH_FRAMES, PATCH_HOP_FRAMES
from seraudit.core.errors import WeightsError

# The bars a faithful port must reach (agreements are fractions of patches).
EMBEDDING_COSINE_BAR = 0.999
TOP1_BAR = 1.0
FRONTEND_TOP1_BAR = 0.95

BATCH_SIZE = 64


class TfliteYamnet:
    """Google's YAMNet TFLite model run by the TFLite interpreter: waveform in, per-patch outputs out."""

    def __init__(self, path: str | Path):
        import tensorflow as tf

        self.path = Path(path)
        if not self.path.is_file():
            raise WeightsError(
                f"reference model {self.path} not found; it is the TF Hub lite-model/yamnet/tflite/1 file "
                "(put it at <MODELS_DIR>/yamnet/yamnet.tflite)"
            )
        try:
            with warnings.catch_warnings():  # tf.lite.Interpreter announces its move to ai_edge_litert
                warnings.simplefilter("ignore", UserWarning)
                self.interpreter = tf.lite.Interpreter(model_path=str(self.path))
        except ValueError as error:
            raise WeightsError(f"{self.path} is not a valid TFLite model ({error}); download it again") from error
        self._input = self.interpreter.get_input_details()[0]["index"]
        outputs = self.interpreter.get_output_details()
        # Identify outputs by their last dimension: scores 521, embeddings 1024, log-mel 64.
        by_width = {int(detail["shape"][-1]): detail["index"] for detail in outputs}
        try:
            self._scores, self._embeddings, self._log_mel = by_width[521], by_width[1024], by_width[64]
        except KeyError as error:
            raise WeightsError(
                f"{self.path} is not the TF Hub YAMNet lite model (outputs of widths {sorted(by_width)}, "
                "expected 521 scores, 1024 embeddings, 64 log-mel bands)"
            ) from error

    def __call__(self, waveform: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(scores [P, 521], embeddings [P, 1024], log-mel [frames, 64]) for a 16 kHz waveform in [-1, 1]."""
        waveform = np.ascontiguousarray(waveform, dtype=np.float32).reshape(-1)
        self.interpreter.resize_tensor_input(self._input, [len(waveform)], strict=False)
        self.interpreter.allocate_tensors()
        self.interpreter.set_tensor(self._input, waveform)
        self.interpreter.invoke()
        return (
            self.interpreter.get_tensor(self._scores).copy(),
            self.interpreter.get_tensor(self._embeddings).copy(),
            self.interpreter.get_tensor(self._log_mel).copy(),
        )


def frame_log_mel(log_mel: np.ndarray, hop_frames: int = PATCH_HOP_FRAMES) -> np.ndarray:
    """Cut a log-mel [frames, 64] into YAMNet's patches [N, 96, 64] (no padding), as `tf.signal.frame` does."""
    if len(log_mel) < PATCH_FRAMES:
        return np.zeros((0, PATCH_FRAMES, log_mel.shape[1]), np.float32)
    windows = np.lib.stride_tricks.sliding_window_view(log_mel, PATCH_FRAMES, axis=0)[::hop_frames]
    return np.ascontiguousarray(windows.transpose(0, 2, 1), dtype=np.float32)


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two [N, D] arrays."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return np.sum(a * b, axis=1) / np.maximum(norms, 1e-12)


def _predictor(model, batch_size: int):
    """Batched inference in one traced function (no per-call `predict` overhead)."""
    import tensorflow as tf

    call = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

    def run(patches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        embeddings, scores = [], []
        for start in range(0, len(patches), batch_size):
            embedding, score = call(tf.constant(patches[start : start + batch_size]))
            embeddings.append(np.asarray(embedding))
            scores.append(np.asarray(score))
        return np.concatenate(embeddings), np.concatenate(scores)

    return run


def _frontend_patches(waveform: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The project's patches of a waveform and each patch's start frame."""
    from seraudit.preprocessing.frontend import log_mel
    from seraudit.preprocessing.segments import make_patches

    patches = make_patches(log_mel(waveform), hop_frames=PATCH_HOP_FRAMES)
    return np.asarray(patches.data, np.float32), np.asarray(patches.start_frame, np.int64)


def verify_yamnet(
    weights_path: Any,
    tflite_reference: str | Path,
    clips: Iterable[str | Path],
    *,
    model=None,
    batch_size: int = BATCH_SIZE,
) -> dict[str, Any]:
    """Compare the port (with `weights_path` loaded) against the TFLite interpreter on `clips`.

    `weights_path` is any YAMNet weights source `load_yamnet_weights` reads (or a
    `WeightsSource`); `model` skips building and loading when a loaded port is
    at hand. Returns fractions in [0, 1]: ``embedding_cosine_mean`` /
    ``embedding_cosine_min`` (per patch), ``top1_agreement`` (interpreter
    patches), ``frontend_top1_agreement`` (project front-end patches aligned by
    start frame), ``frontend_pearson`` (mean per-clip log-mel correlation),
    ``clips``, ``patches``, ``frontend_patches``, ``passed`` and ``per_clip``.
    """
    from seraudit.ensemble.backbones.yamnet import build_yamnet, load_yamnet_weights
    from seraudit.preprocessing.audio import load_audio
    from seraudit.preprocessing.reference import compare_with_tflite

    clips = [Path(clip) for clip in clips]
    if not clips:
        raise WeightsError("no clips to compare YAMNet on; pass audio files or a folder as `clips`")
    if model is None:
        model = build_yamnet(with_classifier=True)
        load_yamnet_weights(model, weights_path)
    reference = TfliteYamnet(tflite_reference)
    run = _predictor(model, batch_size)

    ref_patches, ref_scores, ref_embeddings, clip_of_patch = [], [], [], []
    ours_patches, ours_ref_index, clip_of_ours, pearsons = [], [], [], []
    offset = 0
    for index, clip in enumerate(clips):
        waveform = load_audio(clip).waveform
        scores, embeddings, ref_log_mel = reference(waveform)
        patches = frame_log_mel(ref_log_mel)
        if len(patches) != len(scores):
            raise WeightsError(
                f"{tflite_reference}: {len(scores)} outputs for {len(patches)} log-mel patches of {clip}; "
                "the reference model does not frame patches like YAMNet (96 frames, hop 48)"
            )
        ref_patches.append(patches)
        ref_scores.append(scores)
        ref_embeddings.append(embeddings)
        clip_of_patch.append(np.full(len(scores), index))

        our_patches, starts = _frontend_patches(waveform)
        aligned = (starts % PATCH_HOP_FRAMES == 0) & (starts // PATCH_HOP_FRAMES < len(scores))
        ours_patches.append(our_patches[aligned])
        ours_ref_index.append(offset + starts[aligned] // PATCH_HOP_FRAMES)
        clip_of_ours.append(np.full(int(aligned.sum()), index))
        pearsons.append(compare_with_tflite(waveform, reference.path).pearson)
        offset += len(scores)

    ref_scores_all = np.concatenate(ref_scores)
    embeddings, scores = run(np.concatenate(ref_patches))
    cosine = cosine_similarity(embeddings, np.concatenate(ref_embeddings))
    top1 = scores.argmax(1) == ref_scores_all.argmax(1)
    ours = np.concatenate(ours_patches)
    ours_index = np.concatenate(ours_ref_index)
    _, our_scores = run(ours) if len(ours) else (None, np.zeros((0, ref_scores_all.shape[1])))
    frontend_top1 = our_scores.argmax(1) == ref_scores_all[ours_index].argmax(1)

    clip_of_patch = np.concatenate(clip_of_patch)
    clip_of_ours = np.concatenate(clip_of_ours)
    per_clip = [
        {
            "clip": str(clip),
            "patches": int(np.sum(clip_of_patch == i)),
            "embedding_cosine_mean": float(cosine[clip_of_patch == i].mean()),
            "top1_agreement": float(top1[clip_of_patch == i].mean()),
            "frontend_top1_agreement": (
                float(frontend_top1[clip_of_ours == i].mean()) if np.any(clip_of_ours == i) else None
            ),
            "frontend_pearson": pearsons[i],
        }
        for i, clip in enumerate(clips)
    ]
    result = {
        "embedding_cosine_mean": float(cosine.mean()),
        "embedding_cosine_min": float(cosine.min()),
        "top1_agreement": float(top1.mean()),
        "frontend_top1_agreement": float(frontend_top1.mean()) if len(frontend_top1) else float("nan"),
        "frontend_pearson": float(np.mean(pearsons)),
        "clips": len(clips),
        "patches": int(len(cosine)),
        "frontend_patches": int(len(frontend_top1)),
        "per_clip": per_clip,
    }
    result["passed"] = bool(
        result["embedding_cosine_mean"] >= EMBEDDING_COSINE_BAR
        and result["top1_agreement"] >= TOP1_BAR
        and result["frontend_top1_agreement"] >= FRONTEND_TOP1_BAR
    )
    return result
