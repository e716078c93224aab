"""Caches under faults: damaged entries are recomputed (never used), two processes filling one cache neither
corrupt it nor repeat the work, and a full disk leaves no partial entry."""

from __future__ import annotations

import errno
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from cases import _wav, voice

from seraudit.core.errors import StorageError
from seraudit.ensemble.data.embedding_cache import EmbeddingCache


@pytest.fixture()
def paths(tmp_path):
    return [str(_wav(tmp_path / "audio" / f"clip{i}.wav", voice(1.5, f0=120 + 30 * i))) for i in range(3)]


@pytest.mark.parametrize("damage", ["truncated", "flipped byte", "empty", "not a zip"])
def test_a_damaged_patch_table_is_recomputed_not_used(tmp_path, paths, damage):
    first = EmbeddingCache(tmp_path / "cache", progress=False)
    reference = first.patches(paths)
    file = first.patches_file(paths)
    data = file.read_bytes()
    file.write_bytes({"truncated": data[: len(data) // 2], "flipped byte": data[:300] + bytes([data[300] ^ 0x55]) + data[301:],
                      "empty": b"", "not a zip": b"PK garbage" * 10}[damage])
    again = EmbeddingCache(tmp_path / "cache", progress=False)
    with pytest.warns(UserWarning, match="is damaged"):
        table = again.patches(paths)
    assert again.misses == [file.name] and again.hits == []
    np.testing.assert_array_equal(table.correlation, reference.correlation)
    third = EmbeddingCache(tmp_path / "cache", progress=False)
    third.patches(paths)
    assert third.hits == [file.name]  # the recomputed entry is whole again


def test_a_patch_table_of_another_corpus_size_is_recomputed(tmp_path, paths):
    cache = EmbeddingCache(tmp_path / "cache", progress=False)
    cache.patches(paths)
    file = cache.patches_file(paths)
    with np.load(file) as z:
        arrays = {k: z[k][: len(z[k]) // 2] for k in z.files}  # a whole, readable file that lacks clips
    with open(file, "wb") as f:
        np.savez(f, **arrays)
    again = EmbeddingCache(tmp_path / "cache", progress=False)
    again.patches(paths)
    assert again.misses == [file.name]


_WORKER = textwrap.dedent("""
    import json, sys
    from seraudit.ensemble.data.embedding_cache import EmbeddingCache
    cache = EmbeddingCache(sys.argv[1], progress=False)
    table = cache.patches(sys.argv[2:])
    print(json.dumps({"hits": cache.hits, "misses": cache.misses, "patches": len(table.clip_index)}))
""")


def test_two_processes_filling_one_cache_neither_corrupt_it_nor_repeat_the_work(tmp_path, paths):
    import json

    cache_dir = tmp_path / "cache"
    workers = [subprocess.Popen([sys.executable, "-c", _WORKER, str(cache_dir), *paths], stdout=subprocess.PIPE, text=True)
               for _ in range(2)]
    results = [json.loads(w.communicate(timeout=60)[0]) for w in workers]
    assert all(w.returncode == 0 for w in workers)
    assert sorted(len(r["misses"]) for r in results) == [0, 1]  # one computed it, the other waited and read it
    assert results[0]["patches"] == results[1]["patches"]
    entries = [p.name for p in cache_dir.iterdir() if not p.name.startswith(".")]
    assert entries == [EmbeddingCache(cache_dir).patches_file(paths).name]  # no partial file left behind
    fresh = EmbeddingCache(cache_dir, progress=False)
    fresh.patches(paths)
    assert fresh.hits and not fresh.misses


def test_a_full_disk_while_writing_a_cache_entry_leaves_no_partial_file(tmp_path, paths, monkeypatch):
    def disk_full(file, **arrays):
        file.write(b"half an entry")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    cache = EmbeddingCache(tmp_path / "cache", progress=False)
    with pytest.raises(StorageError, match="no space left on the device.*nothing was written there"):
        cache.patches(paths)
    assert [p.name for p in (tmp_path / "cache").iterdir() if not p.name.endswith(".lock")] == []


@pytest.mark.parametrize("damage", ["truncated", "overwritten"])
def test_a_damaged_egemaps_cache_is_rebuilt_not_used(tmp_path, damage):
    from seraudit.preprocessing.egemaps_cache import FeatureCache
    from seraudit.preprocessing.egemaps_names import FUNCTIONAL_NAMES

    audio = [str(_wav(tmp_path / f"a{i}.wav", voice(0.5))) for i in range(2)]
    cache = FeatureCache(tmp_path / "egemaps.csv")
    cache.store({p: pd.Series(np.arange(len(FUNCTIONAL_NAMES), dtype=float) + i, index=FUNCTIONAL_NAMES)
                 for i, p in enumerate(audio)})
    assert len(FeatureCache(tmp_path / "egemaps.csv").lookup(audio)) == 2
    text = (tmp_path / "egemaps.csv").read_text()
    broken = text[: len(text) - 7] if damage == "truncated" else text.replace(",5.0,", ",9.0,", 1)
    (tmp_path / "egemaps.csv").write_text(broken)
    with pytest.warns(UserWarning, match="does not match its checksum"):
        reread = FeatureCache(tmp_path / "egemaps.csv")
    assert reread.lookup(audio).empty  # nothing from the damaged file is used: both clips are extracted again
