"""Model-randomisation sanity check (Adebayo et al. 2018) for any explainer.

An explanation that stays the same when the model's learned weights are destroyed
explains the input, not the model. On a copy of the model (never the original),
the classifier head is re-initialised first, then, cascading from the top, one more
backbone block of every branch per stage; at each stage the attribution is recomputed
with the same explainer and compared with the original map. A trustworthy method shows
falling similarity. Every stage is recorded, so the report draws the cascade.

Similarity (sign-free)
----------------------
`map_similarity`: Spearman rank correlation of the **absolute** maps, as Adebayo et al.
do, so a map and its negation score the same. The signed correlation let a method pass
by flipping sign (VGGish occlusion at rho = -0.74 "passed" before): a map whose
importance pattern is unchanged but negated has not stopped depending on the input
alone. A constant map has no ranking: two constant maps score 1, a constant map against
a varied one 0 (the importance pattern is gone).

Calibrated threshold
--------------------
Part of any similarity comes from the clip itself (energy, onsets), whatever the weights.
To measure it, the most randomised stage is drawn **twice**, with independent seeds,
and the two random-weight models' maps are compared: the ``control`` (floor) is the
similarity that needs no learned weight at all. An unchanged model reproduces its map
(similarity 1: the explainers are seeded). The clip's threshold is the midpoint,
``(1 + control) / 2``: the check passes when randomising the weights removes more than
half of the similarity above what two random models share. Over clips it **fails** when
the mean similarity is not below the mean threshold, **passes** when it is and the 95 %
bootstrap interval of the per-clip margin (threshold minus similarity) lies above 0, and
**warns** otherwise. A method that ignores the weights scores 1 against a threshold of 1
and fails; a method whose random-model maps are noise scores about 0 against about 0.5
and passes.

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
The randomised copies cannot share the audit's frozen-tower memo (their weights differ
from every trained tower's), so the check costs one explanation per method per stage,
plus one for the control; `summarise_randomisation` records the seconds per clip and model.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from seraudit.xai.explainers.gradcam import sharing_gradient_passes
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


#: Seed offset of the second, independent draw of the most randomised stage (the control).
CONTROL_SEED_OFFSET = 7919


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.nan_to_num(np.ravel(a).astype(np.float64)), np.nan_to_num(np.ravel(b).astype(np.float64))
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def map_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Sign-free similarity of two maps of one clip: Spearman rank correlation of their absolute values.

    ``map_similarity(a, b) == map_similarity(-a, b)``. Two constant maps score 1 (neither ranks
    anything), a constant map against a varied one 0; NaN cells count as 0.
    """
    a = np.abs(np.nan_to_num(np.ravel(a).astype(np.float64)))
    b = np.abs(np.nan_to_num(np.ravel(b).astype(np.float64)))
    flat_a, flat_b = a.std() == 0, b.std() == 0
    if flat_a or flat_b:
        return 1.0 if flat_a and flat_b else 0.0
    return float(spearmanr(a, b).statistic)


def randomisation_threshold(control: float) -> float:
    """The clip's calibrated threshold: halfway between an unchanged map (1) and two random-weight models' maps."""
    return (1.0 + float(control)) / 2.0


