"""The LRU text cache and the BLAS thread limit."""

from __future__ import annotations

import numpy as np
import pytest

from flink.scoring.bert import gelu_
from flink.scoring.cache import TextLRU
from flink.scoring.threads import (
    _get_limiter,
    auto_threads,
    available_cores,
    blas_threads,
    share_cores,
)


def test_lru_evicts_least_recently_used() -> None:
    cache: TextLRU[int] = TextLRU(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "b" is now the least recently used
    cache.put("c", 3)
    assert cache.get("b") is None
    assert (cache.get("a"), cache.get("c")) == (1, 3)
    info = cache.info()
    assert (info.hits, info.misses, info.size, info.maxsize) == (3, 1, 2, 2)


def test_lru_of_size_zero_stores_nothing() -> None:
    cache: TextLRU[int] = TextLRU(0)
    cache.put("a", 1)
    assert cache.get("a") is None and len(cache) == 0
    with pytest.raises(ValueError):
        TextLRU(-1)


def test_blas_thread_limit_applies_and_restores() -> None:
    limiter = _get_limiter()
    if limiter is None or not hasattr(limiter, "_get"):
        pytest.skip("numpy's bundled OpenBLAS is not driven directly here")
    before = limiter._get()
    with blas_threads(1):
        assert limiter._get() == 1
    assert limiter._get() == before


def test_gelu_matches_exact_erf_form() -> None:
    from math import erf, sqrt

    x = np.linspace(-8, 8, 2001, dtype=np.float32).reshape(3, 667)
    exact = np.vectorize(lambda v: 0.5 * v * (1 + erf(v / sqrt(2))))(x.astype(np.float64))
    got = gelu_(x.copy())
    assert np.abs(got - exact).max() < 1e-6


def test_auto_threads_is_this_workers_share_of_the_cores() -> None:
    from flink.scoring import get_scorer

    cores = available_cores()
    assert cores >= 1
    assert auto_threads(3) == 3, "an explicit count is kept"
    try:
        share_cores(1)
        assert auto_threads(0) == cores
        assert get_scorer("minilm", threads=0).encoder.threads == cores
        share_cores(cores * 2)  # more workers than cores: one thread each
        assert auto_threads(0) == 1
        share_cores(0)
        assert auto_threads(0) == cores, "a nonsensical count means one worker"
    finally:
        share_cores(1)
