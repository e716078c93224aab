"""Thread pools beside TensorFlow's: numpy's BLAS kept to one thread while TensorFlow holds the cores."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Inside the block, numpy's and scipy's BLAS run each matrix product on the calling thread.

    An audit's own matrix products are small (LIME's ridge fits, occlusion's window averages); its
    heavy work is TensorFlow's, whose thread pool already uses every core. A multi-threaded BLAS
    woken by the small products keeps its threads spinning for a while after each one, taking
    cores from TensorFlow: on 2 cores, a 3-s clip's audit took 5.7 s with numpy's default
    OpenBLAS threads and 4.9 s with one (`benchmarks/audit_speed.py`).
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield
