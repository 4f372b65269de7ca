"""Each claim of a study judged on the cells' statistics: reproduced, not reproduced, or not
testable here, with the numbers. Pure: statistics in, verdicts out.

Rules, with each cell's mean and 95 % interval over its repeats
(:func:`experiments.metrics.repeats.aggregate_repeats`):

- threshold ``metric op value`` on one cell: **reproduced** when the whole interval satisfies it
  (``>=``: low >= value; ``<=``: high <= value), **not reproduced** when the whole interval
  contradicts it (``>=``: high < value; ``<=``: low > value), otherwise **not testable here**:
  the interval straddles the bound.
- comparison of cell B with cell A: the 95 % interval of ``mean(B) - factor * mean(A)`` (the
  bootstrap interval of a difference of means, :func:`experiments.metrics.repeats.bootstrap_diff_ci`)
  against 0: ``lower`` is reproduced when the interval lies below 0 and not reproduced when it lies
  at or above 0; ``higher`` the mirror; ``not_lower`` is reproduced when it lies at or above
  ``-margin`` and not reproduced when it lies below; ``not_higher`` the mirror. An interval across
  the boundary is not testable here.
- not testable here as well, saying which: a cell without a finished repeat, a metric not measured
  in a cell, fewer than 2 repeats (no interval).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from experiments.metrics.headline import format_value
from experiments.metrics.repeats import bootstrap_diff_ci
from experiments.studies.model import Claim, CompareClaim, ThresholdClaim

Outcome = Literal["reproduced", "not_reproduced", "not_testable"]
OUTCOME_TEXT: dict[str, str] = {
    "reproduced": "reproduced",
    "not_reproduced": "not reproduced",
    "not_testable": "not testable here",
}


@dataclass(frozen=True)
class MetricStat:
    """One metric of one cell over its repeats: mean, 95 % interval (None below 2 repeats)."""

    mean: float | None
    low: float | None = None
    high: float | None = None
    values: tuple[float, ...] = ()

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> MetricStat:
        """From an :func:`aggregate_repeats` entry (``mean``, ``ci_low``, ``ci_high``, ``values``)."""
        return cls(data.get("mean"), data.get("ci_low"), data.get("ci_high"),
                   tuple(float(v) for v in data.get("values") or ()))


#: cell name -> metric key -> its statistics
CellStats = Mapping[str, Mapping[str, MetricStat]]


@dataclass(frozen=True)
class Verdict:
    """A claim's outcome, why, and the numbers it was judged on."""

    claim: str
    says: str
    outcome: Outcome
    reason: str
    numbers: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return OUTCOME_TEXT[self.outcome]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _missing(stats: CellStats, cell: str, metric: str) -> str | None:
    """Why CELL's METRIC cannot be judged, or None when it has a mean and an interval."""
    if cell not in stats:
        return f"cell {cell} has no finished repeat"
    stat = stats[cell].get(metric)
    if stat is None or stat.mean is None:
        return f"{metric} was not measured in cell {cell}"
    if stat.low is None or stat.high is None or len(stat.values) < 2:
        return f"cell {cell} has fewer than 2 repeats with {metric}: no interval"
    return None


def _fmt(metric: str, value: float, relative: bool) -> str:
    return f"{value:.3g}" if relative else format_value(metric, value)


