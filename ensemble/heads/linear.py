"""Linear emotion heads fitted on clip features, and the search that picks the layers they read.

A head is a standardisation followed by a multinomial logistic regression
(class weights balanced), fitted on each training clip's mean feature over its
GDS-kept patches. In the flat Keras graph the same head runs on every patch
(`ensemble.model.head_layers.add_head`: frozen BatchNormalization + dense logits) and the
clip pools the patch log-probabilities (`ensemble.model.clip_pooling`): since the head is
affine and softmax(mean of patch logits) is the renormalised mean of patch
log-probabilities, the graph's clip prediction equals the regression's on the
clip-mean feature exactly.

Which layers a head reads, and its regularisation C, are chosen on the
inner-validation speakers of each split only (`ensemble.heads.search`); the
winner is then refitted on training plus validation speakers. Measured on the shared corpora
(frozen YAMNet, GDS 0.4, clip-mean features, C = 0.01; UAR % over speaker folds):

    layer     5     6     7     8     9     10    14 (embedding)
    RAVDESS  50.9  51.5  50.5  51.7  50.3  49.0  38.8
    EmoDB    61.1  61.9  68.5  68.3  66.3  65.9  51.5

The patch-level dense head the tool trained before reached 39.7 (RAVDESS) and
50.6 (EmoDB) on the embedding: the layer, not the classifier, was what held it back.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

BN_EPSILON = 1e-6  # the graph's standardisation layers (`head_layers.add_head`, pooled heads) read this one value
C_GRID = (0.003, 0.01, 0.03)
ABSENT_CLASS_BIAS = -30.0  # a class missing from the training clips is never predicted


@dataclass
class LinearHead:
    """A fitted head: ``logits = ((x - mean) / sqrt(var + eps)) @ coef + intercept``."""

    mean: np.ndarray  # [D]
    var: np.ndarray  # [D]
    coef: np.ndarray  # [D, C]
    intercept: np.ndarray  # [C]
    C: float

    def logits(self, features: np.ndarray) -> np.ndarray:
        z = (np.asarray(features, np.float64) - self.mean) / np.sqrt(self.var + BN_EPSILON)
        return z @ self.coef + self.intercept

    def standardize_weights(self) -> list[np.ndarray]:
        """Weights of the graph's frozen BatchNormalization: gamma, beta, moving mean, moving variance."""
        dim = len(self.mean)
        return [np.ones(dim, np.float32), np.zeros(dim, np.float32), self.mean.astype(np.float32), self.var.astype(np.float32)]

    def dense_weights(self) -> list[np.ndarray]:
        return [self.coef.astype(np.float32), self.intercept.astype(np.float32)]


def feature_scale(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of features ``[n, D]`` for the head's standardisation (a constant feature gets variance 1)."""
    mean, var = x.mean(axis=0), x.var(axis=0)
    return mean, np.where(var > 1e-12, var, 1.0)


def balanced_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """scikit-learn's ``class_weight="balanced"`` per sample: n / (classes present * count of its class); 0 where y < 0."""
    known = y >= 0
    counts = np.bincount(y[known], minlength=n_classes).astype(np.float64)
    w = np.zeros(len(y))
    w[known] = known.sum() / (int((counts > 0).sum()) * counts[y[known]])
    return w


def fit_linear_head(features: np.ndarray, y: np.ndarray, n_classes: int, C: float, seed: int = 0) -> LinearHead:
    """Standardise clip features ``[n, D]`` and fit a balanced multinomial logistic regression."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    x = np.asarray(features, np.float64)
    mean, var = feature_scale(x)
    z = (x - mean) / np.sqrt(var + BN_EPSILON)
    model = LogisticRegression(C=C, class_weight="balanced", max_iter=1000, random_state=seed)
    # One BLAS thread: these fits are small, and many threads beside TensorFlow's fight for the cores (5-10x slower).
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")  # a slow convergence on a tiny split is not the user's problem
        model.fit(z, y)
    coef = np.zeros((x.shape[1], n_classes))
    intercept = np.full(n_classes, ABSENT_CLASS_BIAS)
    classes = model.classes_.astype(int)
    if len(classes) == 2:  # scikit-learn stores a binary problem as one score: split it into two logits
        coef[:, classes[1]], intercept[classes[1]] = model.coef_[0] / 2, model.intercept_[0] / 2
        coef[:, classes[0]], intercept[classes[0]] = -model.coef_[0] / 2, -model.intercept_[0] / 2
    else:
        coef[:, classes], intercept[classes] = model.coef_.T, model.intercept_
    return LinearHead(mean, var, coef, intercept, float(C))
