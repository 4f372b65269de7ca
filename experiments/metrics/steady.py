"""The steady-state window: what is measured, and what is trimmed as warm-up and drain.

Definitions (all times from :class:`~experiments.metrics.model.RunMeta`):

- **load phase** ``[started_at, ended_at]``: the arrival schedule; no question is meant to be sent after
  ``ended_at``.
- **warm-up** ``[started_at, started_at + warmup_s)``: caches, JITs, consumer-group joins and the
  Flink job's first checkpoint settle here.
- **drain** ``(ended_at - cooldown_s, last durable write]``: arrivals stop (or, with ``cooldown_s``,
  are about to), so the backlog empties with nothing new competing for the workers; latency measured
  there is optimistic and completion rates fall to zero. Its length after ``ended_at``
  (``drain_s`` = last durable write - ``ended_at``) is reported as the time to empty the backlog.
- **steady window** ``W = [started_at + warmup_s, ended_at - cooldown_s]``.

Latency samples are the questions whose *intended* send time lies in ``W``, whenever they finished:
selecting by completion time instead would drop the slowest questions sent late in ``W`` and bias
the tail down. Rates (throughput, goodput) count completions whose durable write lies in ``W`` and
divide by ``|W|``. Questions of ``W`` still in flight when telemetry was collected are counted, not
hidden: their latency is unknown (censored), and the report says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from experiments.metrics.model import RunData


@dataclass(frozen=True)
class SteadyWindow:
    start: float
    end: float
    load_start: float
    load_end: float

    @property
    def duration_s(self) -> float:
        return max(0.0, self.end - self.start)

    @property
    def rel_start(self) -> float:
        """Window start relative to the start of the load."""
        return self.start - self.load_start

    @property
    def rel_end(self) -> float:
        return self.end - self.load_start

    def contains(self, t: float | None) -> bool:
        return t is not None and self.start <= t <= self.end

    def contains_rel(self, t: float | None) -> bool:
        """Like :meth:`contains` for a time relative to the start of the load."""
        return t is not None and self.rel_start <= t <= self.rel_end

    def as_dict(self) -> dict[str, float]:
        """The window relative to the start of the load, for metrics.json."""
        return {
            "start_s": self.rel_start,
            "end_s": self.rel_end,
            "duration_s": self.duration_s,
            "load_duration_s": self.load_end - self.load_start,
        }


def steady_window(run: RunData, cooldown_s: float = 0.0) -> SteadyWindow:
    """The steady window of ``run`` (empty, never inverted, when warm-up covers the whole load)."""
    meta = run.meta
    start = meta.started_at + max(0.0, meta.warmup_s)
    end = meta.ended_at - max(0.0, cooldown_s)
    return SteadyWindow(
        start=start, end=max(start, end), load_start=meta.started_at, load_end=meta.ended_at
    )
