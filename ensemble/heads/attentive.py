"""Attentive statistics pooling for frozen-backbone heads: each clip's patches weighted by a learned attention.

A clip's kept patches ``z_p`` (standardised layer features) get attention
``a_p = softmax_p(z_p . v)`` within the clip; the head reads the attention-
weighted mean and standard deviation (Okabe et al. 2018) and applies a balanced,
L2-penalised logistic regression, fitted jointly with ``v`` by L-BFGS (gradients
from TensorFlow). With ``v = 0`` it is statistics pooling, which is where the
fit starts. The attention weights of every patch are returned with the logits:
"where the head's own pooling listened".

A fitted head moves into the saved graph (`ensemble.training.assembly.head_graph_weights`),
whose layers compute the same function in float32 (`ensemble.model.pooling_layers`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seraudit.ensemble.heads.linear import ABSENT_CLASS_BIAS, BN_EPSILON, balanced_weights, feature_scale

MAX_ITER = 200
STD_EPSILON = 1e-6


@dataclass
class AttentiveHead:
    """A fitted head: standardisation, attention vector, and the regression on ``[weighted mean, weighted std]``."""

    mean: np.ndarray  # [D]
    var: np.ndarray  # [D]
    attention: np.ndarray  # [D]
    coef: np.ndarray  # [2 D, C]
    intercept: np.ndarray  # [C]
    C: float

    def clip_logits(self, patches: np.ndarray, clip_of: np.ndarray, n_clips: int) -> tuple[np.ndarray, np.ndarray]:
        """Logits ``[n_clips, C]`` of clips from their patches ``[Q, D]`` (clip ids `clip_of` in 0..n_clips-1), and
        each patch's attention weight ``[Q]`` (summing to 1 within its clip)."""
        z = (np.asarray(patches, np.float64) - self.mean) / np.sqrt(self.var + BN_EPSILON)
        pooled, weights = _pool(z, z @ self.attention, np.asarray(clip_of), n_clips)
        return pooled @ self.coef + self.intercept, weights


def _pool(z: np.ndarray, scores: np.ndarray, clip_of: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    peak = np.full(n, -np.inf)
    np.maximum.at(peak, clip_of, scores)
    e = np.exp(scores - peak[clip_of])
    total = np.zeros(n)
    np.add.at(total, clip_of, e)
    a = e / total[clip_of]
    mu = np.zeros((n, z.shape[1]))
    np.add.at(mu, clip_of, a[:, None] * z)
    second = np.zeros_like(mu)
    np.add.at(second, clip_of, a[:, None] * z * z)
    sigma = np.sqrt(np.maximum(second - mu * mu, 0.0) + STD_EPSILON)
    return np.concatenate([mu, sigma], axis=1), a


def fit_attentive_head(patches: np.ndarray, clip_of: np.ndarray, y: np.ndarray, n_classes: int, C: float,
                       seed: int = 0) -> AttentiveHead:
    """Fit attention and regression on the kept patches ``[Q, D]`` of ``n = len(y)`` training clips (`clip_of`: 0..n-1).

    The penalty matches scikit-learn's ``C`` on the regression weights and the attention vector alike.
    """
    import tensorflow as tf
    from scipy.optimize import minimize

    x = np.asarray(patches, np.float64)
    clip_of = np.asarray(clip_of, np.int64)
    y = np.asarray(y, np.int64)
    n, dim = len(y), x.shape[1]
    mean, var = feature_scale(x)
    z = tf.constant((x - mean) / np.sqrt(var + BN_EPSILON))
    present = np.bincount(y, minlength=n_classes) > 0
    weights = tf.constant(balanced_weights(y, n_classes))
    mask = tf.constant(np.where(present, 0.0, -1e9))
    seg, labels = tf.constant(clip_of), tf.constant(y)
    l2 = 1.0 / (C * n)
    sizes = [dim, 2 * dim * n_classes, n_classes]

    def loss_and_grad(theta):
        v, W, b = (tf.Variable(p) for p in np.split(theta, np.cumsum(sizes)[:-1]))
        with tf.GradientTape() as tape:
            scores = tf.linalg.matvec(z, v)
            peak = tf.math.unsorted_segment_max(scores, seg, n)
            e = tf.exp(scores - tf.gather(peak, seg))
            a = e / tf.gather(tf.math.unsorted_segment_sum(e, seg, n), seg)
            mu = tf.math.unsorted_segment_sum(a[:, None] * z, seg, n)
            second = tf.math.unsorted_segment_sum(a[:, None] * z * z, seg, n)
            sigma = tf.sqrt(tf.nn.relu(second - mu * mu) + STD_EPSILON)
            logits = tf.concat([mu, sigma], 1) @ tf.reshape(W, (2 * dim, n_classes)) + b + mask
            ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
            loss = tf.reduce_sum(weights * ce) / n + 0.5 * l2 * (tf.reduce_sum(W * W) + tf.reduce_sum(v * v))
        grads = tape.gradient(loss, [v, W, b])
        return float(loss), np.concatenate([g.numpy().ravel() for g in grads])

    rng = np.random.default_rng(seed)
    theta0 = np.concatenate([np.zeros(dim), rng.normal(0.0, 1e-4, sizes[1]), np.zeros(n_classes)])
    result = minimize(loss_and_grad, theta0, jac=True, method="L-BFGS-B", options={"maxiter": MAX_ITER})
    v, W, b = np.split(result.x, np.cumsum(sizes)[:-1])
    return AttentiveHead(mean, var, v, W.reshape(2 * dim, n_classes), np.where(present, b, ABSENT_CLASS_BIAS), float(C))
