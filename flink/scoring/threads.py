"""Limits the BLAS thread pool used by numpy's matmuls around a block of work.

With threadpoolctl installed, it is used (it knows OpenBLAS, MKL and BLIS builds). Without
it, numpy's bundled OpenBLAS (the manylinux wheels' ``numpy.libs/lib*openblas*.so``) is driven
directly through its ``*_set_num_threads`` / ``*_get_num_threads`` symbols. If neither works
the limit is not applied, which is logged once (OPENBLAS_NUM_THREADS set before the process
starts still works then).

The limit is process-wide while the block runs: two scorers encoding concurrently in one
process with different thread counts would race. Flink runs one function call at a time per
Python worker, so this does not arise there.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_SETTERS = (
    "scipy_openblas_set_num_threads64_",
    "openblas_set_num_threads64_",
    "openblas_set_num_threads",
)
_GETTERS = (
    "scipy_openblas_get_num_threads64_",
    "openblas_get_num_threads64_",
    "openblas_get_num_threads",
)


class _OpenBlasLimiter:
    """Sets numpy's bundled OpenBLAS thread count through ctypes."""

    def __init__(self, setter: Callable[[int], Any], getter: Callable[[], int]) -> None:
        self._set = setter
        self._get = getter

    @classmethod
    def find(cls) -> _OpenBlasLimiter | None:
        import numpy

        libs = Path(numpy.__file__).resolve().parent.parent / "numpy.libs"
        for path in sorted(libs.glob("lib*openblas*.so*")):
            try:
                lib = ctypes.CDLL(str(path))
            except OSError:
                log.debug("cannot open %s", path, exc_info=True)
                continue
            setter = next((getattr(lib, s) for s in _SETTERS if hasattr(lib, s)), None)
            getter = next((getattr(lib, g) for g in _GETTERS if hasattr(lib, g)), None)
            if setter is not None and getter is not None:
                setter.argtypes, setter.restype = [ctypes.c_int], None
                getter.argtypes, getter.restype = [], ctypes.c_int
                return cls(setter, getter)
        return None

    @contextlib.contextmanager
    def limit(self, limits: int, user_api: str = "blas") -> Iterator[None]:
        previous = int(self._get())
        self._set(limits)
        try:
            yield
        finally:
            self._set(previous)


_lock = threading.Lock()
_limiter: Any = None
_searched = False


def _get_limiter() -> Any:
    global _limiter, _searched
    with _lock:
        if not _searched:
            _searched = True
            try:
                from threadpoolctl import ThreadpoolController
            except ImportError:
                _limiter = _OpenBlasLimiter.find()
            else:
                _limiter = ThreadpoolController()
            if _limiter is None:
                log.warning(
                    "cannot set the BLAS thread count at run time (no threadpoolctl, no "
                    "bundled OpenBLAS found); set OPENBLAS_NUM_THREADS in the environment instead"
                )
        return _limiter


@contextlib.contextmanager
def blas_threads(n: int) -> Iterator[None]:
    """Runs the block with `n` BLAS threads, restoring the previous setting afterwards."""
    limiter = _get_limiter()
    if limiter is None:
        yield
        return
    with limiter.limit(limits=n, user_api="blas"):
        yield


_workers_sharing_cores = 1


def share_cores(workers: int) -> None:
    """Tells `auto_threads` how many scoring workers share this machine's cores (the Flink job
    calls it with its parallelism before building scorers)."""
    global _workers_sharing_cores
    _workers_sharing_cores = max(1, int(workers))


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity; cgroup quotas are not read)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def auto_threads(requested: int) -> int:
    """`requested` threads, or for 0 ("auto") this process's share of the cores: the cores it
    may use divided by the scoring workers sharing them (`share_cores`), at least 1."""
    if requested > 0:
        return requested
    return max(1, available_cores() // _workers_sharing_cores)
