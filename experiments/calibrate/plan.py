"""The request plan of a calibration: what is sent to an endpoint, in which order, how many at once.

Three phases, each a list of :class:`Step` (``requests`` requests with ``concurrency`` of them in
flight, a closed loop: a request leaves when one ends):

- ``tokens``: one at a time, at several ``max_tokens`` levels: latency against completion tokens;
- ``concurrency``: 1, 2, 4, 8 in flight at one ``max_tokens``: queueing and parallel slots;
- ``burst``: every request of the step at once: overload behaviour (queueing, 429, 503, timeouts).

The same plan runs against the endpoint and then against the simulator with the fitted profile,
so the two latency distributions compare like for like.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Phase = Literal["tokens", "concurrency", "burst"]

#: short questions of the Yahoo! Answers kind; the model's answers run to max_tokens or stop early
PROMPTS: tuple[str, ...] = (
    "Why is the sky blue?",
    "How do I keep basil alive indoors?",
    "What is the difference between weather and climate?",
    "Why do cats purr?",
    "How does a bicycle stay upright?",
    "What makes bread rise?",
)


@dataclass(frozen=True)
class Step:
    """``requests`` requests of ``max_tokens``, ``concurrency`` in flight at once."""

    phase: Phase
    concurrency: int
    max_tokens: int
    requests: int


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    warmup: int = 2
    """Requests sent first and not measured (model load, connection set-up)."""
    timeout_s: float = 60.0
    """Per-request deadline; a request past it counts as a timeout."""
    prompts: tuple[str, ...] = field(default=PROMPTS)

    def phase(self, phase: Phase) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.phase == phase)

    @property
    def total_requests(self) -> int:
        return self.warmup + sum(s.requests for s in self.steps)


def default_plan(
    *,
    token_levels: tuple[int, ...] = (8, 16, 32, 64),
    repeats: int = 6,
    concurrency_levels: tuple[int, ...] = (1, 2, 4, 8),
    concurrency_tokens: int = 32,
    rounds: int = 2,
    burst: int = 32,
    burst_tokens: int = 16,
    timeout_s: float = 60.0,
) -> Plan:
    """The plan `harness calibrate` runs: about 100 requests, a minute or two on a small model.

    Each concurrency level sends ``rounds`` x its level requests (at least 4), so every level
    fills its slots the same number of times.
    """
    steps = [Step("tokens", 1, t, repeats) for t in token_levels]
    steps += [Step("concurrency", k, concurrency_tokens, max(4, rounds * k)) for k in concurrency_levels]
    if burst > 0:
        steps.append(Step("burst", burst, burst_tokens, burst))
    return Plan(steps=tuple(steps), timeout_s=timeout_s)
