"""A file of eGeMAPS functionals already extracted, so a second run over a corpus skips openSMILE.

Rows are keyed by the audio file's absolute path, modification time (ns) and size: a
file that changed since is extracted again. The file is CSV when its name ends in
``.csv``, else Parquet, with the columns ``path, mtime_ns, size`` then the 88
functionals; it is written atomically, then its SHA-256 beside it (``<name>.sha256``).
A cache is disposable: one that cannot be read, has other columns, missing values, or
bytes that do not match its checksum (truncated, overwritten) is rebuilt with a
warning, never used. A cache from before checksums is read when it is complete.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import pandas as pd

from seraudit.core.io import atomic_path, write_text
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
        problem = self._checksum_problem()
        if problem:
            warnings.warn(f"eGeMAPS cache {self.path} {problem}; it will be rebuilt", stacklevel=4)
            return empty
        try:
            table = pd.read_csv(self.path) if self.csv else pd.read_parquet(self.path)
        except Exception as error:
            warnings.warn(f"eGeMAPS cache {self.path} is unreadable ({error}); it will be rebuilt", stacklevel=4)
            return empty
        if list(table.columns) != columns:
            warnings.warn(f"eGeMAPS cache {self.path} has other columns than this version writes; it will be rebuilt", stacklevel=4)
            return empty
        if table.isna().any().any() or table["path"].duplicated().any():
            warnings.warn(f"eGeMAPS cache {self.path} has missing values or repeated rows (a damaged file); it will be rebuilt",
                          stacklevel=4)
            return empty
        return table.astype({"path": str, "mtime_ns": "int64", "size": "int64"}).set_index("path")

    @property
    def checksum_path(self) -> Path:
        return self.path.with_name(self.path.name + ".sha256")

    def _checksum_problem(self) -> str:
        """Why the file's bytes cannot be trusted ("" when its checksum matches, or it has none yet)."""
        if not self.checksum_path.is_file():
            return ""
        try:
            expected = self.checksum_path.read_text(encoding="utf-8").split()[0]
            actual = hashlib.sha256(self.path.read_bytes()).hexdigest()
        except (OSError, IndexError) as error:
            return f"cannot be verified ({error})"
        return "" if expected == actual else "does not match its checksum (truncated or overwritten)"

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
            digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
        write_text(self.checksum_path, f"{digest}  {self.path.name}\n")