def model_randomisation(
    model,
    explainers: Mapping[str, Any] | Sequence[Any],
    clip,
    target: int | None = None,
    *,
    n_blocks: int = 3,
    seed: int = 0,
    originals: Mapping[str, Any] | None = None,
    control: bool = True,
    frozen_memo: Any = None,
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
    control : bool
        Also draw the most randomised stage a second time (seed + `CONTROL_SEED_OFFSET`) and
        compare the two random-weight models' maps (the check's control and threshold).
    frozen_memo : EmbeddingMemo, optional
        Where the trained part's outputs are kept (`FrozenBelow`); pass one memo to the checks of
        the models of one clip so a backbone they share runs once.

    Returns
    -------
    DataFrame
        One row per method and stage: ``method, model, stage, stage_name, n_layers,
        layers, similarity`` (sign-free, `map_similarity`), ``spearman`` (signed, for reference),
        ``spearman_abs`` (= similarity), ``target_probability``, and on the last stage's rows
        ``control`` (the two random-weight models' similarity) and ``threshold``
        (`randomisation_threshold`), NaN on the other stages.
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
    frozen = (FrozenBelow(model, [layers for _, layers in stages], frozen_memo)
              if stages and hasattr(model, "keras_model") else None)
    done: set[str] = set()
    rows = []
    last_maps: dict[str, np.ndarray] = {}
    for stage, (stage_name, layers) in enumerate(stages):
        new = [name for name in layers if name not in done]
        reinitialise_layers(randomised.keras_model, new, seed=seed + stage)
        done.update(new)
        _forget_compiled(randomised)
        if frozen is not None:
            frozen.install(randomised, stage)
        probability = float(randomised.predict_clip(clip).probabilities[target])
        with sharing_gradient_passes():  # the weights hold still while every method explains this stage
            current_maps = {name: np.asarray(explainer.explain(randomised, clip, target).clip_map)
                            for name, explainer in explainers.items()}
        for name in explainers:
            reference = np.asarray(originals[name].clip_map)
            current = current_maps[name]
            last_maps[name] = current
            rows.append(
                {
                    "method": name,
                    "model": model.name,
                    "stage": stage,
                    "stage_name": stage_name,
                    "n_layers": len(layers),
                    "layers": ",".join(layers),
                    "similarity": map_similarity(reference, current),
                    "spearman": _spearman(reference, current),
                    "spearman_abs": map_similarity(reference, current),
                    "target_probability": probability,
                    "control": float("nan"),
                    "threshold": float("nan"),
                }
            )
    if control and stages:
        # A second, independent draw of every layer of the last stage: what two random-weight models share.
        reinitialise_layers(randomised.keras_model, stages[-1][1], seed=seed + CONTROL_SEED_OFFSET)
        _forget_compiled(randomised)
        last = len(stages) - 1
        if frozen is not None:
            frozen.install(randomised, last)
        with sharing_gradient_passes():
            others = {name: np.asarray(explainer.explain(randomised, clip, target).clip_map)
                      for name, explainer in explainers.items()}
        for name in explainers:
            floor = map_similarity(last_maps[name], others[name])
            for row in rows:
                if row["method"] == name and row["stage"] == last:
                    row["control"], row["threshold"] = floor, randomisation_threshold(floor)
    return pd.DataFrame(rows)


def _parents(layer) -> list[str]:
    """Names of the layers whose outputs `layer` reads (a flat graph calls each layer once)."""
    nodes = getattr(layer, "_inbound_nodes", None) or []
    return [parent.operation.name for parent in nodes[0].parent_nodes] if nodes else []


def frontier_layers(keras_model, changed: Sequence[str]) -> list[str]:
    """Where the unchanged part of the graph ends: layers not downstream of `changed` whose outputs feed one that is.

    Re-initialising `changed` alters those layers and everything they feed; every other
    layer computes what the trained model computes, so its outputs can be taken from the
    trained graph.
    """
    changed = set(changed)
    upper: set[str] = set()
    layers = list(keras_model.layers)
    grew = True
    while grew:  # to a fixpoint, whatever the order of `layers`
        grew = False
        for layer in layers:
            if layer.name not in upper and (layer.name in changed or any(p in upper for p in _parents(layer))):
                upper.add(layer.name)
                grew = True
    frontier: list[str] = []
    for layer in layers:
        if layer.name in upper:
            frontier += [p for p in _parents(layer) if p not in upper and p not in frontier]
    return frontier


#: Memory the frozen part's outputs may hold per clip before the memo empties itself.
FROZEN_MEMO_BYTES = 512 * 2**20


def _ancestors(keras_model, name: str) -> set[str]:
    """Every layer that feeds layer `name`, directly or not (the graph's inputs included)."""
    seen: set[str] = set()
    stack = [keras_model.get_layer(name)]
    while stack:  # through operations, not layer names: a graph may hold unnamed ops (slicing, arithmetic)
        nodes = getattr(stack.pop(), "_inbound_nodes", None) or []
        for parent in (nodes[0].parent_nodes if nodes else []):
            if parent.operation.name not in seen:
                seen.add(parent.operation.name)
                stack.append(parent.operation)
    return seen


def branch_parts(keras_model, names: Sequence[str]) -> list[list[str]]:
    """`names` grouped by the part of the graph that computes them: layers whose computations share a layer (other
    than the inputs) go together, so each group is one backbone's tower in a flat multi-branch graph."""
    inputs = {t._keras_history.operation.name for t in keras_model.inputs}
    groups: list[tuple[set[str], list[str]]] = []
    for name in names:
        own = (_ancestors(keras_model, name) - inputs) | {name}
        joined = [g for g in groups if g[0] & own]
        for g in joined:
            groups.remove(g)
            own |= g[0]
        groups.append((own, [n for g in joined for n in g[1]] + [name]))
    return [sorted(members) for _, members in groups]


class FrozenBelow:
    """The trained part of a randomised copy computed once per distinct patch, shared by every stage and the control.

    The cascade re-initialises the head and then the top blocks; all layers below the
    lowest re-initialised block keep the trained weights. Their outputs (the *frontier*
    of each stage) come from one pass of the trained graph per distinct patch (the
    perturbation methods score the same seeded variants at every stage), and each
    stage only runs its re-initialised upper part. Gradient methods read the copy's
    own graph and are unaffected. The maps are those of the randomised model: only
    where its unchanged layers' outputs come from differs.

    The frontier is computed per backbone (`branch_parts`), each part keyed by a digest of its
    weights, in `memo`: the models of one clip that share a backbone (the ensemble's VGGish
    tower and the VGGish model's) then run it once for all of them.
    """

    def __init__(self, model, stage_layers: Sequence[Sequence[str]], memo=None):
        import keras
        import tensorflow as tf

        from seraudit.ensemble.inference.shared_backbones import EmbeddingMemo, weights_digest

        km = model.keras_model
        self.frontiers = [frontier_layers(km, layers) for layers in stage_layers]
        names = list(dict.fromkeys(name for frontier in self.frontiers for name in frontier))
        self.parts = branch_parts(km, names)
        self.lower_fns, self.digests, self.widths = {}, {}, []
        self.where: dict[str, tuple[int, int, int, tuple[int, ...]]] = {}  # layer -> (part, start, end, shape)
        spec = [tf.TensorSpec([None, *km.input_shape[1:]], tf.float32)]
        for i, part in enumerate(self.parts):
            outputs = [km.get_layer(name).output for name in part]
            offset = 0
            for name, tensor in zip(part, outputs):
                shape = tuple(int(d) for d in tensor.shape[1:])
                self.where[name] = (i, offset, offset + int(np.prod(shape)), shape)
                offset += int(np.prod(shape))
            self.widths.append(offset)
            lower = keras.Model(km.inputs, outputs)

            def flat(x, lower=lower):
                parts = lower(x, training=False)
                parts = parts if isinstance(parts, (list, tuple)) else [parts]
                return tf.concat([tf.reshape(t, [tf.shape(t)[0], -1]) for t in parts], axis=1)

            self.lower_fns[f"frozen{i}"] = tf.function(flat, input_signature=spec, reduce_retracing=True)
            self.digests[f"frozen{i}"] = "frozen:" + weights_digest(lower.weights) + ":" + ",".join(part)
        self.memo = memo if memo is not None else EmbeddingMemo(max_bytes=FROZEN_MEMO_BYTES)

    def install(self, randomised, stage: int) -> None:
        """Route the copy's patch predictions through the frozen outputs and stage `stage`'s upper part."""
        import keras
        import tensorflow as tf

        km = randomised.keras_model
        frontier = self.frontiers[stage]
        upper = keras.Model([km.get_layer(name).output for name in frontier], km.output)
        picks = [self.where[name] for name in frontier]

        def head(*flats):
            parts = [tf.reshape(flats[i][:, a:b], [-1, *shape]) for i, a, b, shape in picks]
            return upper(parts if len(parts) > 1 else parts[0], training=False)

        signature = [tf.TensorSpec([None, width], tf.float32) for width in self.widths]
        randomised._split_fns = (dict(self.lower_fns), tf.function(head, input_signature=signature, reduce_retracing=True))
        randomised.tower_digests = dict(self.digests)
        randomised.embedding_memo = self.memo


def _forget_compiled(model) -> None:
    """Drop a cached prediction function built for the weights before they were drawn again."""
    if hasattr(model, "_predict_fn"):
        model._predict_fn = None


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
    model and method at the last (most randomised) stage, the mean sign-free ``similarity``,
    its ``control`` (two random-weight models) and ``threshold``, and the signed ``spearman``
    for reference; ``stages``: the mean similarity at every stage (the cascade the report
    draws); ``seconds`` in all and ``seconds_per_clip_model``.
    """
    if not tables:
        return {"rows": [], "stages": [], "seconds": 0.0}
    table = pd.concat(tables, ignore_index=True)
    if "similarity" not in table:  # tables written before the sign-free similarity
        table = table.assign(similarity=table.get("spearman_abs", table["spearman"]))
    for column in ("control", "threshold"):
        if column not in table:
            table[column] = np.nan
    last_stage = table.groupby(["model", "method"])["stage"].transform("max") == table["stage"]
    summary = (
        table[last_stage].groupby(["model", "method"])
        .agg(similarity=("similarity", "mean"), control=("control", "mean"), threshold=("threshold", "mean"),
             spearman=("spearman", "mean"), n_clips=("clip", "nunique"), stage_name=("stage_name", "first"))
        .reset_index()
    )
    stages = (
        table.groupby(["model", "method", "stage", "stage_name"])
        .agg(similarity=("similarity", "mean"), spearman=("spearman", "mean"), n_clips=("clip", "nunique"))
        .reset_index().to_dict("records")
    )
    pairs = table[["clip", "model"]].drop_duplicates().shape[0]
    return {
        "rows": [{k: _plain(v) for k, v in row.items()} for row in summary.to_dict("records")],
        "stages": [{k: _plain(v) for k, v in row.items()} for row in stages],
        "clips": list(clips),
        "seconds": seconds,
        "seconds_per_clip_model": seconds / pairs if pairs else None,
    }


# --------------------------------------------------------------------------- member of the metric family
@dataclasses.dataclass(frozen=True)
class ModelRandomisation(Metric):
    """Sign-free similarity between a method's map and its map of the most randomised model (lower is better).

    The value is `map_similarity` (Spearman of absolute maps) at the last stage of the
    cascade; the control is the similarity of two independently randomised models' maps
    of the same clip; the clip's threshold is `randomisation_threshold` (see the module
    docstring for the rule). The cascade runs once per clip and model for every method of
    the context (its ``explainers``, with the context's ``attributions`` as the originals)
    and is shared.
    """

    n_blocks: int = 3
    seed: int = 0

    id: ClassVar[str] = "model_randomisation"
    name: ClassVar[str] = "Model randomisation"
    description: ClassVar[str] = ("Rank correlation of absolute maps (sign-free) between a method's map and its map "
                                  "once the model's weights are re-initialised from the head down, stage by stage: a "
                                  "map that explains the model must change (lower is better).")
    higher_is_better: ClassVar[bool] = False
    control_name: ClassVar[str | None] = "two random-weight models"
    threshold_rule: ClassVar[str | None] = (
        "calibrated per clip: halfway between an unchanged map (1) and the similarity of two independently "
        "randomised models' maps of the same clip; passes when the mean similarity is below the mean threshold and "
        "the 95 % bootstrap interval of the per-clip margin lies above 0, fails when it is not below")
    on_every_clip: ClassVar[bool] = False
    check_title: ClassVar[str] = "{method} changes when {model} is randomised"
    not_run_title: ClassVar[str | None] = "model-randomisation check"
    not_run_value: ClassVar[str] = "not run on this audit (`sanity=N` from Python, `--sanity N` on the command line)"
    index_key: ClassVar[str | None] = "sanity"

    @classmethod
    def from_settings(cls, settings: Any) -> "ModelRandomisation":
        return cls(n_blocks=settings.sanity_blocks, seed=settings.seed)

    def __call__(self, context: MetricContext) -> MetricResult:
        key = ("model_randomisation", context.model.name, context.target, self.n_blocks, self.seed)

        def cascade():
            from seraudit.ensemble.inference.shared_backbones import EmbeddingMemo

            started = time.perf_counter()
            memo = context.memo("frozen-below memo", lambda: EmbeddingMemo(max_bytes=FROZEN_MEMO_BYTES))  # the clip's
            table = model_randomisation(
                context.model, dict(context.explainers), context.clip, context.target,
                n_blocks=self.n_blocks, seed=self.seed, originals=dict(context.attributions), frozen_memo=memo)
            return table, time.perf_counter() - started

        table, seconds = context.memo(key, cascade)
        own = table[table["method"] == context.method]
        last = own[own["stage"] == own["stage"].max()]
        row = last.iloc[0]
        return self.result(float(row["similarity"]), float(row["control"]), threshold=float(row["threshold"]),
                           rows=own.to_dict("records"), stage_name=str(row["stage_name"]), seconds=seconds)

    @classmethod
    def summary_extras(cls, results: list[MetricResult]) -> dict[str, Any]:
        return {"stage_name": results[0].details.get("stage_name")} if results and results[0].details else {}

    @classmethod
    def describe(cls, cell: Mapping[str, Any]) -> str:
        rho, n = cell.get("value"), int(cell.get("n_clips") or 0)
        if rho is None:
            return "no similarity (no map)"
        clips = f"{n} clip" if n == 1 else f"{n} clips"
        text = (f"rank correlation of |maps| {rho:.2f} after randomising {cell.get('stage_name') or 'the model'} "
                f"({clips})")
        threshold, control = cell.get("threshold", cls.threshold), cell.get("control")
        if control is not None:
            text += f"; two random-weight models {control:.2f}"
        if threshold is not None:
            text += f"; passes below {threshold:.2f}"
        ci = cell.get("margin_ci")
        if ci:
            text += f", margin 95 % CI [{ci[0]:+.3f}, {ci[1]:+.3f}]"
        elif "margin_ci" in cell:
            text += ", no interval (too few clips, or no spread)"
        return text

    @classmethod
    def legacy_summary(cls, index: Mapping[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
        """Cells of an audit written before the metrics section: its ``sanity`` rows (the signed correlation before
        the sign-free one, with no control and no threshold: the check warns)."""
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for row in (index.get("sanity") or {}).get("rows", []):
            out.setdefault(row.get("model"), {})[row.get("method")] = {
                "value": row.get("similarity", row.get("spearman")), "control": row.get("control"),
                "n_clips": int(row.get("n_clips") or 0), "beats_control": None, "gain_ci": None,
                "stage_name": row.get("stage_name"), "threshold": row.get("threshold"),
            }
        return out

    @classmethod
    def index_entry(cls, results: list[tuple[str, MetricResult]], seconds: float) -> dict[str, Any]:
        """``audit.json["sanity"]``: every clip's per-stage rows, summarised."""
        tables = [pd.DataFrame(list(result.details["rows"])).assign(clip=clip) for clip, result in results]
        return summarise_randomisation(tables, list(dict.fromkeys(clip for clip, _ in results)), seconds)
