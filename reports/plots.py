"""Figures only the report draws (confusion matrices); they read saved numbers, never a model."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from seraudit.core.io import atomic_path  # noqa: E402


def confusion_matrix_png(
    labels: list[str], matrix: list[list[int]] | np.ndarray, title: str, path: str | os.PathLike
) -> Path:
    """Draw a row-normalised confusion matrix (counts printed in each cell) and save it as PNG.

    ``title`` is the model's display name, so an untrained branch shows in the figure too.
    """
    counts = np.asarray(matrix, dtype=float)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.shape[0] != len(labels):
        raise ValueError(f"confusion matrix of shape {counts.shape} does not match {len(labels)} labels")
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    n = len(labels)
    size = max(3.5, 0.55 * n + 1.5)
    fig, ax = plt.subplots(figsize=(size, size * 0.9), dpi=100)
    try:
        ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
        ax.set_xticks(range(n), [str(x) for x in labels], rotation=45, ha="right")
        ax.set_yticks(range(n), [str(x) for x in labels])
        for label in ax.get_xticklabels() + ax.get_yticklabels():
            label.set_parse_math(False)
        for i in range(n):
            for j in range(n):
                ax.text(
                    j, i, f"{int(counts[i, j])}", ha="center", va="center", fontsize=8,
                    color="white" if share[i, j] > 0.5 else "black",
                )
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(title, fontsize=10, parse_math=False)
        fig.tight_layout()
        path = Path(path)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
    return path
