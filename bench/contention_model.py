"""Many clients contending for one resource, in virtual time: the AWS "Exponential Backoff And
Jitter" experiment (Marc Brooker, AWS Architecture Blog, 2015), rebuilt on the retry policies'
waits (``pipeline.retry.wait``). Used by bench/backoff_contention.py, and importable by any later
contention study (bench/ on ``sys.path``: a script in bench/ has it; tests/unit/bench's conftest
adds it).

Model (optimistic concurrency control on one record): every client wants to write once. An attempt
reads the record's version at ``t`` and commits at ``t + write_s``; the commit succeeds only if no
other commit happened in between, else the client backs off by its wait strategy and tries again.
All clients start together at t = 0. Events run off a heap; nothing sleeps, and a seed fixes every
jittered delay, so the result is deterministic.

Measures, per strategy: calls (total attempts = work done by the resource) and completion time
(when the last client succeeded).
"""

from __future__ import annotations

import heapq
import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pipeline.retry.state import RetryState
from pipeline.retry.wait import (
    WaitBase,
    WaitDecorrelatedJitter,
    WaitEqualJitter,
    WaitExponential,
    WaitFullJitter,
)

STRATEGIES: dict[str, Callable[[float, float], WaitBase]] = {
    "exponential (no jitter)": lambda base, cap: WaitExponential(base, 2.0, cap),
    "full jitter": lambda base, cap: WaitFullJitter(base, 2.0, cap),
    "equal jitter": lambda base, cap: WaitEqualJitter(base, 2.0, cap),
    "decorrelated jitter": lambda base, cap: WaitDecorrelatedJitter(base, cap),
}


@dataclass(frozen=True)
class ContentionConfig:
    clients: int = 100
    write_s: float = 0.001
    """Time between an attempt's read and its commit (the conflict window)."""
    base_s: float = 0.005
    cap_s: float = 1.0
    max_attempts: int = 10_000
    """Safety stop per client; counted as a failure to complete if hit."""


@dataclass(frozen=True)
class ContentionResult:
    strategy: str
    calls: int
    completion_s: float
    completed: int
    clients: int


def simulate(wait: WaitBase, config: ContentionConfig, *, seed: int = 0, name: str = "") -> ContentionResult:
    """Run one contention round; deterministic for a given ``seed``."""
    rng = random.Random(seed)
    version = 0
    calls = 0
    completed = 0
    completion = 0.0
    # Event: (time, seq, kind, client, read_version); kind 0 = commit, 1 = start attempt.
    # Commits sort before starts at the same instant, and seq keeps ties deterministic.
    events: list[tuple[float, int, int, int, int]] = []
    seq = 0
    attempts = [0] * config.clients
    prev_delay: list[float | None] = [None] * config.clients
    for client in range(config.clients):
        heapq.heappush(events, (0.0, seq, 1, client, 0))
        seq += 1
    while events:
        now, _, kind, client, read_version = heapq.heappop(events)
        if kind == 1:
            calls += 1
            attempts[client] += 1
            heapq.heappush(events, (now + config.write_s, seq, 0, client, version))
            seq += 1
            continue
        if read_version == version:
            version += 1
            completed += 1
            completion = max(completion, now)
            continue
        if attempts[client] >= config.max_attempts:
            continue
        state = RetryState(
            attempt_number=attempts[client],
            started_at=0.0,
            now=now,
            prev_delay_s=prev_delay[client],
        )
        delay = max(0.0, wait(state, rng))
        prev_delay[client] = delay
        heapq.heappush(events, (now + delay, seq, 1, client, 0))
        seq += 1
    return ContentionResult(name, calls, completion, completed, config.clients)


@dataclass(frozen=True)
class ContentionSummary:
    strategy: str
    mean_calls: float
    mean_completion_s: float
    runs: int
    all_completed: bool


def compare(
    config: ContentionConfig | None = None,
    *,
    seeds: Sequence[int] = range(5),
    strategies: dict[str, Callable[[float, float], WaitBase]] | None = None,
) -> list[ContentionSummary]:
    """Mean calls and completion time per strategy over ``seeds``."""
    config = config or ContentionConfig()
    rows = []
    for name, make in (strategies or STRATEGIES).items():
        results = [simulate(make(config.base_s, config.cap_s), config, seed=s, name=name) for s in seeds]
        rows.append(
            ContentionSummary(
                strategy=name,
                mean_calls=statistics.fmean(r.calls for r in results),
                mean_completion_s=statistics.fmean(r.completion_s for r in results),
                runs=len(results),
                all_completed=all(r.completed == r.clients for r in results),
            )
        )
    return rows
