"""How far a simulated latency distribution is from the measured one: the two-sample
Kolmogorov-Smirnov statistic (the largest gap between the two empirical CDFs, 0 = identical,
1 = disjoint) and the ratio of the medians (simulated over measured)."""

from __future__ import annotations

import bisect
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


def ks_statistic(a: Sequence[float], b: Sequence[float]) -> float:
    """``sup_x |F_a(x) - F_b(x)|`` over the pooled values."""
    if not a or not b:
        raise ValueError("both samples need values")
    xa, xb = sorted(a), sorted(b)
    gap = 0.0
    for x in (*xa, *xb):
        fa = bisect.bisect_right(xa, x) / len(xa)
        fb = bisect.bisect_right(xb, x) / len(xb)
        gap = max(gap, abs(fa - fb))
    return gap


@dataclass(frozen=True)
class Distance:
    ks: float
    median_measured_s: float
    median_simulated_s: float
    measured: int
    simulated: int

    @property
    def median_ratio(self) -> float:
        return self.median_simulated_s / self.median_measured_s if self.median_measured_s else float("inf")

    def within(self, tolerance: float) -> bool:
        """Whether the simulated median is within ``tolerance`` (0.2 = 20%) of the measured one."""
        return abs(self.median_ratio - 1.0) <= tolerance


def distance(measured: Sequence[float], simulated: Sequence[float]) -> Distance:
    return Distance(ks_statistic(measured, simulated), statistics.median(measured),
                    statistics.median(simulated), len(measured), len(simulated))
