"""Several processes writing one cache entry at once (Ray workers on one node or a shared filesystem) never corrupt it."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

WRITERS = 4
ROUNDS = 20
SIZE = 200_000  # floats per entry: large enough that a write takes many system calls


WRITER = f"""
import sys
import numpy as np
from seraudit.core.io import atomic_path
for _ in range({ROUNDS}):
    with atomic_path(sys.argv[1]) as tmp, open(tmp, "wb") as f:
        np.savez(f, values=np.full({SIZE}, float(sys.argv[2])))
"""


def test_concurrent_writers_of_one_npz_entry_leave_one_complete_entry_and_no_temporary_files(tmp_path):
    target = tmp_path / "cache" / "yamnet-taps-0123.npz"
    target.parent.mkdir(parents=True)
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(target), str(i)]) for i in range(WRITERS)]
    while any(p.poll() is None for p in writers):  # a reader during the writes only ever sees whole entries
        if target.exists():
            with np.load(target) as z:
                values = z["values"]
            assert values.shape == (SIZE,) and len(np.unique(values)) == 1
    for process in writers:
        assert process.wait() == 0
    with np.load(target) as z:
        assert len(np.unique(z["values"])) == 1 and float(z["values"][0]) in range(WRITERS)
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]
