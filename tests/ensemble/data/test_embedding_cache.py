"""The embedding cache keeps GDS's keep rule for any threshold, and a cache file's name changes with what made it."""

from types import SimpleNamespace

import numpy as np
import pytest

from seraudit.ensemble.data.embedding_cache import CorpusPatches, EmbeddingCache
from seraudit.preprocessing.gds import GdsSettings, select_segments


@pytest.fixture(scope="module")
def two_clips(ravdess_clips):
    return [str(p) for p in ravdess_clips[:2]]


def test_the_cached_keep_rule_equals_select_segments_clip_by_clip(tmp_path, two_clips):
    from seraudit.preprocessing.pipeline import clip_features

    cache = EmbeddingCache(tmp_path, progress=False)
    cache.patches(two_clips)
    patches = EmbeddingCache(tmp_path, progress=False).patches(two_clips)  # read back from the file
    assert patches.data is None
    for threshold in (0.3, 0.8, 0.99):
        keep = patches.keep(GdsSettings(True, threshold))
        for i, path in enumerate(two_clips):
            expected = select_segments(clip_features(path).patches.data, threshold).keep
            np.testing.assert_array_equal(keep[patches.clip_index == i], expected)
    assert patches.keep(GdsSettings(False)).all()


def test_a_clip_below_the_threshold_keeps_only_its_best_patch():
    patches = CorpusPatches(["a", "b"], np.array([0, 0, 0, 1, 1]), np.zeros(5), np.ones(5),
                            np.array([0.1, 0.3, 0.2, 0.9, 0.5]))  # fmt: skip
    assert patches.keep(GdsSettings(True, 0.6)).tolist() == [False, True, False, True, False]


def test_cache_files_are_named_by_what_determines_them(tmp_path, two_clips):
    cache = EmbeddingCache(tmp_path, progress=False)
    sha = SimpleNamespace(pretrained=True, sha256="a" * 64)
    other_sha = SimpleNamespace(pretrained=True, sha256="b" * 64)
    untrained = SimpleNamespace(pretrained=False, sha256=None)
    name = cache.taps_file(two_clips, "vggish", sha, seed=0)
    assert name == cache.taps_file(two_clips, "vggish", sha, seed=5)  # a seed means nothing to pretrained weights
    assert name != cache.taps_file(two_clips, "vggish", other_sha, seed=0)
    assert cache.taps_file(two_clips, "vggish", untrained, 0) != cache.taps_file(two_clips, "vggish", untrained, 1)
    assert name != cache.taps_file(two_clips[:1], "vggish", sha, seed=0)
    assert cache.patches_file(two_clips) != cache.patches_file(two_clips[:1])
    assert name.name.startswith("vggish-taps-") and cache.patches_file(two_clips).name.startswith("patches-")


def test_one_pass_caches_every_layer_and_the_last_one_is_the_embedding(tmp_path, two_clips, models_dir):
    """The taps file holds each YAMNet block averaged over time and frequency; layer14's is the published embedding."""
    from seraudit.ensemble.data.embedding_cache import build_embedder
    from seraudit.ensemble.model.spec import BACKBONES
    from seraudit.ensemble.weights.official import resolve_weights

    source = resolve_weights("yamnet", models_dir=models_dir, download=False)
    cache = EmbeddingCache(tmp_path, progress=False)
    taps = cache.taps(two_clips, "yamnet", source, 0)
    n_patches = len(cache.patches(two_clips).clip_index)
    assert {t: v.shape for t, v in taps.items()} == {t: (n_patches, w) for t, w in BACKBONES["yamnet"].tap_widths.items()}
    patches = cache.patches(two_clips, need_data=True).data
    np.testing.assert_allclose(taps["layer14"], build_embedder("yamnet", source, 0).predict(patches, verbose=0), atol=1e-5)
    again = EmbeddingCache(tmp_path, progress=False)
    np.testing.assert_array_equal(again.embeddings(two_clips, "yamnet", source, 0), taps["layer14"])
    assert again.hits and not again.misses
