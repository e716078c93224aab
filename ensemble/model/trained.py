"""A trained emotion model as the rest of the tool sees it: one flat Keras graph plus its metadata.

Every model (YAMNet-only, VGGish-only, fused ensemble) maps a batch of log-mel
patches ``[B, 96, 64]`` (input layer ``"log_mel"``) to softmax probabilities
``[B, C]``; the layer named ``"logits"`` holds the pre-softmax class scores.
Explainers reach each branch's last convolution and embedding by the layer
names in ``conv_layers`` / ``embedding_layers``.

Clip-level pooling
------------------
A clip's prediction pools the patches that Gaussian data selection (GDS)
kept. By default (``pooling="mean"``) the graph scores each patch and the rule
of `ensemble.model.clip_pooling` pools their probabilities: the mean of the patch
log-probabilities, renormalised (a geometric mean of the patch distributions).
A model trained with statistics or attentive pooling pools inside its graph
(`ensemble.model.pooling_layers`): one call reads one clip's kept patches, and an
attentive model also says how much each patch weighed (``ClipPrediction.attention``).
A clip with no kept patch falls back to all of its patches, and says so
(``ClipPrediction.used_all_patches``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from seraudit.core.errors import RunError
from seraudit.core.io import read_json
from seraudit.ensemble.model.naming import display_name
from seraudit.ensemble.model.clip_pooling import clip_keep, kept_mask, pool_by_clip, pool_log_probabilities

MODEL_FILES = ("config.json", "labels.json", "provenance.json", "model.weights.h5")


@dataclass
class ClipPrediction:
    """One clip's pooled prediction, with the patch-level evidence it came from."""

    label: str
    probabilities: np.ndarray  # [C], order of `labels`
    labels: list[str]
    patch_probabilities: np.ndarray  # [N, C] for every patch of the clip
    kept: np.ndarray  # [N] bool: patches that entered the pooled prediction
    used_all_patches: bool
    attention: dict[str, np.ndarray] = field(default_factory=dict)  # head -> [N] weight of each patch (0: not pooled)

    def as_dict(self) -> dict[str, Any]:
        out = {
            "label": self.label,
            "probabilities": {lab: float(p) for lab, p in zip(self.labels, self.probabilities)},
            "patches_used": int(self.kept.sum()),
            "patches_total": int(self.kept.size),
        }
        if self.attention:  # attentive pooling: where the model's own pooling listened, patch by patch
            out["attention"] = {head: [round(float(w), 6) for w in weights] for head, weights in self.attention.items()}
        return out

    def _repr_html_(self) -> str:
        """In Jupyter: the class probabilities, most likely first, and how many patches were pooled."""
        from seraudit.core.notebook import html_table

        order = np.argsort(-np.asarray(self.probabilities), kind="stable")
        rows = [(("▶ " if self.labels[i] == self.label else "") + self.labels[i], float(self.probabilities[i])) for i in order]
        caption = (f"{self.label} — {int(self.kept.sum())} of {int(self.kept.size)} patches pooled"
                   f"{' (no patch kept: all pooled)' if self.used_all_patches else ''}")
        return html_table(("class", "probability"), rows, caption=caption)


