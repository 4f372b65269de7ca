"""Arrival processes (when to send) and question selection (what to send), deterministic by seed.

An arrival process yields *intended* send offsets in seconds from the start of a run; the traffic
generator stamps each record with ``intended_at = start + offset`` and paces on that schedule, so
latency is measured from when a request was due, not from when it went out.

    process = build_arrival({"kind": "gamma", "rate": 50, "cv": 3, "seed": 7})
    for offset in process.offsets(duration_s=60):
        ...
    arrival_json_schema()        # one schema (discriminated by "kind") for the experiment form

Processes are registered by ``kind`` (:func:`register_arrival`). Rate-driven processes (constant,
poisson, gamma, onoff, ramp, step) are one mechanism: a rate function r(t) and unit-mean gaps in
"operational time"; arrival k happens when the integral of r reaches the k-th partial sum of the
gaps. Evenly spaced gaps give a deterministic schedule, exponential gaps a (non-homogeneous)
Poisson process, gamma gaps a bursty renewal process with the chosen coefficient of variation.
"""

from __future__ import annotations

import functools
import json
import math
import operator
import random
from abc import abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple, TypeVar

from pydantic import ConfigDict, Field, PrivateAttr, TypeAdapter, model_validator

from pipeline.spec_model import SpecError, SpecModel, rule, validate_model

__all__ = [
    "ARRIVALS",
    "MAX_RATE",
    "ArrivalProcess",
    "ArrivalSpecError",
    "Burstiness",
    "ConstantArrival",
    "GammaArrival",
    "OnOffArrival",
    "Period",
    "PoissonArrival",
    "QuestionSelector",
    "RampArrival",
    "Rate",
    "RateOrZero",
    "Selection",
    "StepArrival",
    "TraceArrival",
    "arrival_json_schema",
    "arrival_schemas",
    "build_arrival",
    "register_arrival",
]

MAX_RATE = 100_000.0  # requests per second; far above what one machine can send

# The bounds of the arrival parameters, one definition each: the processes below and the
# experiment spec's arrival section (experiments.spec) both use these types.
Rate = Annotated[float, Field(gt=0, le=MAX_RATE, title="Rate (requests/s)")]
RateOrZero = Annotated[float, Field(ge=0, le=MAX_RATE, title="Rate (requests/s)")]
Period = Annotated[float, Field(gt=0, le=86400)]  # seconds: on, off and ramp periods
Burstiness = Annotated[
    float,
    Field(ge=0.1, le=10, title="Burstiness (CV)", description="std/mean of the gaps; 1 = Poisson"),
]
Spacing = Literal["poisson", "uniform"]

# An invalid arrival spec raises the one spec error; ``field`` is the offending field's path
# (e.g. "rate", "steps.1.1", "kind"), ``errors`` every problem found.
ArrivalSpecError = SpecError


class Segment(NamedTuple):
    """Rate goes linearly from ``r0`` at ``t0`` to ``r1`` at ``t1`` (``t1`` may be inf; then r1 == r0)."""

    t0: float
    t1: float
    r0: float
    r1: float

    def area(self) -> float:
        if math.isinf(self.t1):
            return math.inf if self.r0 > 0 else 0.0
        return (self.r0 + self.r1) / 2 * (self.t1 - self.t0)


class ArrivalProcess(SpecModel):
    """Base of every arrival spec: a pydantic model (its JSON schema feeds the form) that can
    generate its offsets. Subclasses set ``kind`` and implement :meth:`offsets`.

    Unlike the other spec models, an arrival spec is validated in lax mode: its pairs and lists
    come from JSON as lists (``steps: [[0, 2], [30, 8]]``) where the models hold tuples."""

    model_config = ConfigDict(frozen=True, strict=False)

    kind: str
    seed: int = Field(default=0, ge=0, title="Seed", description="same seed, same schedule")

    @abstractmethod
    def offsets(
        self, *, duration_s: float | None = None, count: int | None = None
    ) -> Iterator[float]:
        """Non-decreasing send offsets (seconds from start), below ``duration_s`` and at most
        ``count`` of them; without either bound the stream may be endless. Every call restarts
        from the seed, so it yields the same sequence."""

    @abstractmethod
    def expected_count(self, duration_s: float) -> float:
        """The mean number of arrivals in [0, duration_s)."""

    def mean_rate(self, duration_s: float) -> float:
        """Mean arrivals per second over [0, duration_s)."""
        return self.expected_count(duration_s) / duration_s


class _RateDriven(ArrivalProcess):
    """An arrival process defined by a rate function and a gap distribution."""

    @abstractmethod
    def segments(self) -> Iterator[Segment]:
        """The rate function as contiguous segments from t=0 (the last one may be infinite)."""

    def _gaps(self, rng: random.Random) -> Iterator[float]:
        """Unit-mean gaps in operational time; the first is the wait before the first arrival."""
        spacing = getattr(self, "spacing", "poisson")
        if spacing == "uniform":
            yield 0.0
            while True:
                yield 1.0
        while True:
            yield rng.expovariate(1.0)

    def offsets(
        self, *, duration_s: float | None = None, count: int | None = None
    ) -> Iterator[float]:
        _check_bounds(duration_s, count)
        return _bounded(
            _time_change(self.segments(), self._gaps(random.Random(self.seed))), duration_s, count
        )

    def expected_count(self, duration_s: float) -> float:
        total = 0.0
        for seg in self.segments():
            if seg.t0 >= duration_s:
                break
            end = min(seg.t1, duration_s)
            rate_end = (
                seg.r0
                if math.isinf(seg.t1)
                else seg.r0 + (seg.r1 - seg.r0) * (end - seg.t0) / (seg.t1 - seg.t0)
            )
            total += (seg.r0 + rate_end) / 2 * (end - seg.t0)
        return total


_REGISTRY: dict[str, type[ArrivalProcess]] = {}
ARRIVALS: Mapping[str, type[ArrivalProcess]] = _REGISTRY  # read-only view for callers

A = TypeVar("A", bound=ArrivalProcess)


def register_arrival(cls: type[A]) -> type[A]:
    """Class decorator: make ``cls`` buildable by its ``kind``."""
    kind = cls.model_fields["kind"].default
    if not isinstance(kind, str) or not kind:
        raise TypeError(f"{cls.__name__} needs a default 'kind'")
    if kind in _REGISTRY and _REGISTRY[kind] is not cls:
        raise ValueError(f"arrival kind {kind!r} is already registered")
    _REGISTRY[kind] = cls
    return cls


@register_arrival
class ConstantArrival(_RateDriven):
    """Evenly spaced sends at a fixed rate (the first at t=0)."""

    model_config = ConfigDict(title="Constant rate")
    kind: Literal["constant"] = "constant"
    rate: Rate

    def segments(self) -> Iterator[Segment]:
        yield Segment(0.0, math.inf, self.rate, self.rate)

    def _gaps(self, rng: random.Random) -> Iterator[float]:
        yield 0.0
        while True:
            yield 1.0


@register_arrival
class PoissonArrival(_RateDriven):
    """Independent arrivals at a mean rate (exponential gaps)."""

    model_config = ConfigDict(title="Poisson")
    kind: Literal["poisson"] = "poisson"
    rate: Rate

    def segments(self) -> Iterator[Segment]:
        yield Segment(0.0, math.inf, self.rate, self.rate)


@register_arrival
class GammaArrival(_RateDriven):
    """Bursty arrivals: gamma-distributed gaps with mean 1/rate and coefficient of variation
    ``cv`` (cv = 1 is Poisson; larger is burstier, smaller more regular)."""

    model_config = ConfigDict(title="Bursty (gamma)")
    kind: Literal["gamma"] = "gamma"
    rate: Rate
    cv: Burstiness = 2.0

    def segments(self) -> Iterator[Segment]:
        yield Segment(0.0, math.inf, self.rate, self.rate)

    def _gaps(self, rng: random.Random) -> Iterator[float]:
        shape = 1.0 / (self.cv * self.cv)
        gamma = rng.gammavariate
        while True:
            yield gamma(shape, 1.0 / shape)


@register_arrival
class OnOffArrival(_RateDriven):
    """Bursts: ``rate`` for ``on_s`` seconds, silence for ``off_s`` seconds, repeated."""

    model_config = ConfigDict(title="On/off bursts")
    kind: Literal["onoff"] = "onoff"
    rate: Rate = Field(title="Rate while on (requests/s)")
    on_s: Period = Field(title="On period (s)")
    off_s: Period = Field(title="Off period (s)")
    spacing: Spacing = Field(
        default="poisson", title="Spacing", description="poisson or evenly spaced"
    )

    def segments(self) -> Iterator[Segment]:
        t = 0.0
        while True:
            yield Segment(t, t + self.on_s, self.rate, self.rate)
            yield Segment(t + self.on_s, t + self.on_s + self.off_s, 0.0, 0.0)
            t += self.on_s + self.off_s


@register_arrival
class RampArrival(_RateDriven):
    """The rate moves linearly from ``rate_from`` to ``rate_to`` over ``ramp_s``, then holds."""

    model_config = ConfigDict(title="Ramp")
    kind: Literal["ramp"] = "ramp"
    rate_from: RateOrZero = Field(title="Start rate (requests/s)")
    rate_to: RateOrZero = Field(title="End rate (requests/s)")
    ramp_s: Period = Field(title="Ramp duration (s)")
    spacing: Spacing = Field(
        default="poisson", title="Spacing", description="poisson or evenly spaced"
    )

    @model_validator(mode="after")
    def _some_traffic(self) -> RampArrival:
        if self.rate_from == 0 and self.rate_to == 0:
            raise rule("rate_to", "rate_from and rate_to cannot both be 0")
        return self

    def segments(self) -> Iterator[Segment]:
        yield Segment(0.0, self.ramp_s, self.rate_from, self.rate_to)
        yield Segment(self.ramp_s, math.inf, self.rate_to, self.rate_to)


@register_arrival
class StepArrival(_RateDriven):
    """A piecewise-constant rate: ``steps`` is a list of [at_s, rate] (rate 0 before the first)."""

    model_config = ConfigDict(title="Steps")
    kind: Literal["step"] = "step"
    steps: list[tuple[Annotated[float, Field(ge=0)], RateOrZero]] = Field(
        min_length=1,
        max_length=1000,
        title="Steps",
        description="[[at_s, rate], ...] with increasing at_s",
    )
    spacing: Spacing = Field(
        default="poisson", title="Spacing", description="poisson or evenly spaced"
    )

    @model_validator(mode="after")
    def _increasing(self) -> StepArrival:
        for i in range(1, len(self.steps)):
            if self.steps[i][0] <= self.steps[i - 1][0]:
                raise rule(
                    f"steps.{i}",
                    f"at_s must increase ({self.steps[i][0]} after {self.steps[i - 1][0]})"
                )
        return self

    def segments(self) -> Iterator[Segment]:
        if self.steps[0][0] > 0:
            yield Segment(0.0, self.steps[0][0], 0.0, 0.0)
        for i, (at, rate) in enumerate(self.steps):
            end = self.steps[i + 1][0] if i + 1 < len(self.steps) else math.inf
            yield Segment(at, end, rate, rate)


@register_arrival
class TraceArrival(ArrivalProcess):
    """Replays recorded send offsets (seconds), from ``offsets`` or a file ``path`` (one number
    per line, or the first column of a CSV, '#' comments allowed; or a JSON list). Offsets are
    sorted; ``rebase`` shifts them so the first is 0 (for epoch timestamps); ``speed`` > 1 replays
    faster; ``loop`` repeats the trace with period last offset + mean gap."""

    model_config = ConfigDict(title="Trace replay", populate_by_name=True)
    kind: Literal["trace"] = "trace"
    offsets_s: list[Annotated[float, Field(ge=0)]] | None = Field(
        default=None, alias="offsets", max_length=10_000_000, title="Offsets (s)"
    )
    path: str | None = Field(
        default=None, title="Trace file", description="one offset per line, CSV or JSON list"
    )
    speed: float = Field(default=1.0, gt=0, le=1000, title="Speed-up")
    rebase: bool = Field(default=False, title="Start at the first offset")
    loop: bool = Field(default=False, title="Loop")

    _times: tuple[float, ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _load(self) -> TraceArrival:
        if (self.offsets_s is None) == (self.path is None):
            raise rule("path", "give exactly one of offsets and path")
        if self.offsets_s is not None:
            raw = self.offsets_s
        else:
            try:
                raw = _read_trace(Path(self.path or ""))
            except ValueError as exc:
                raise rule("path", str(exc)) from None
        if not raw:
            raise rule("offsets" if self.path is None else "path", "the trace is empty")
        times = sorted(raw)
        if self.rebase:
            times = [t - times[0] for t in times]
        self._times = tuple(t / self.speed for t in times)
        return self

    @property
    def period_s(self) -> float:
        """The loop period: the last offset plus the mean gap (1 s for a one-point trace)."""
        t = self._times
        gap = (t[-1] - t[0]) / (len(t) - 1) if len(t) > 1 else 1.0
        return t[-1] + (gap if gap > 0 else 1.0)

    def offsets(
        self, *, duration_s: float | None = None, count: int | None = None
    ) -> Iterator[float]:
        _check_bounds(duration_s, count)

        def replay() -> Iterator[float]:
            base = 0.0
            while True:
                for t in self._times:
                    yield base + t
                if not self.loop:
                    return
                base += self.period_s

        return _bounded(replay(), duration_s, count)

    def expected_count(self, duration_s: float) -> float:
        if not self.loop:
            return float(sum(t < duration_s for t in self._times))
        full, rest = divmod(duration_s, self.period_s)
        return full * len(self._times) + sum(t < rest for t in self._times)


def _read_trace(path: Path) -> list[float]:
    """Offsets from a text/CSV file (first column) or a JSON list; errors mention the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read trace file {str(path)!r}: {exc.strerror}") from None
    if path.suffix.lower() == ".json":
        data = json.loads(text)
        if not isinstance(data, list) or not all(isinstance(x, int | float) for x in data):
            raise ValueError("a JSON trace must be a list of numbers")
        return [float(x) for x in data]
    values = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        cell = line.split("#", 1)[0].split(",", 1)[0].strip()
        if not cell:
            continue
        try:
            values.append(float(cell))
        except ValueError:
            if not values and line_no == 1:  # a CSV header
                continue
            raise ValueError(f"line {line_no} of the trace is not a number: {cell!r}") from None
    return values


# --- the time change -------------------------------------------------------------------------


def _time_change(segments: Iterator[Segment], gaps: Iterator[float]) -> Iterator[float]:
    """Arrival times t_k with integral_0^t_k r = sum of the first k gaps.

    Each time is solved from its segment's start and the cumulative gap sum, so rounding does
    not accumulate along a long schedule.
    """
    target = next(gaps)  # cumulative operational time of the next arrival
    base = 0.0  # integral of r up to the current segment's start
    for seg in segments:
        slope = 0.0 if math.isinf(seg.t1) else (seg.r1 - seg.r0) / (seg.t1 - seg.t0)
        while True:
            tau = _time_for_area(seg.r0, slope, target - base)
            if tau is None or seg.t0 + tau >= seg.t1:
                break  # not enough area left in this segment
            yield seg.t0 + tau
            target += next(gaps)
        base += seg.area()


def _time_for_area(rate: float, slope: float, area: float) -> float | None:
    """tau with rate*tau + slope*tau^2/2 == area, or None if the rate never gets there."""
    if area <= 0:
        return 0.0 if rate > 0 or slope > 0 else None
    disc = rate * rate + 2 * slope * area
    if disc < 0:
        return None
    denom = rate + math.sqrt(disc)  # the stable form of (-rate + sqrt(disc)) / slope
    return None if denom <= 0 else 2 * area / denom


def _check_bounds(duration_s: float | None, count: int | None) -> None:
    if duration_s is not None and not duration_s >= 0:
        raise ValueError(f"duration_s must be >= 0, got {duration_s}")
    if count is not None and count < 0:
        raise ValueError(f"count must be >= 0, got {count}")


def _bounded(
    times: Iterator[float], duration_s: float | None, count: int | None
) -> Iterator[float]:
    if count == 0:
        return
    for n, t in enumerate(times, start=1):
        if duration_s is not None and t >= duration_s:
            return
        yield t
        if count is not None and n >= count:
            return


# --- building from a spec --------------------------------------------------------------------


def build_arrival(spec: Mapping[str, Any], *, seed: int | None = None) -> ArrivalProcess:
    """Validate ``spec`` (``{"kind": ..., params...}``) into an arrival process.

    ``seed`` (e.g. the experiment's) is used when the spec has none. Errors are
    :class:`ArrivalSpecError` naming the field.
    """
    if not isinstance(spec, Mapping):
        raise ArrivalSpecError("$", f"expected an object, got {type(spec).__name__}")
    kind = spec.get("kind")
    if kind is None:
        raise ArrivalSpecError("kind", f"required; one of {sorted(_REGISTRY)}")
    cls = _REGISTRY.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ArrivalSpecError("kind", f"unknown arrival kind {kind!r}; one of {sorted(_REGISTRY)}")
    data = dict(spec)
    if seed is not None and "seed" not in data:
        data["seed"] = seed
    return validate_model(cls, data)


def arrival_schemas() -> dict[str, dict[str, Any]]:
    """One JSON schema per registered kind (titles, descriptions, bounds) for forms."""
    return {kind: cls.model_json_schema(by_alias=True) for kind, cls in sorted(_REGISTRY.items())}


def arrival_json_schema() -> dict[str, Any]:
    """One JSON schema accepting any registered process, discriminated by ``kind``."""
    union: Any = functools.reduce(operator.or_, (_REGISTRY[k] for k in sorted(_REGISTRY)))
    return TypeAdapter(Annotated[union, Field(discriminator="kind")]).json_schema(by_alias=True)


# --- question selection ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Selection:
    index: int  # index into the question pool
    repeat: bool  # the question was selected before in this run


class QuestionSelector:
    """Which question to send next: a share ``repeat_share`` of picks repeat a question already
    sent (uniformly among them), the rest take fresh questions in a seeded random order. Once the
    pool is exhausted every pick is a repeat. Deterministic by seed.

    Iterating yields :class:`Selection` objects forever; ``next(selector)`` takes one.
    """

    def __init__(self, pool_size: int, repeat_share: float = 0.0, seed: int = 0) -> None:
        if pool_size < 1:
            raise ValueError(f"pool_size must be >= 1, got {pool_size}")
        if not 0.0 <= repeat_share <= 1.0:
            raise ValueError(f"repeat_share must be within [0, 1], got {repeat_share}")
        self.pool_size = pool_size
        self.repeat_share = repeat_share
        self._coin: Callable[[], float] = random.Random(f"{seed}:coin").random
        self._pick = random.Random(f"{seed}:pick")
        self._order = list(range(pool_size))
        random.Random(f"{seed}:order").shuffle(self._order)
        self._sent: list[int] = []

    def __iter__(self) -> QuestionSelector:
        return self

    def __next__(self) -> Selection:
        fresh_left = len(self._sent) < self.pool_size
        if self._sent and (not fresh_left or self._coin() < self.repeat_share):
            return Selection(self._sent[int(self._pick.random() * len(self._sent))], True)
        index = self._order[len(self._sent)]
        self._sent.append(index)
        return Selection(index, False)

    @property
    def fresh_sent(self) -> int:
        """How many distinct questions have been selected."""
        return len(self._sent)
