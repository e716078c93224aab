"""Model-randomisation sanity check (Adebayo et al. 2018) for any explainer.

An explanation that stays the same when the model's learned weights are destroyed
explains the input, not the model. On a copy of the model (never the original),
the classifier head is re-initialised first, then, cascading from the top, one more
backbone block of every branch per stage; at each stage the attribution is recomputed
with the same explainer and compared with the original map by Spearman rank
correlation (signed and of magnitudes). A trustworthy method shows falling correlation.

What is re-initialised
----------------------
* **head**: every layer with a kernel (dense layers) downstream of the branch
  embeddings. The head's frozen standardisation (training-data statistics, not learned
  weights) and fixed fusion weights are kept.
* **backbone block**: walking a branch from its embedding down, one block is a
  convolution or dense layer together with the normalisation layers that follow it; a
  depthwise convolution belongs to the pointwise convolution it feeds (one MobileNet
  block in YAMNet).

Each weight is drawn again from the layer's own initializer (seeded, so runs repeat).
A map that becomes constant has no ranking: its correlation is NaN.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from seraudit.xai.metrics.base import Metric, MetricContext, MetricResult

# Variable name -> layer attributes that hold its initializer (first one present wins).
_INITIALIZER_ATTRS = {
    "kernel": ("kernel_initializer", "depthwise_initializer"),
    "depthwise_kernel": ("depthwise_initializer",),
    "pointwise_kernel": ("pointwise_initializer",),
    "bias": ("bias_initializer",),
    "gamma": ("gamma_initializer",),
    "beta": ("beta_initializer",),
    "moving_mean": ("moving_mean_initializer",),
    "moving_variance": ("moving_variance_initializer",),
}


def _has_kernel(layer) -> bool:
    return any(v.name.endswith("kernel") for v in layer.weights)


def _is_depthwise(layer) -> bool:
    return type(layer).__name__ == "DepthwiseConv2D"


def randomisation_stages(model, n_blocks: int = 3) -> list[tuple[str, list[str]]]:
    """The cascade: ``[(stage name, layer names re-initialised at that stage, cumulative), ...]``.

    Stage 0 is the head; stage k adds the k-th block from the top of every branch.
    Stops early when every branch has run out of blocks.
    """
    import keras

    km = model.keras_model
    backbone_layers: set[str] = set()
    branch_blocks: dict[str, list[list[str]]] = {}
    for branch, emb_name in model.embedding_layers.items():
        sub = keras.Model(km.inputs, km.get_layer(emb_name).output)
        ordered = [layer for layer in sub.layers if layer.weights]
        backbone_layers.update(layer.name for layer in sub.layers)
        blocks: list[list[str]] = []
        for layer in ordered:
            starts_block = _has_kernel(layer) and not (
                blocks and _is_depthwise(km.get_layer(blocks[-1][-1])) and not _is_depthwise(layer)
            )
            if starts_block or not blocks:
                blocks.append([layer.name])
            else:
                blocks[-1].append(layer.name)
        branch_blocks[branch] = blocks[::-1]  # top first
    head = [layer.name for layer in km.layers if layer.name not in backbone_layers and _has_kernel(layer)]
    stages = [("head", list(head))]
    cumulative = list(head)
    depth = max((len(b) for b in branch_blocks.values()), default=0)
    for k in range(min(n_blocks, depth)):
        for branch, blocks in branch_blocks.items():
            if k < len(blocks):
                cumulative.extend(blocks[k])
        stages.append((f"head + top {k + 1} block{'s' if k else ''}", list(cumulative)))
    return stages


def reinitialise_layers(keras_model, layer_names: Sequence[str], seed: int = 0) -> None:
    """Draw every weight of the named layers again from the layer's initializer (in place, seeded)."""
    import keras

    for i, name in enumerate(layer_names):
        layer = keras_model.get_layer(name)
        for j, var in enumerate(layer.weights):
            init = None
            for attr in _INITIALIZER_ATTRS.get(var.name, ()):
                init = getattr(layer, attr, None)
                if init is not None:
                    break
            if init is None:
                init = keras.initializers.Zeros() if var.name == "bias" else keras.initializers.GlorotUniform()
            init = keras.initializers.get(init)
            config = init.get_config()
            if "seed" in config:
                init = type(init).from_config({**config, "seed": seed * 100_003 + i * 101 + j})
            var.assign(np.asarray(init(tuple(var.shape), dtype=var.dtype)))


