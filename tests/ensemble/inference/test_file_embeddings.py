"""Embeddings of a user's own files: unusable files are reported and skipped, the .npz holds every patch with its clip and times."""

from __future__ import annotations

import numpy as np
import pytest

from seraudit.core.errors import AudioError
from seraudit.ensemble.inference.file_embeddings import FileEmbeddings, embed_files, read_clips
from seraudit.ensemble.weights.official import WeightsSource

UNTRAINED_VGGISH = WeightsSource("vggish", None, "untrained", None, False, "untrained")


def test_an_unusable_file_is_reported_and_skipped_and_the_others_are_read(tmp_path, ravdess_clips):
    bad = tmp_path / "not-audio.wav"
    bad.write_text("this is not a wav file")
    reported = []
    clips, used, skipped = read_clips([str(bad), str(ravdess_clips[0])], progress=False,
                                      on_skip=lambda path, reason: reported.append((path, reason)))
    assert used == [str(ravdess_clips[0])] and len(clips) == 1 and len(clips[0].patches.data) > 0
    assert skipped == reported and [p for p, _ in skipped] == [str(bad)] and "libsndfile" in skipped[0][1]


def test_when_no_file_is_usable_the_error_names_the_first_problem(tmp_path):
    bad = tmp_path / "empty.flac"
    bad.write_bytes(b"")
    with pytest.raises(AudioError, match="no usable audio among 1 file.*empty.flac"):
        read_clips([str(bad)], progress=False)


def test_the_saved_file_gets_its_npz_suffix_and_one_row_per_patch(tmp_path, ravdess_clips):
    clips, used, _ = read_clips([str(p) for p in ravdess_clips[:2]], progress=False)
    n = [len(c.patches.data) for c in clips]
    emb = np.arange(sum(n) * 3, dtype=np.float32).reshape(-1, 3)
    result = FileEmbeddings("vggish", UNTRAINED_VGGISH, emb, clips, used, [("/x/bad.wav", "unreadable")])
    out = result.save(tmp_path / "emb")
    assert out == str(tmp_path / "emb.npz") and result.save(out) == out
    with np.load(out) as z:
        np.testing.assert_array_equal(z["embeddings"], emb)
        np.testing.assert_array_equal(z["clip_index"], np.repeat([0, 1], n))
        np.testing.assert_allclose(z["start_s"], np.concatenate([c.patches.start_s for c in clips]))
        np.testing.assert_array_equal(z["gds_keep"], np.concatenate([c.selection.keep for c in clips]))
        assert list(z["paths"]) == used and list(z["skipped_paths"]) == ["/x/bad.wav"]
        assert list(z["skipped_reasons"]) == ["unreadable"] and str(z["backbone"]) == "vggish"
        assert bool(z["untrained"]) and "untrained" in str(z["weights"])


@pytest.mark.slow
def test_untrained_vggish_gives_one_128_d_embedding_per_patch(ravdess_clips):
    paths = [str(ravdess_clips[0])]
    result = embed_files(paths, "vggish", UNTRAINED_VGGISH, seed=3, progress=False)
    n = len(result.clips[0].patches.data)
    assert result.embeddings.shape == (n, 128) and np.isfinite(result.embeddings).all()
    assert result.paths == paths and result.skipped == [] and result.source is UNTRAINED_VGGISH
