"""`seraudit embed`: a user gets per-patch YAMNet embeddings of their clips, with patch times and the GDS keep-mask."""

import argparse

import numpy as np
import pytest

from seraudit.cli.commands import embed
from seraudit.core.errors import AudioError


def _embed(argv) -> int:
    parser = argparse.ArgumentParser()
    embed.add_parser(parser.add_subparsers())
    args = parser.parse_args(["embed", *argv])
    return args.func(args)


@pytest.fixture(scope="module")
def two_clips(ravdess_clips):
    return [str(p) for p in ravdess_clips[:2]]


@pytest.fixture(scope="module")
def embedded(tmp_path_factory, two_clips, models_dir):
    out = tmp_path_factory.mktemp("embed") / "clips.npz"
    status = _embed([*two_clips, "--backbone", "yamnet", "--models-dir", str(models_dir), "--no-download", "--quiet", "--out", str(out)])
    with np.load(out) as z:
        return status, {k: z[k] for k in z.files}


def test_embed_writes_one_1024_d_yamnet_embedding_per_patch_with_times_and_gds_mask(embedded, two_clips):
    from seraudit.preprocessing.pipeline import clip_features

    status, z = embedded
    clips = [clip_features(p) for p in two_clips]
    n_patches = [len(c.patches.data) for c in clips]
    assert status == 0
    assert z["embeddings"].shape == (sum(n_patches), 1024) and np.isfinite(z["embeddings"]).all()
    assert list(z["paths"]) == two_clips and z["skipped_paths"].size == 0
    np.testing.assert_array_equal(z["clip_index"], np.repeat([0, 1], n_patches))
    np.testing.assert_allclose(z["start_s"], np.concatenate([c.patches.start_s for c in clips]))
    np.testing.assert_allclose(z["end_s"] - z["start_s"], 0.96, atol=1e-6)
    np.testing.assert_array_equal(z["gds_keep"], np.concatenate([c.selection.keep for c in clips]))
    assert all(z["gds_keep"][z["clip_index"] == i].any() for i in range(2))  # GDS never drops a whole clip
    assert not bool(z["untrained"]) and "YAMNet" in str(z["weights"])


def test_embeddings_match_the_yamnet_embedder_patch_by_patch(embedded, two_clips, models_dir):
    from seraudit.ensemble.data.embedding_cache import build_embedder
    from seraudit.ensemble.weights.official import resolve_weights
    from seraudit.preprocessing.pipeline import clip_features

    _, z = embedded
    model = build_embedder("yamnet", resolve_weights("yamnet", models_dir=models_dir, download=False), seed=0)
    patches = clip_features(two_clips[1]).patches.data
    np.testing.assert_allclose(z["embeddings"][z["clip_index"] == 1], model.predict_on_batch(patches), atol=1e-4)


def test_a_bad_file_is_named_and_skipped_while_the_batch_goes_on(tmp_path, two_clips, models_dir, capsys):
    bad = tmp_path / "not-audio.wav"
    bad.write_text("this is not a wav file")
    out = tmp_path / "mixed.npz"
    status = _embed([two_clips[0], str(bad), "--models-dir", str(models_dir), "--no-download", "--quiet", "--out", str(out)])
    err = capsys.readouterr().err
    assert status == embed.EXIT_SOME_SKIPPED
    assert "not-audio.wav" in err and "re-export" in err
    with np.load(out) as z:
        assert list(z["paths"]) == [two_clips[0]] and list(z["skipped_paths"]) == [str(bad)]
        assert "libsndfile" in str(z["skipped_reasons"][0])


def test_when_no_file_is_usable_nothing_is_written_and_the_error_names_the_file(tmp_path, models_dir):
    bad = tmp_path / "empty.flac"
    bad.write_bytes(b"")
    out = tmp_path / "none.npz"
    with pytest.raises(AudioError, match="empty.flac"):
        _embed([str(bad), "--models-dir", str(models_dir), "--no-download", "--quiet", "--out", str(out)])
    assert not out.exists()
