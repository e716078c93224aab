"""Augmented training copies: K seeded copies per clip, embedded once, cached, and used only as training rows."""

import numpy as np
import pytest

from seraudit.ensemble.data.augmented_copies import corpus_copies
from seraudit.ensemble.data.embedding_cache import EmbeddingCache
from seraudit.ensemble.weights.official import resolve_weights
from seraudit.preprocessing.gds import GdsSettings


@pytest.fixture(scope="module")
def yamnet(models_dir):
    return {"yamnet": resolve_weights("yamnet", models_dir=models_dir, download=False)}


@pytest.fixture(scope="module")
def clips(ravdess_clips):
    return [str(p) for p in ravdess_clips[:2]]


def test_k_copies_of_every_clip_are_embedded_once_and_read_back_from_the_cache(tmp_path, clips, yamnet):
    cache = EmbeddingCache(tmp_path, progress=False)
    copies = corpus_copies(cache, clips, yamnet, seed=0, k=2, aug_seed=7)
    assert copies.k == 2 and set(copies.copy_index.tolist()) == {0, 1, 2, 3}
    assert (copies.copy_index // 2 == copies.clip_index).all()
    assert copies.taps["yamnet"]["layer8"].shape == (len(copies.copy_index), 512)
    again = EmbeddingCache(tmp_path, progress=False)
    reread = corpus_copies(again, clips, yamnet, seed=0, k=2, aug_seed=7)
    assert again.misses == [] and len(again.hits) == 1
    np.testing.assert_array_equal(reread.taps["yamnet"]["layer8"], copies.taps["yamnet"]["layer8"])
    # copies are augmented: their clip features differ from the clean clip's, and another seed gives other copies
    clean = cache.taps(clips, "yamnet", yamnet["yamnet"], 0)["layer8"]
    means = copies.clip_means("yamnet", "layer8", copies.keep(GdsSettings()), len(clips))
    clean_mean = clean[cache.patches(clips).clip_index == 0].mean(axis=0)
    assert not np.allclose(means[0], clean_mean, atol=1e-3)
    other = corpus_copies(EmbeddingCache(tmp_path, progress=False), clips, yamnet, seed=0, k=2, aug_seed=8)
    assert not np.allclose(other.taps["yamnet"]["layer8"][:3], copies.taps["yamnet"]["layer8"][:3])
