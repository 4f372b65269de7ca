"""The one place latencies meet HdrHistogram: microsecond resolution, 3 significant digits.

Values are recorded in seconds and reported in seconds. HdrHistogram reports a percentile as the
highest value equivalent to the bucket holding the value of rank ``round(p/100 x n)`` (a nearest-rank
definition; relative error below 0.1 %), capped at the exact maximum;
the maximum is tracked exactly beside it. Negative durations (clock skew between hosts) are
clamped to 0 and counted; durations beyond the trackable range (24 h) are clamped to it and counted.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable

import numpy as np
from hdrh.histogram import HdrHistogram

log = logging.getLogger(__name__)

_US_PER_S = 1_000_000
_HIGHEST_US = 24 * 3600 * _US_PER_S
_SIGNIFICANT_DIGITS = 3

#: Percentiles every latency summary carries, with their JSON keys.
PERCENTILES: tuple[tuple[str, float], ...] = (
    ("p50", 50.0),
    ("p90", 90.0),
    ("p95", 95.0),
    ("p99", 99.0),
    ("p99_9", 99.9),
)

#: Levels sampled for a CDF curve (dense in the tail, where the plots are read on a log scale).
CDF_LEVELS: tuple[float, ...] = (
    *[float(p) for p in range(0, 90, 2)],
    *[90.0 + i * 0.5 for i in range(18)],
    99.0,
    99.2,
    99.4,
    99.5,
    99.6,
    99.7,
    99.8,
    99.9,
    99.95,
    99.99,
    100.0,
)


class LatencyHistogram:
    """An HdrHistogram of durations in seconds."""

    def __init__(self) -> None:
        self._h = HdrHistogram(1, _HIGHEST_US, _SIGNIFICANT_DIGITS)
        self._max_s = -math.inf
        self._sum_s = 0.0
        self.clamped_negative = 0
        self.clamped_high = 0

    @classmethod
    def of(cls, values: Iterable[float | None]) -> LatencyHistogram:
        hist = cls()
        for value in values:
            if value is not None:
                hist.record(value)
        return hist

    def record(self, seconds: float) -> None:
        if math.isnan(seconds):
            return
        if seconds < 0:
            self.clamped_negative += 1
            seconds = 0.0
        micros = round(seconds * _US_PER_S)
        if micros > _HIGHEST_US:
            self.clamped_high += 1
            micros = _HIGHEST_US
        self._h.record_value(micros)
        self._max_s = max(self._max_s, seconds)
        self._sum_s += seconds

    def _raw_values_at(self, levels: Iterable[float]) -> dict[float, int]:
        """HdrHistogram's value at each percentile level (its own rank rule and bucket edges), found
        with a numpy cumulative sum instead of hdrh's per-index Python loop (~100x faster)."""
        cumulative = np.cumsum(np.ctypeslib.as_array(self._h.counts)[: self._h.counts_len])
        out: dict[float, int] = {}
        for level in levels:
            target = self._h.get_target_count_at_percentile(level)
            index = int(np.searchsorted(cumulative, target, side="left"))
            value = self._h.get_value_from_index(index)
            if level:
                out[level] = int(self._h.get_highest_equivalent_value(value))
            else:
                out[level] = int(self._h.get_lowest_equivalent_value(value))
        return out

    @property
    def count(self) -> int:
        return int(self._h.get_total_count())

    def percentile(self, level: float) -> float | None:
        """Value at ``level`` (0-100) in seconds, None when empty."""
        if self.count == 0:
            return None
        if level >= 100.0:
            return self._max_s
        return min(self._raw_values_at([level])[level] / _US_PER_S, self._max_s)

    def percentiles(self, levels: list[float]) -> dict[float, float | None]:
        """Several percentiles (0-100) in one pass over the histogram, in seconds."""
        if self.count == 0:
            return dict.fromkeys(levels)
        below = [lvl for lvl in levels if lvl < 100.0]
        values = self._raw_values_at(below)
        return {
            lvl: self._max_s if lvl >= 100.0 else min(values[lvl] / _US_PER_S, self._max_s)
            for lvl in levels
        }

    def summary(self) -> dict[str, float | int | None]:
        """count, mean, min, the :data:`PERCENTILES` and max, in seconds (None when empty)."""
        n = self.count
        out: dict[str, float | int | None] = {"count": n}
        if n == 0:
            out.update(
                {"mean": None, "min": None, **{k: None for k, _ in PERCENTILES}, "max": None}
            )
            return out
        values = self._raw_values_at([p for _, p in PERCENTILES])
        out["mean"] = self._sum_s / n
        out["min"] = self._h.get_min_value() / _US_PER_S
        for key, level in PERCENTILES:
            # an HdrHistogram bucket's upper edge can exceed the exact maximum: never report above it
            out[key] = min(values[level] / _US_PER_S, self._max_s)
        out["max"] = self._max_s
        if self.clamped_negative or self.clamped_high:
            out["clamped_negative"] = self.clamped_negative
            out["clamped_high"] = self.clamped_high
            log.warning(
                "latency histogram clamped %d negative and %d too-large values",
                self.clamped_negative,
                self.clamped_high,
            )
        return out

    def cdf(self) -> list[list[float]]:
        """``[[seconds, fraction], ...]`` at :data:`CDF_LEVELS`, for plotting; empty when empty."""
        if self.count == 0:
            return []
        levels = [lvl for lvl in CDF_LEVELS if lvl < 100.0]
        values = self._raw_values_at(levels)
        points = [[min(values[lvl] / _US_PER_S, self._max_s), lvl / 100.0] for lvl in levels]
        points.append([self._max_s, 1.0])
        return points
