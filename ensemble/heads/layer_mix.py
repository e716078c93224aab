"""A head on a learned softmax-weighted sum of several backbone layers, as SUPERB-style probes read a network.

Each layer's clip feature is standardised, the layers are mixed with weights
``softmax(s)`` learned together with the logistic regression on the mix, and
the regression is balanced and L2-penalised exactly as `ensemble.heads.linear`
does (``C`` means the same there and here). The layers must have one width.

Because the mix is linear, the fitted head is an ordinary `LinearHead` on the
concatenated layers (``coef = [a_1 W; a_2 W; ...]``, each block divided by its
layer's spread by the standardisation): the flat Keras graph, the patch-level
pooling and every explainer stay as they are, and only the fit differs.

Auxiliary tasks (multitask learning: a corpus's gender or intensity) share the
layer weights: their own regressions on the same mix add ``aux_weight`` times
their loss, so the mix is pushed towards layers that also carry those fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from seraudit.ensemble.heads.linear import ABSENT_CLASS_BIAS, BN_EPSILON, LinearHead, balanced_weights, feature_scale

MAX_ITER = 300


@dataclass
class AuxTask:
    """One auxiliary target for the training clips: class ids ``[n]`` (-1: unknown for that clip) and the class names."""

    name: str
    y: np.ndarray
    classes: list[str]


@dataclass
class WeightedFit:
    """A fitted weighted-layer head: the emotion head, the learned layer weights and the auxiliary heads."""

    head: LinearHead
    layer_weights: np.ndarray  # [L], sums to 1
    aux_heads: dict[str, LinearHead] = field(default_factory=dict)
    converged: bool = True


def _task_loss(h: np.ndarray, W: np.ndarray, b: np.ndarray, y: np.ndarray, w: np.ndarray, present: np.ndarray,
               l2: float):
    """Weighted cross-entropy of ``softmax(h W + b)`` (absent classes masked out) + L2; returns loss and gradients."""
    logits = h @ W + b
    logits[:, ~present] = -np.inf
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    n = len(y)
    rows = np.flatnonzero(y >= 0)
    loss = -np.sum(w[rows] * np.log(np.clip(p[rows, y[rows]], 1e-300, None))) / n + 0.5 * l2 * np.sum(W * W)
    d = p * w[:, None]
    d[rows, y[rows]] -= w[rows]
    d /= n
    d[:, ~present] = 0.0
    return loss, d, h.T @ d + l2 * W, d.sum(axis=0)


def fit_weighted_head(features: np.ndarray, n_layers: int, y: np.ndarray, n_classes: int, C: float,
                      aux: list[AuxTask] | None = None, aux_weight: float = 0.0, seed: int = 0) -> WeightedFit:
    """Fit layer weights and a balanced logistic regression on clip features ``[n, L * D]`` (L layers of width D).

    The penalty matches scikit-learn's ``C`` (``0.5 |W|^2 + C * sum of weighted losses``),
    so the C grid of the plain heads applies unchanged.
    """
    from scipy.optimize import minimize
    from threadpoolctl import threadpool_limits

    x = np.asarray(features, np.float64)
    n, width = x.shape
    if width % n_layers:
        raise ValueError(f"{width} features do not split into {n_layers} layers of one width")
    dim = width // n_layers
    mean, var = feature_scale(x)
    z = ((x - mean) / np.sqrt(var + BN_EPSILON)).reshape(n, n_layers, dim)
    aux = [t for t in (aux or []) if aux_weight > 0 and len(np.unique(t.y[t.y >= 0])) > 1]
    tasks = [(np.asarray(y, np.int64), n_classes, 1.0)] + [(t.y.astype(np.int64), len(t.classes), aux_weight) for t in aux]
    weights = [balanced_weights(ty, k) for ty, k, _ in tasks]
    present = [np.bincount(ty[ty >= 0], minlength=k) > 0 for ty, k, _ in tasks]
    l2 = 1.0 / (C * n)  # scikit-learn's objective divided by C * n
    shapes = [(n_layers,)] + [s for _, k, _ in tasks for s in ((dim, k), (k,))]
    sizes = [int(np.prod(s)) for s in shapes]

    def unpack(theta):
        parts, at = [], 0
        for shape, size in zip(shapes, sizes):
            parts.append(theta[at:at + size].reshape(shape))
            at += size
        return parts

    def objective(theta):
        s, *params = unpack(theta)
        a = np.exp(s - s.max())
        a /= a.sum()
        h = np.einsum("nld,l->nd", z, a)
        total, grads, dh = 0.0, [], np.zeros_like(h)
        for i, (ty, _, scale) in enumerate(tasks):
            W, b = params[2 * i], params[2 * i + 1]
            loss, d, gW, gb = _task_loss(h, W, b, ty, weights[i], present[i], l2)
            total += scale * loss
            grads += [scale * gW, scale * gb]
            dh += scale * (d @ W.T)
        da = np.einsum("nd,nld->l", dh, z)
        gs = a * (da - np.dot(a, da))
        return total, np.concatenate([gs.ravel()] + [g.ravel() for g in grads])

    theta0 = np.zeros(sum(sizes))
    rng = np.random.default_rng(seed)  # a tiny symmetric-breaking start for the regression weights, seeded
    theta0[n_layers:] = rng.normal(0.0, 1e-4, sum(sizes) - n_layers)
    with threadpool_limits(1):
        result = minimize(objective, theta0, jac=True, method="L-BFGS-B", options={"maxiter": MAX_ITER})
    s, *params = unpack(result.x)
    a = np.exp(s - s.max())
    a /= a.sum()

    def as_linear_head(W, b, keep):
        coef = np.concatenate([a[l] * W for l in range(n_layers)], axis=0)
        intercept = np.where(keep, b, ABSENT_CLASS_BIAS)
        return LinearHead(mean, var, coef, intercept, float(C))

    heads = [as_linear_head(params[2 * i], params[2 * i + 1], present[i]) for i in range(len(tasks))]
    return WeightedFit(heads[0], a, {t.name: h for t, h in zip(aux, heads[1:])}, bool(result.success))
