"""The eGeMAPS reference row: 88 functionals per clip into a seeded, class-balanced logistic regression."""

from __future__ import annotations

import numpy as np
import pytest

from seraudit.core.errors import AudioError
from seraudit.ensemble.heads.egemaps_baseline import egemaps_matrix, make_baseline


@pytest.fixture()
def separable(rng):
    """Three classes, 88 features on wildly different scales; class c shifts feature c by 8 standard deviations."""
    y = np.repeat(np.arange(3), 80)
    scale = 10.0 ** rng.uniform(-3, 3, 88)
    x = rng.normal(size=(len(y), 88))
    x[np.arange(len(y)), y] += 8.0
    return x * scale, y


def test_the_baseline_learns_separable_features_whatever_their_scale(separable):
    x, y = separable
    model = make_baseline(seed=0).fit(x[::2], y[::2])
    assert (model.predict(x[1::2]) == y[1::2]).mean() >= 0.95


def test_egemaps_matrix_is_88_functionals_per_clip_and_cached(ravdess_clips, tmp_path):
    paths = ravdess_clips[:2]
    first = egemaps_matrix(paths, cache_dir=tmp_path, progress=False)
    assert first.shape == (2, 88) and np.isfinite(first).all()
    assert not np.array_equal(first[0], first[1])  # two clips, two rows of their own
    assert (tmp_path / "egemaps-functionals.csv").is_file()
    np.testing.assert_allclose(egemaps_matrix(paths, cache_dir=tmp_path, progress=False), first)


def test_a_clip_openSMILE_cannot_read_is_named(ravdess_clips, tmp_path):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"not audio")
    with pytest.raises(AudioError, match=r"failed for 1 file\(s\), first .*broken\.wav.*fix or remove the file"):
        egemaps_matrix([ravdess_clips[0], broken], progress=False)
