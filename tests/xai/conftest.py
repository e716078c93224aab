"""A constructed task whose answer is known, so an explainer can be checked against the truth.

Class "tone" holds iff a patch contains a tone: a horizontal line in the log-mel
(40 frames long, 3 bands high). Every patch, of either class, also holds a click
(a vertical line, 3 frames wide, 40 bands high) as a distractor. A correct
explanation of "tone" on the test clip must point at the tone's cells and not
at the clicks.

The model is a small flat two-branch graph like the real ensemble (input
"log_mel", a layer "logits", one last convolution per branch, feature fusion):
each branch starts from fixed oriented-line detectors and trains its last
convolution and the shared head for a few seeded steps.
"""

from __future__ import annotations

import numpy as np
import pytest

N_FRAMES = 200  # a 2-s clip: 3 patches, the last one end-aligned
TONE_FRAMES = (120, 160)
TONE_BANDS = (40, 43)
CLICKS = ((30, 10), (180, 20))  # (first frame, first band) of each click


def add_tone(x: np.ndarray, frame: int, band: int) -> None:
    x[frame : frame + 40, band : band + 3] += 5.0


def add_click(x: np.ndarray, frame: int, band: int) -> None:
    x[frame : frame + 3, band : band + 40] += 5.0


def training_patches(rng: np.random.Generator, labels: np.ndarray) -> np.ndarray:
    x = rng.normal(-4.0, 0.5, (len(labels), 96, 64)).astype(np.float32)
    for patch, label in zip(x, labels):
        add_click(patch, rng.integers(0, 93), rng.integers(0, 24))
        if label:
            add_tone(patch, rng.integers(0, 56), rng.integers(0, 61))
    return x


def line_detectors(k: int) -> np.ndarray:
    """Conv kernels ``[k, k, 1, 2]``: channel 0 fires on horizontal lines (tones), channel 1 on vertical ones (clicks)."""
    h = np.full((k, k), -1.0 / (2 * k))
    h[:, k // 2] = 1.0 / k
    h[:, k // 2 - 1 : k // 2 + 2 : 2] = 0.0
    return np.stack([h, h.T], axis=-1)[:, :, None, :].astype(np.float32)


@pytest.fixture(scope="session")
def tone_model():
    """A trained two-branch ``TrainedModel`` (branches "alpha" and "beta") for the tone task."""
    import keras

    from seraudit.ensemble.model.trained import TrainedModel

    keras.utils.set_random_seed(0)
    inputs = keras.Input((96, 64), name="log_mel")
    x = keras.layers.Rescaling(0.25, offset=1.0, name="scale")(inputs)
    x = keras.layers.Reshape((96, 64, 1), name="to_image")(x)
    embeddings = []
    for branch, k, pool in (("alpha", 5, 1), ("beta", 5, 2)):
        h = keras.layers.MaxPooling2D(pool, name=f"{branch}_pool")(x) if pool > 1 else x
        lines = keras.layers.Conv2D(2, k, padding="same", activation="relu", name=f"{branch}_lines", trainable=False)
        h = lines(h)
        lines.set_weights([line_detectors(k), np.full(2, -0.5, np.float32)])
        h = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name=f"{branch}_conv")(h)
        embeddings.append(keras.layers.GlobalMaxPooling2D(name=f"{branch}_embedding")(h))
    z = keras.layers.Concatenate(name="fused_embedding")(embeddings)
    logits = keras.layers.Dense(2, name="logits")(z)
    model = keras.Model(inputs, keras.layers.Activation("softmax", name="probabilities")(logits))

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 96)
    model.compile(keras.optimizers.Adam(3e-2), "sparse_categorical_crossentropy")
    model.fit(training_patches(rng, y), y, batch_size=24, epochs=5, verbose=0)

    trained = TrainedModel(
        name="ensemble",
        keras_model=model,
        labels=["no_tone", "tone"],
        conv_layers={"alpha": "alpha_conv", "beta": "beta_conv"},
        embedding_layers={"alpha": "alpha_embedding", "beta": "beta_embedding"},
        branch_untrained={"alpha": False, "beta": False},
        fusion="feature",
    )
    y_test = rng.integers(0, 2, 64)
    accuracy = (trained.predict_patches(training_patches(rng, y_test)).argmax(1) == y_test).mean()
    assert accuracy >= 0.95, f"the tone model did not learn its task (accuracy {accuracy:.2f})"
    return trained


@pytest.fixture(scope="session")
def tone_clip():
    """A 2-s ``ClipFeatures`` with two clicks and one tone at ``TONE_FRAMES`` x ``TONE_BANDS``.

    Explainers read only the log-mel, the patches and the GDS keep-mask; the
    audio is low noise of the matching length.
    """
    from seraudit.preprocessing.audio import audio_from_array
    from seraudit.core.constants import SAMPLE_RATE, STFT_HOP_SAMPLES, STFT_WINDOW_SAMPLES
    from seraudit.preprocessing.gds import select_segments
    from seraudit.preprocessing.pipeline import ClipFeatures
    from seraudit.preprocessing.segments import make_patches

    rng = np.random.default_rng(5)
    log_mel = rng.normal(-4.0, 0.5, (N_FRAMES, 64)).astype(np.float32)
    for frame, band in CLICKS:
        add_click(log_mel, frame, band)
    add_tone(log_mel, TONE_FRAMES[0], TONE_BANDS[0])
    patches = make_patches(log_mel)
    n_samples = (N_FRAMES - 1) * STFT_HOP_SAMPLES + STFT_WINDOW_SAMPLES
    audio = audio_from_array(rng.normal(0.0, 0.01, n_samples), SAMPLE_RATE)
    return ClipFeatures(path=None, audio=audio, log_mel=log_mel, patches=patches, selection=select_segments(patches.data))


@pytest.fixture(scope="session")
def tone_region() -> np.ndarray:
    """Boolean mask ``[N_FRAMES, 64]`` of the tone's cells: the ground truth of the explanation."""
    region = np.zeros((N_FRAMES, 64), bool)
    region[TONE_FRAMES[0] : TONE_FRAMES[1], TONE_BANDS[0] : TONE_BANDS[1]] = True
    return region