def model_copy(model):
    """A `TrainedModel` sharing nothing mutable with `model`: cloned graph with copied weights."""
    import keras

    clone = keras.models.clone_model(model.keras_model)
    clone.set_weights(model.keras_model.get_weights())
    if dataclasses.is_dataclass(model):
        fields = {f.name for f in dataclasses.fields(model) if f.init}
        kwargs = {name: getattr(model, name) for name in fields}
        kwargs["keras_model"] = clone
        return type(model)(**kwargs)
    other = copy.copy(model)
    other.keras_model = clone
    return other


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def model_randomisation(
    model,
    explainers: Mapping[str, Any] | Sequence[Any],
    clip,
    target: int | None = None,
    *,
    n_blocks: int = 3,
    seed: int = 0,
    originals: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Cascading model-randomisation check of each explainer on one clip.

    Parameters
    ----------
    model : TrainedModel
        The trained model; it is copied, never modified.
    explainers : dict name -> explainer, or list of explainers
        Anything with ``explain(model, clip, target) -> Attribution``.
    clip : ClipFeatures
        The clip explained.
    target : int, optional
        Class explained at every stage (default: the original model's prediction), held
        fixed so the randomised model is asked the same question.
    n_blocks : int
        Number of backbone blocks (per branch) added after the head, one per stage.
    originals : dict name -> Attribution, optional
        Already computed attributions of the original model (recomputed when absent).

    Returns
    -------
    DataFrame
        One row per method and stage: ``method, model, stage, stage_name, n_layers,
        layers, spearman, spearman_abs, target_probability``.
    """
    if not isinstance(explainers, Mapping):
        explainers = {getattr(e, "method", type(e).__name__): e for e in explainers}
    if target is None:
        target = int(np.argmax(model.predict_clip(clip).probabilities))
    target = int(target)
    originals = dict(originals or {})
    for name, explainer in explainers.items():
        if name not in originals:
            originals[name] = explainer.explain(model, clip, target)

    stages = randomisation_stages(model, n_blocks)
    randomised = model_copy(model)
    done: set[str] = set()
    rows = []
    for stage, (stage_name, layers) in enumerate(stages):
        new = [name for name in layers if name not in done]
        reinitialise_layers(randomised.keras_model, new, seed=seed + stage)
        done.update(new)
        if hasattr(randomised, "_predict_fn"):
            randomised._predict_fn = None
        probability = float(randomised.predict_clip(clip).probabilities[target])
        for name, explainer in explainers.items():
            reference = np.asarray(originals[name].clip_map)
            current = np.asarray(explainer.explain(randomised, clip, target).clip_map)
            rows.append(
                {
                    "method": name,
                    "model": model.name,
                    "stage": stage,
                    "stage_name": stage_name,
                    "n_layers": len(layers),
                    "layers": ",".join(layers),
                    "spearman": _spearman(reference, current),
                    "spearman_abs": _spearman(np.abs(reference), np.abs(current)),
                    "target_probability": probability,
                }
            )
    return pd.DataFrame(rows)


def _plain(value: Any) -> Any:
    """A table scalar as the index stores it: numpy numbers become Python ones, NaN becomes null."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def summarise_randomisation(tables: Sequence[pd.DataFrame], clips: Sequence[str], seconds: float) -> dict[str, Any]:
    """The model-randomisation check over audited clips, as ``audit.json`` stores it under ``"sanity"``.

    ``tables`` are `model_randomisation` tables, each with a ``clip`` column. ``rows``: per
    model and method, the mean Spearman correlation at the last (most randomised) stage;
    ``stages``: the mean at every stage.
    """
    if not tables:
        return {"rows": [], "stages": [], "seconds": 0.0}
    table = pd.concat(tables, ignore_index=True)
    last_stage = table.groupby(["model", "method"])["stage"].transform("max") == table["stage"]
    summary = (
        table[last_stage].groupby(["model", "method"])
        .agg(spearman=("spearman", "mean"), n_clips=("clip", "nunique"), stage_name=("stage_name", "first"))
        .reset_index()
    )
    stages = (
        table.groupby(["model", "method", "stage", "stage_name"])["spearman"].mean().reset_index().to_dict("records")
    )
    return {
        "rows": [{k: _plain(v) for k, v in row.items()} for row in summary.to_dict("records")],
        "stages": [{k: _plain(v) for k, v in row.items()} for row in stages],
        "clips": list(clips),
        "seconds": seconds,
    }


# --------------------------------------------------------------------------- member of the metric family
@dataclasses.dataclass(frozen=True)
class ModelRandomisation(Metric):
    """Rank correlation between a method's map and its map of the most randomised model (lower is better).

    The cascade runs once per clip and model for every method of the context (its
    ``explainers``, with the context's ``attributions`` as the originals) and is shared.
    """

    n_blocks: int = 3
    seed: int = 0

    id: ClassVar[str] = "model_randomisation"
    name: ClassVar[str] = "Model randomisation"
    description: ClassVar[str] = ("Spearman rank correlation between a method's map and its map once the model's "
                                  "weights are re-initialised from the head down: a map that explains the model "
                                  "must change (lower is better).")
    higher_is_better: ClassVar[bool] = False
    threshold: ClassVar[float | None] = 0.5
    on_every_clip: ClassVar[bool] = False
    check_title: ClassVar[str] = "{method} changes when {model} is randomised"
    not_run_title: ClassVar[str | None] = "model-randomisation check"
    not_run_value: ClassVar[str] = "not run on this audit (use --sanity N)"
    index_key: ClassVar[str | None] = "sanity"

    @classmethod
    def from_settings(cls, settings: Any) -> "ModelRandomisation":
        return cls(n_blocks=settings.sanity_blocks, seed=settings.seed)

    def __call__(self, context: MetricContext) -> MetricResult:
        key = ("model_randomisation", context.model.name, context.target, self.n_blocks, self.seed)
        table = context.memo(key, lambda: model_randomisation(
            context.model, dict(context.explainers), context.clip, context.target,
            n_blocks=self.n_blocks, seed=self.seed, originals=dict(context.attributions)))
        own = table[table["method"] == context.method]
        last = own[own["stage"] == own["stage"].max()]
        return self.result(float(last["spearman"].iloc[0]), rows=own.to_dict("records"),
                           stage_name=str(last["stage_name"].iloc[0]))

    @classmethod
    def summary_extras(cls, results: list[MetricResult]) -> dict[str, Any]:
        return {"stage_name": results[0].details["stage_name"]} if results else {}

    @classmethod
    def describe(cls, cell: Mapping[str, Any]) -> str:
        rho, n = cell.get("value"), int(cell.get("n_clips") or 0)
        if rho is None:
            return "no rank correlation (constant maps)"
        clips = f"{n} clip" if n == 1 else f"{n} clips"
        return (f"rank correlation {rho:.2f} after randomising {cell.get('stage_name') or 'the model'} "
                f"({clips}; passes below {cls.threshold})")

    @classmethod
    def legacy_summary(cls, index: Mapping[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for row in (index.get("sanity") or {}).get("rows", []):
            out.setdefault(row.get("model"), {})[row.get("method")] = {
                "value": row.get("spearman"), "control": None, "n_clips": int(row.get("n_clips") or 0),
                "beats_control": None, "gain_ci": None, "stage_name": row.get("stage_name"),
            }
        return out

    @classmethod
    def index_entry(cls, results: list[tuple[str, MetricResult]], seconds: float) -> dict[str, Any]:
        """``audit.json["sanity"]``: every clip's per-stage rows, summarised."""
        tables = [pd.DataFrame(list(result.details["rows"])).assign(clip=clip) for clip, result in results]
        return summarise_randomisation(tables, list(dict.fromkeys(clip for clip, _ in results)), seconds)
