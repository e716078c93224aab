"""A file of eGeMAPS functionals already extracted, so a second run over a corpus skips openSMILE.

Rows are keyed by the audio file's absolute path, modification time (ns) and size: a
file that changed since is extracted again. The file is CSV when its name ends in
``.csv``, else Parquet, with the columns ``path, mtime_ns, size`` then the 88
functionals; it is written atomically. A cache is disposable: one that cannot be read,
or has other columns, is rebuilt with a warning.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pandas as pd

from seraudit.core.io import atomic_path
from seraudit.preprocessing.egemaps_names import FUNCTIONAL_NAMES


class FeatureCache:
    """Functionals already extracted, keyed by absolute path + modification time (ns) + size."""

    KEY = ("path", "mtime_ns", "size")

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.csv = self.path.suffix.lower() == ".csv"  # any other name is a Parquet file
        self.table = self._load()

    def _load(self) -> pd.DataFrame:
        columns = [*self.KEY, *FUNCTIONAL_NAMES]
        empty = pd.DataFrame(columns=columns).set_index("path")
        if not self.path.is_file():
            return empty
        try:
            table = pd.read_csv(self.path) if self.csv else pd.read_parquet(self.path)
        except Exception as error:
            warnings.warn(f"eGeMAPS cache {self.path} is unreadable ({error}); it will be rebuilt", stacklevel=4)
            return empty
        if list(table.columns) != columns:
            warnings.warn(f"eGeMAPS cache {self.path} has other columns than this version writes; it will be rebuilt", stacklevel=4)
            return empty
        return table.astype({"path": str, "mtime_ns": "int64", "size": "int64"}).set_index("path")

    @staticmethod
    def _stamp(key: str) -> tuple[str, int, int] | None:
        try:
            stat = os.stat(key)
        except OSError:
            return None
        return os.path.abspath(key), stat.st_mtime_ns, stat.st_size

    def lookup(self, keys: list[str]) -> pd.DataFrame:
        """The cached functionals of those `keys` (paths as given) whose file is unchanged, indexed by key."""
        stamps = {key: stamp for key in dict.fromkeys(keys) if (stamp := self._stamp(key)) is not None}
        if not stamps or self.table.empty:
            return pd.DataFrame(columns=list(FUNCTIONAL_NAMES), dtype=float)
        wanted = pd.DataFrame.from_dict(stamps, orient="index", columns=["absolute", "mtime_now", "size_now"])
        found = wanted.join(self.table, on="absolute", how="inner")
        found = found[(found["mtime_now"] == found["mtime_ns"]) & (found["size_now"] == found["size"])]
        return found[list(FUNCTIONAL_NAMES)].astype(float)

    def store(self, features: dict[str, pd.Series]) -> None:
        """Add the functionals of successfully extracted files (key -> 88 values) and write the cache."""
        rows = {}
        for key, values in features.items():
            stamp = self._stamp(key)
            if stamp is not None:
                rows[stamp[0]] = [stamp[1], stamp[2], *values[list(FUNCTIONAL_NAMES)].astype(float)]
        if not rows:
            return
        new = pd.DataFrame.from_dict(rows, orient="index", columns=[*self.KEY[1:], *FUNCTIONAL_NAMES])
        new.index.name = "path"
        kept = self.table.drop(index=new.index, errors="ignore")
        self.table = (pd.concat([kept, new]) if len(kept) else new).sort_index()
        out = self.table.reset_index()
        with atomic_path(self.path) as tmp:
            if self.csv:
                out.to_csv(tmp, index=False)
            else:
                out.to_parquet(tmp, index=False)