@dataclass
class TrainedModel:
    """A trained emotion model: one flat Functional graph ``log_mel [B,96,64] -> probabilities [B,C]``."""

    name: str  # "ensemble", "yamnet", "vggish"
    keras_model: Any  # keras.Model
    labels: list[str]
    conv_layers: dict[str, str]  # branch -> its last conv layer name
    embedding_layers: dict[str, str]  # branch -> embedding layer name
    branch_untrained: dict[str, bool]  # branch -> True when that backbone has untrained weights
    fusion: str | None  # "late", "feature" or None for single models
    provenance: dict = field(default_factory=dict, repr=False)  # long: kept out of the repr
    pooling: str = "mean"  # "mean": patch outputs pooled after the graph; "stats"/"attentive": pooled in the graph
    attention_layers: dict[str, str] = field(default_factory=dict)  # head -> its attention layer (attentive pooling)
    embedding_memo: Any = field(default=None, init=False, repr=False)  # set by `sharing_backbones`
    tower_digests: dict[str, str] = field(default_factory=dict, init=False, repr=False)  # set by `sharing_backbones`
    _predict_fn: Any = field(default=None, init=False, repr=False)
    _split_fns: Any = field(default=None, init=False, repr=False)  # (tower fns, head fn)
    _attention_fn: Any = field(default=None, init=False, repr=False)

    @property
    def untrained_branches(self) -> list[str]:
        return sorted(b for b, untrained in self.branch_untrained.items() if untrained)

    @property
    def is_untrained(self) -> bool:
        """True when any backbone of the model has untrained (random) weights."""
        return bool(self.untrained_branches)

    @property
    def display_name(self) -> str:
        return display_name(self.name, self.fusion, self.untrained_branches)

    @property
    def pools_in_graph(self) -> bool:
        """True when the graph pools a clip itself: one call must hold exactly one clip's pooled patches."""
        return self.pooling != "mean"

    def predict_patches(self, patches: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Class probabilities ``[N, C]`` for log-mel patches ``[N, 96, 64]`` (batched, compiled once).

        A model that pools in its graph scores each patch as a one-patch clip.
        """
        patches = self._checked(patches)
        if len(patches) == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        if self.pools_in_graph:
            return self.predict_clips(patches[:, None], batch_size).astype(np.float32)
        return self._graph_outputs(patches, batch_size)

    def predict_clips(self, patch_sets: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Clip probabilities ``[S, C]`` of S clips, each given by the patches it pools ``[S, K, 96, 64]`` (K >= 1)."""
        patch_sets = np.asarray(patch_sets, dtype=np.float32)
        if patch_sets.ndim != 4 or patch_sets.shape[1] == 0:
            raise ValueError(f"need the pooled patches of each clip [S, K>0, 96, 64], got shape {patch_sets.shape}")
        s, k = patch_sets.shape[:2]
        flat = self._checked(patch_sets.reshape(s * k, *patch_sets.shape[2:]))
        if not self.pools_in_graph:
            return pool_by_clip(self._graph_outputs(flat, batch_size), np.repeat(np.arange(s), k), s)
        if self.embedding_memo is not None:  # towers through the shared memo for every patch, the head clip by clip
            tower_fns, head_fn = self._split()
            embeddings = self._memo_embeddings(flat, tower_fns, batch_size)
            rows = [_batched(head_fn, [e[i * k:(i + 1) * k] for e in embeddings], k)[0] for i in range(s)]
        else:
            if self._predict_fn is None:
                self._predict_fn = _compiled(self.keras_model)
            rows = [_batched(self._predict_fn, patch_sets[i], k)[0] for i in range(s)]
        probs = np.asarray(rows, dtype=np.float64)
        return probs / probs.sum(axis=1, keepdims=True)

    def attention(self, patches: np.ndarray) -> dict[str, np.ndarray]:
        """Each attentive head's weight ``[K]`` for the patches ``[K, 96, 64]`` of one clip (empty: no attention)."""
        if not self.attention_layers:
            return {}
        if self._attention_fn is None:
            import keras

            km = self.keras_model
            outputs = [km.get_layer(layer).output for layer in self.attention_layers.values()]
            self._attention_fn = _compiled(keras.Model(km.input, outputs))
        patches = self._checked(patches)
        out = self._attention_fn(patches)
        out = out if isinstance(out, (list, tuple)) else [out]
        return {head: np.asarray(w, np.float64)[:, 0] for head, w in zip(self.attention_layers, out)}

    def _checked(self, patches: np.ndarray) -> np.ndarray:
        patches = np.asarray(patches, dtype=np.float32)
        if patches.ndim != 3 or patches.shape[1:] != tuple(self.keras_model.input_shape[1:]):
            raise ValueError(
                f"{self.display_name} expects patches [N, {self.keras_model.input_shape[1]}, "
                f"{self.keras_model.input_shape[2]}], got {patches.shape}"
            )
        return patches

    def _graph_outputs(self, patches: np.ndarray, batch_size: int) -> np.ndarray:
        """The graph's output rows for `patches`, `batch_size` rows a call (patch-wise models only)."""
        if self.embedding_memo is not None:
            return self._predict_through_memo(patches, batch_size)
        if self._predict_fn is None:
            self._predict_fn = _compiled(self.keras_model)
        return _batched(self._predict_fn, patches, batch_size)

    def towers(self) -> dict[str, Any]:
        """Each branch's tower as a Keras model ``log_mel -> embedding`` (sharing this model's layers)."""
        import keras

        km = self.keras_model
        return {b: keras.Model(km.input, km.get_layer(layer).output) for b, layer in self.embedding_layers.items()}

    def _split(self):
        """Per-branch tower functions ``patches -> embedding`` and the head ``embeddings -> probabilities``."""
        if self._split_fns is None:
            import keras

            km = self.keras_model
            branches = list(self.embedding_layers)
            towers = self.towers()
            head = keras.Model([km.get_layer(self.embedding_layers[b]).output for b in branches], km.output)
            self._split_fns = (
                {b: _compiled(t) for b, t in towers.items()},
                _compiled(head, [tuple(towers[b].output.shape[1:]) for b in branches]),
            )
        return self._split_fns

    def _predict_through_memo(self, patches: np.ndarray, batch_size: int) -> np.ndarray:
        """Probabilities computed as tower embeddings (looked up in, or added to, the shared memo) then head."""
        tower_fns, head_fn = self._split()
        return _batched(head_fn, self._memo_embeddings(patches, tower_fns, batch_size), 4096)

    def _memo_embeddings(self, patches: np.ndarray, tower_fns: dict, batch_size: int) -> list[np.ndarray]:
        """Every branch's tower output for `patches`, looked up in (or added to) the shared memo."""
        from seraudit.ensemble.inference.shared_backbones import patch_digests

        keys = patch_digests(patches)
        return [
            self.embedding_memo.embed(self.tower_digests[b], keys, patches, lambda x, f=fn: _batched(f, x, batch_size))
            for b, fn in tower_fns.items()
        ]

    def predict_clip(self, clip) -> ClipPrediction:
        """Pooled prediction for a `ClipFeatures` over its GDS-kept patches (mean log-probability, renormalised, unless
        the graph pools them itself)."""
        patch_probs = self.predict_patches(clip.patches.data)
        keep = clip_keep(clip)
        attention = {}
        if self.pools_in_graph:
            kept, used_all = kept_mask(keep, len(patch_probs))
            patches = np.asarray(clip.patches.data, np.float32)
            probs = self.predict_clips(patches[kept][None])[0]
            for head, weights in self.attention(patches[kept]).items():
                attention[head] = np.zeros(len(kept))
                attention[head][kept] = weights
        else:
            probs, used_all = pool_log_probabilities(patch_probs, keep)
        return ClipPrediction(
            label=self.labels[int(np.argmax(probs))],
            probabilities=probs,
            labels=list(self.labels),
            patch_probabilities=patch_probs,
            kept=kept_mask(keep, len(patch_probs))[0],
            used_all_patches=used_all,
            attention=attention,
        )


def _compiled(keras_model, input_shapes: list[tuple] | None = None):
    """A traced-once inference function of `keras_model` (one input ``[B, 96, 64]`` unless `input_shapes` says otherwise)."""
    import tensorflow as tf

    shapes = input_shapes or [tuple(keras_model.input_shape[1:])]
    signature = [tf.TensorSpec([None, *shape], tf.float32) for shape in shapes]
    if input_shapes is None:
        return tf.function(lambda x: keras_model(x, training=False), input_signature=signature, reduce_retracing=True)
    return tf.function(lambda *xs: keras_model(list(xs), training=False), input_signature=signature, reduce_retracing=True)


def _batched(fn, inputs, batch_size: int) -> np.ndarray:
    """``fn`` over `inputs` (an array, or a list of arrays with aligned rows) in slices of `batch_size` rows."""
    import tensorflow as tf

    arrays = inputs if isinstance(inputs, list) else [inputs]
    n = len(arrays[0])
    out = [
        np.asarray(fn(*[tf.constant(np.asarray(a[i : i + batch_size], np.float32)) for a in arrays]))
        for i in range(0, n, batch_size)
    ]
    return np.concatenate(out, axis=0)


def model_dir(run_dir: str | Path, name: str) -> Path:
    return Path(run_dir) / "models" / name


def list_models(run_dir: str | Path) -> list[str]:
    """Names of the Keras models saved in a run directory."""
    root = Path(run_dir) / "models"
    return sorted(p.name for p in root.iterdir() if (p / "model.weights.h5").is_file()) if root.is_dir() else []


def _retrain(name: str, run_dir: Path) -> str:
    """The library call that trains model `name` into `run_dir` (the command line shows it as `seraudit train`)."""
    return f'`seraudit.train(..., models=["{name}"], out="{run_dir}")`'


def load_trained_model(run_dir: str | Path, name: str) -> TrainedModel:
    """Rebuild a saved model's graph from its config and load its weights (no backbone files needed)."""
    from seraudit.ensemble.model.graph import build_model

    run_dir = Path(run_dir)
    folder = model_dir(run_dir, name)
    if not run_dir.is_dir():
        raise RunError(f'run directory {run_dir} does not exist; train one with `seraudit.train(..., out="{run_dir}")`')
    missing = [f for f in MODEL_FILES if not (folder / f).is_file()]
    if missing:
        available = ", ".join(list_models(run_dir)) or "none"
        raise RunError(
            f"{folder} has no complete model '{name}' (missing {', '.join(missing)}); models in this run: "
            f"{available}. Retrain with {_retrain(name, run_dir)}"
        )
    fix = f"retrain with {_retrain(name, run_dir)}"
    config = read_json(folder / "config.json", "model config", fix, RunError)
    labels = read_json(folder / "labels.json", "model labels", fix, RunError)
    provenance = read_json(folder / "provenance.json", "model provenance", fix, RunError)
    built = build_model(config, n_classes=len(labels))
    try:
        built.keras_model.load_weights(folder / "model.weights.h5")
    except Exception as error:  # corrupt or mismatched weights file
        raise RunError(f"cannot load {folder / 'model.weights.h5'} ({error}); retrain the model") from error
    return TrainedModel(
        name=name,
        keras_model=built.keras_model,
        labels=list(labels),
        conv_layers=built.conv_layers,
        embedding_layers=built.embedding_layers,
        branch_untrained={b: bool(v) for b, v in config.get("branch_untrained", {}).items()},
        fusion=config.get("fusion"),
        provenance=provenance,
        pooling=built.spec.pooling,
        attention_layers=built.attention_layers,
    )
