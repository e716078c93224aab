"""LIME on the whole utterance's log-mel, with time-frequency grid cells (or time slices) as the interpretable features.

``lime.lime_image.LimeImageExplainer`` works on RGB images ``[H, W, 3]``; the
clip's log-mel ``[n_frames, 64]`` is fed as a grey image (the same values in
all three channels, time down the rows, mel bands across), and the classifier
function reads channel 0 back. Its default quickshift segmentation finds only a
handful of blobs on a spectrogram, so a regular grid replaces it:

* ``"lime"``: cells of ``cell_frames`` x ``cell_bands`` (default 20 frames =
  0.2 s by 16 bands, i.e. 4 frequency rows);
* ``"lime-time"``: time slices of ``slice_frames`` over all 64 bands, so each
  feature is a stretch of sound one can listen to.

A hidden cell is set to ``fill``: by default the log floor log(0.001) (the
log-mel of silence, so hiding = muting that part of the spectrogram); ``"mean"``
uses the clip's mean log-mel instead. Perturbed clips are scored at clip level
exactly like the model's prediction (re-cut into the same patches, all patches
of a batch of samples predicted in one call, pooled over the GDS-kept patches).
The attribution of a cell is the ridge coefficient of its segment in LIME's
locally weighted linear model of the target clip probability (signed).
"""

from __future__ import annotations

import functools
import time

import numpy as np

from seraudit.core.constants import NUM_MEL_BANDS
from seraudit.xai.attribution import Attribution, Explainer
from seraudit.xai.explainers.perturbation import ClipScorer, clip_to_patches, resolve_fill, resolve_target


def grid_segments(n_frames: int, cell_frames: int, cell_bands: int, n_bands: int = NUM_MEL_BANDS) -> np.ndarray:
    """Label map ``[n_frames, n_bands]`` of a regular grid: segment ids 0..S-1, row-major (time, then band)."""
    if cell_frames < 1 or cell_bands < 1:
        raise ValueError(f"grid cells must be at least 1 x 1, got {cell_frames} x {cell_bands}")
    t_cell = np.arange(n_frames) // cell_frames
    f_cell = np.arange(n_bands) // cell_bands
    n_f_cells = int(f_cell.max()) + 1
    return (t_cell[:, None] * n_f_cells + f_cell[None, :]).astype(np.int64)


@functools.cache
def vectorised_lime_explainer() -> type:
    """`lime_image.LimeImageExplainer` building its perturbed images as one array operation per batch.

    lime builds each sample with a Python loop over its hidden segments (a deep copy and one
    mask per segment); on a 3-s clip (60 cells, 150 samples) that loop took 0.25 s a call, more
    than YAMNet's own passes for it; this takes 0.06 s. The samples drawn, the images and the
    classifier calls are the same as lime's: only how the images are assembled differs (and no
    progress bar is drawn, which inside an audit of many clips would bury the audit's own).
    """
    from lime import lime_image

    class VectorisedLimeImageExplainer(lime_image.LimeImageExplainer):
        def data_labels(self, image, fudged_image, segments, classifier_fn, num_samples, batch_size=10):
            n_features = np.unique(segments).shape[0]  # ids 0..n-1, as lime's own loop assumes (grid_segments)
            data = self.random_state.randint(0, 2, num_samples * n_features).reshape((num_samples, n_features))
            data[0, :] = 1
            labels = []
            for start in range(0, num_samples, batch_size):
                hidden = data[start : start + batch_size][:, segments] == 0  # [b, H, W]; lime hands an RGB image
                labels.extend(classifier_fn(np.where(hidden[..., None], fudged_image, image)))
            return data, np.array(labels)

    return VectorisedLimeImageExplainer


class LimeExplainer(Explainer):
    """LIME with a time-frequency grid over the whole utterance.

    Parameters
    ----------
    cell_frames, cell_bands : int
        Grid cell size in log-mel frames (10 ms each) and mel bands.
    num_samples : int
        Perturbed clips LIME draws (each costs one clip prediction).
    fill : "floor", "mean" or float
        Value of hidden cells (see module docstring).
    kernel_width : float
        Width of LIME's exponential kernel on the cosine distance to the original.
    batch_size : int
        Perturbed clips per classifier call; all their patches go in one prediction.
    random_state : int
        Seed of the perturbations (LIME is random; a fixed seed makes it repeatable).
    """

    method = "lime"

    def __init__(
        self,
        cell_frames: int = 20,
        cell_bands: int = 16,
        num_samples: int = 300,
        fill: float | str = "floor",
        kernel_width: float = 0.25,
        batch_size: int = 100,
        random_state: int = 0,
    ):
        self.cell_frames = int(cell_frames)
        self.cell_bands = int(cell_bands)
        self.num_samples = int(num_samples)
        self.fill = fill
        self.kernel_width = float(kernel_width)
        self.batch_size = int(batch_size)
        self.random_state = int(random_state)

    def segments(self, n_frames: int) -> np.ndarray:
        """The interpretable features of a clip of `n_frames` frames, as a label map ``[n_frames, 64]``."""
        return grid_segments(n_frames, self.cell_frames, self.cell_bands)

    def explain(self, model, clip, target: int | str | None = None) -> Attribution:
        """LIME weights of the grid cells for the target's clip probability, painted on the clip grid."""
        t0 = time.perf_counter()
        target = resolve_target(model, clip, target)
        log_mel = np.asarray(clip.log_mel, dtype=np.float32)
        segments = self.segments(log_mel.shape[0])
        fill = resolve_fill(self.fill, clip)
        scorer = ClipScorer(model, clip, batch_size=max(256, 4 * clip.patches.data.shape[0]))

        explainer = vectorised_lime_explainer()(
            kernel_width=self.kernel_width, feature_selection="none", random_state=self.random_state
        )
        explanation = explainer.explain_instance(
            np.repeat(log_mel[:, :, None], 3, axis=2),
            lambda images: scorer(np.asarray(images)[..., 0]),
            labels=(target,),
            hide_color=fill,
            top_labels=None,
            num_features=int(segments.max()) + 1,
            num_samples=self.num_samples,
            batch_size=self.batch_size,
            segmentation_fn=lambda image: segments,
            random_seed=self.random_state,
        )
        weights = np.zeros(int(segments.max()) + 1, dtype=np.float32)
        for seg, w in explanation.local_exp[target]:
            weights[seg] = w
        clip_map = weights[segments]
        details = {
            "fill_value": fill,
            "n_segments": int(weights.size),
            "score": "clip probability",
            "intercept": float(explanation.intercept[target]),
            "r2": float(explanation.score),
            "patch_predictions": int(scorer.patches_predicted),
        }
        return self._attribution(model, clip, target, clip_map, clip_to_patches(clip_map, clip), details, t0)


class LimeTimeExplainer(LimeExplainer):
    """LIME over time slices of the whole band range ("lime-time"): each feature is a listenable stretch of the clip.

    Parameters as ``LimeExplainer``, with ``slice_frames`` (default 10 = 0.1 s)
    in place of the grid cell size.
    """

    method = "lime-time"

    def __init__(
        self,
        slice_frames: int = 10,
        num_samples: int = 300,
        fill: float | str = "floor",
        kernel_width: float = 0.25,
        batch_size: int = 100,
        random_state: int = 0,
    ):
        super().__init__(
            cell_frames=slice_frames,
            cell_bands=NUM_MEL_BANDS,
            num_samples=num_samples,
            fill=fill,
            kernel_width=kernel_width,
            batch_size=batch_size,
            random_state=random_state,
        )
