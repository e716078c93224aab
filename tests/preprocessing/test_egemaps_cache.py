"""A second run over a corpus reads the eGeMAPS functionals back instead of running openSMILE again."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pandas as pd
import pytest

from seraudit.preprocessing.egemaps_cache import FeatureCache
from seraudit.preprocessing.egemaps_names import FUNCTIONAL_NAMES


def _features(seed: int) -> pd.Series:
    return pd.Series(np.random.default_rng(seed).normal(size=len(FUNCTIONAL_NAMES)), index=list(FUNCTIONAL_NAMES))


@pytest.fixture
def audio_files(tmp_path):
    files = []
    for name in ("a.wav", "b.wav"):
        (tmp_path / name).write_bytes(b"stand-in audio " + name.encode())
        files.append(str(tmp_path / name))
    return files


@pytest.mark.parametrize("name", ["egemaps.csv", "egemaps.parquet"])
def test_stored_functionals_come_back_exactly(tmp_path, audio_files, name):
    path = tmp_path / name
    FeatureCache(path).store({audio_files[0]: _features(0)})
    FeatureCache(path).store({audio_files[1]: _features(1)})  # a later run adds to the file
    found = FeatureCache(path).lookup([*audio_files, str(tmp_path / "missing.wav")])
    assert found.index.tolist() == audio_files and list(found.columns) == list(FUNCTIONAL_NAMES)
    np.testing.assert_array_equal(found.loc[audio_files[1]].to_numpy(), _features(1).to_numpy())
    table = pd.read_csv(path) if name.endswith(".csv") else pd.read_parquet(path)
    assert list(table.columns[:3]) == ["path", "mtime_ns", "size"]
    assert table["path"].tolist() == sorted(os.path.abspath(f) for f in audio_files)


def test_a_changed_file_is_not_found(tmp_path, audio_files):
    path = tmp_path / "egemaps.csv"
    FeatureCache(path).store({f: _features(i) for i, f in enumerate(audio_files)})
    os.utime(audio_files[0], ns=(1, 1))  # touched
    stamp = os.stat(audio_files[1]).st_mtime_ns
    with open(audio_files[1], "ab") as f:  # rewritten under the same time stamp
        f.write(b"more")
    os.utime(audio_files[1], ns=(stamp, stamp))
    assert FeatureCache(path).lookup(audio_files).empty


def test_an_unreadable_or_foreign_cache_is_rebuilt_with_a_warning(tmp_path, audio_files):
    path = tmp_path / "egemaps.parquet"
    path.write_bytes(b"not parquet")
    with pytest.warns(UserWarning, match="unreadable.*rebuilt"):
        cache = FeatureCache(path)
    cache.store({audio_files[0]: _features(0)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert FeatureCache(path).lookup(audio_files).index.tolist() == [audio_files[0]]

    foreign = tmp_path / "other.csv"
    pd.DataFrame({"path": audio_files, "loudness": [1.0, 2.0]}).to_csv(foreign, index=False)
    with pytest.warns(UserWarning, match="other columns"):
        assert FeatureCache(foreign).lookup(audio_files).empty