def judge_threshold(claim: ThresholdClaim, cell: str, stats: CellStats) -> Verdict:
    """A threshold claim on CELL (see the module's rules)."""
    why = _missing(stats, cell, claim.metric)
    numbers: dict[str, Any] = {"cell": cell, "metric": claim.metric, "op": claim.op,
                               "bound": claim.value, "relative_to": claim.relative_to}
    if why is not None:
        return Verdict(claim.id, claim.says, "not_testable", why, numbers)
    stat = stats[cell][claim.metric]
    scale = claim.relative_to or 1.0
    mean, low, high = stat.mean / scale, stat.low / scale, stat.high / scale  # type: ignore[operator]
    numbers.update(mean=mean, ci=[low, high], n=len(stat.values))
    relative = claim.relative_to is not None
    name = f"{claim.metric} / {claim.relative_to:g}" if relative else claim.metric
    shown = (f"{name} in {cell}: {_fmt(claim.metric, mean, relative)} "
             f"[{_fmt(claim.metric, low, relative)}, {_fmt(claim.metric, high, relative)}] "
             f"(95% CI, {len(stat.values)} repeats)")
    bound = _fmt(claim.metric, claim.value, relative)
    if claim.op == ">=":
        holds, fails = low >= claim.value, high < claim.value
    else:
        holds, fails = high <= claim.value, low > claim.value
    if holds:
        return Verdict(claim.id, claim.says, "reproduced", f"{shown} {claim.op} {bound}", numbers)
    if fails:
        return Verdict(claim.id, claim.says, "not_reproduced",
                       f"{shown}: the whole interval is on the wrong side of {bound}", numbers)
    return Verdict(claim.id, claim.says, "not_testable",
                   f"{shown} straddles the bound {bound}: more repeats could decide", numbers)


#: op -> (reproduced when, not reproduced when), on the difference's interval (low, high), margin
_COMPARE_RULES = {
    "lower": (lambda lo, hi, m: hi < 0, lambda lo, hi, m: lo >= 0),
    "higher": (lambda lo, hi, m: lo > 0, lambda lo, hi, m: hi <= 0),
    "not_lower": (lambda lo, hi, m: lo >= -m, lambda lo, hi, m: hi < -m),
    "not_higher": (lambda lo, hi, m: hi <= m, lambda lo, hi, m: lo > m),
}


def judge_comparison(claim: CompareClaim, cells: Sequence[str], stats: CellStats,
                     seed: int = 0) -> Verdict:
    """A comparison claim of cell B (``cells[1]``) against cell A (``cells[0]``)."""
    a, b = cells
    numbers: dict[str, Any] = {"cells": [a, b], "metric": claim.metric, "op": claim.op,
                               "factor": claim.factor, "margin": claim.margin}
    why = _missing(stats, a, claim.metric) or _missing(stats, b, claim.metric)
    if why is not None:
        return Verdict(claim.id, claim.says, "not_testable", why, numbers)
    sa, sb = stats[a][claim.metric], stats[b][claim.metric]
    ci = bootstrap_diff_ci([claim.factor * v for v in sa.values], list(sb.values), seed=seed)
    assert ci is not None  # both have 2+ values (checked above)
    diff, low, high = ci
    numbers.update(means={a: sa.mean, b: sb.mean}, cis={a: [sa.low, sa.high], b: [sb.low, sb.high]},
                   diff=diff, diff_ci=[low, high])
    m = claim.metric
    scaled = f"{claim.factor:g} x {a}" if claim.factor != 1 else a
    shown = (f"{m}: {a} {format_value(m, sa.mean)} [{format_value(m, sa.low)}, "
             f"{format_value(m, sa.high)}], {b} {format_value(m, sb.mean)} "
             f"[{format_value(m, sb.low)}, {format_value(m, sb.high)}]; {b} - {scaled} = "
             f"{diff:+.3g} [{low:+.3g}, {high:+.3g}] (95% CI)")
    margin = f" (margin {claim.margin:g})" if claim.margin else ""
    holds, fails = _COMPARE_RULES[claim.op]
    if holds(low, high, claim.margin):
        return Verdict(claim.id, claim.says, "reproduced",
                       f"{shown}: {b} is {claim.op.replace('_', ' ')} than {scaled}{margin}",
                       numbers)
    if fails(low, high, claim.margin):
        return Verdict(claim.id, claim.says, "not_reproduced",
                       f"{shown}: the interval contradicts '{claim.op.replace('_', ' ')}'{margin}",
                       numbers)
    return Verdict(claim.id, claim.says, "not_testable",
                   f"{shown}: the interval straddles the boundary{margin}; more repeats could "
                   "decide", numbers)


def judge(claim: Claim, cells: Sequence[str], stats: CellStats, seed: int = 0) -> Verdict:
    """CLAIM on the named CELLS (one for a threshold, [A, B] for a comparison)."""
    if isinstance(claim, CompareClaim):
        return judge_comparison(claim, cells, stats, seed=seed)
    return judge_threshold(claim, cells[0], stats)
