"""Repeats of one spec: each headline metric's mean with a seeded bootstrap confidence interval.

Repeats are few (3-10), and the plain percentile bootstrap is too narrow for so few values (with 3
values its 95 % interval covers the true mean barely 3 times in 4). We use the *expanded* percentile
bootstrap (Hesterberg, "What teachers should know about the bootstrap", 2015): bootstrap deviations
from the mean are widened by ``sqrt(n / (n - 1)) * t_{n-1} / z``, which corrects the bootstrap's
variance bias and its normal-instead-of-t tails, and keeps the bootstrap's asymmetry.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from statistics import NormalDist
from typing import Any

import numpy as np

from experiments.metrics.headline import BOUNDS

DEFAULT_RESAMPLES = 4000
DEFAULT_CONFIDENCE = 0.95


def t_quantile(p: float, df: int) -> float:
    """Student's t quantile: exact for 1 and 2 degrees of freedom, Abramowitz & Stegun 26.7.5 above
    (within 0.1 % of the exact value at df >= 3 for p <= 0.975)."""
    if df < 1:
        raise ValueError("df must be >= 1")
    if df == 1:
        return math.tan(math.pi * (p - 0.5))
    if df == 2:
        return (2 * p - 1) / math.sqrt(2 * p * (1 - p))
    z = NormalDist().inv_cdf(p)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


def expansion(n: int, confidence: float) -> float:
    """Widening factor of the expanded percentile bootstrap for ``n`` values."""
    p = 0.5 + confidence / 2.0
    return math.sqrt(n / (n - 1)) * t_quantile(p, n - 1) / NormalDist().inv_cdf(p)


def _interval(
    center: float, boot: np.ndarray, factor: float, confidence: float
) -> tuple[float, float]:
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(center + (boot - center) * factor, [alpha, 1.0 - alpha])
    return float(low), float(high)


def bootstrap_mean_ci(
    values: Sequence[float],
    *,
    seed: int = 0,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
) -> tuple[float, float | None, float | None]:
    """``(mean, low, high)``: expanded percentile bootstrap CI of the mean; no interval below 2 values.

    Deterministic for a given ``seed``.
    """
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        raise ValueError("bootstrap of no values")
    mean = float(data.mean())
    if data.size < 2:
        return mean, None, None
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    low, high = _interval(mean, means, expansion(data.size, confidence), confidence)
    return mean, low, high


def bootstrap_diff_ci(
    a: Sequence[float],
    b: Sequence[float],
    *,
    seed: int = 0,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
) -> tuple[float, float, float] | None:
    """``(diff, low, high)`` for ``mean(b) - mean(a)``, both groups resampled independently and the
    interval expanded for the smaller group; None unless each group has 2+ values."""
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if xa.size < 2 or xb.size < 2:
        return None
    rng = np.random.default_rng(seed)
    ma = xa[rng.integers(0, xa.size, size=(resamples, xa.size))].mean(axis=1)
    mb = xb[rng.integers(0, xb.size, size=(resamples, xb.size))].mean(axis=1)
    diff = float(xb.mean() - xa.mean())
    low, high = _interval(diff, mb - ma, expansion(min(xa.size, xb.size), confidence), confidence)
    return diff, low, high


def _clip(value: float | None, bounds: tuple[float | None, float | None]) -> float | None:
    if value is None:
        return None
    low, high = bounds
    if low is not None:
        value = max(low, value)
    if high is not None:
        value = min(high, value)
    return value


def aggregate_repeats(
    headlines: Sequence[Mapping[str, float | None]],
    *,
    seed: int = 0,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    bounds: Mapping[str, tuple[float | None, float | None]] | None = None,
) -> dict[str, Any]:
    """Per headline key: mean, CI and the repeats' values (a repeat missing the key is skipped).

    Intervals are clipped to each metric's natural range (``bounds``, default: the headline
    registry's, e.g. a rate in [0, 1], a latency >= 0): the widened interval can overshoot it.
    """
    limits = BOUNDS if bounds is None else bounds
    keys = list(dict.fromkeys(k for h in headlines for k in h))
    out: dict[str, Any] = {}
    for i, key in enumerate(keys):
        values = [float(v) for h in headlines if (v := h.get(key)) is not None]
        if not values:
            out[key] = {"n": 0, "mean": None, "ci_low": None, "ci_high": None, "values": []}
            continue
        mean, low, high = bootstrap_mean_ci(
            values, seed=seed + i, resamples=resamples, confidence=confidence
        )
        out[key] = {
            "n": len(values),
            "mean": mean,
            "ci_low": _clip(low, limits.get(key, (None, None))),
            "ci_high": _clip(high, limits.get(key, (None, None))),
            "values": values,
        }
    return {
        "n": len(headlines),
        "confidence": confidence,
        "resamples": resamples,
        "seed": seed,
        "method": "expanded percentile bootstrap of the mean over repeats",
        "metrics": out,
    }


def repeats_of(runs: Sequence[Any], *, seed: int = 0, **compute_kwargs: Any) -> dict[str, Any]:
    """Compute every run (``RunData`` repeats of one spec) and aggregate their headline metrics."""
    from experiments.metrics.compute import compute  # local: compute imports most of the package

    return aggregate_repeats([compute(r, **compute_kwargs).headline for r in runs], seed=seed)
