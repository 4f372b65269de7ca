"""Wait strategies: how long to sleep before the next attempt (after tenacity's wait.py).

A wait is a callable ``(state, rng) -> seconds``. Waits compose: ``wait_a + wait_b`` adds,
``wait.capped(s)`` bounds, :class:`WaitRetryAfter` folds in the server's Retry-After hint. The RNG
is passed in by the policy, so every jittered delay is reproducible from a seed.

Jitter formulas follow the AWS Architecture Blog, "Exponential Backoff And Jitter" (2015), where
``n`` is the number of attempts made so far and ``exp(n) = base * multiplier ** (n - 1)``:

* full:         ``uniform(0, min(cap, exp(n)))``
* equal:        ``t / 2 + uniform(0, t / 2)`` with ``t = min(cap, exp(n))``
* decorrelated: ``min(cap, uniform(base, prev * 3))`` with ``prev`` the previous delay (base at first)
"""

from __future__ import annotations

import math
import random
from abc import ABC, abstractmethod
from typing import Literal

from pipeline.retry.state import RetryState

RetryAfterMode = Literal["obey", "exact", "ignore"]


class WaitBase(ABC):
    """A wait strategy. Subclasses implement ``__call__``."""

    @abstractmethod
    def __call__(self, state: RetryState, rng: random.Random) -> float: ...

    def __add__(self, other: WaitBase) -> WaitBase:
        return WaitCombine(self, other)

    def __radd__(self, other: object) -> WaitBase:
        # Lets sum([wait_a, wait_b]) work, as in tenacity.
        if other == 0:
            return self
        return NotImplemented

    def capped(self, cap_s: float) -> WaitBase:
        return WaitCap(self, cap_s)


def _exponential(base_s: float, multiplier: float, attempt_number: int, cap_s: float) -> float:
    exponent = max(0, attempt_number - 1)
    try:
        value = base_s * multiplier**exponent
    except OverflowError:
        return cap_s
    return min(cap_s, value)


class WaitNone(WaitBase):
    def __call__(self, state: RetryState, rng: random.Random) -> float:
        return 0.0


class WaitFixed(WaitBase):
    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s

    def __call__(self, state: RetryState, rng: random.Random) -> float:
        return self.delay_s


class WaitRandom(WaitBase):
    def __init__(self, min_s: float, max_s: float) -> None:
        self.min_s, self.max_s = min_s, max_s

    def __call__(self, state: RetryState, rng: random.Random) -> float:
        return rng.uniform(self.min_s, self.max_s)


class WaitExponential(WaitBase):
    """``min(cap, base * multiplier ** (n - 1))``: no jitter."""

    def __init__(self, base_s: float, multiplier: float = 2.0, cap_s: float = math.inf) -> None:
        self.base_s, self.multiplier, self.cap_s = base_s, multiplier, cap_s

    def __call__(self, state: RetryState, rng: random.Random) -> float:
        return _exponential(self.base_s, self.multiplier, state.attempt_number, self.cap_s)


class WaitFullJitter(WaitExponential):
    def __call__(self, state: RetryState, rng: random.Random) -> float:
        return rng.uniform(0.0, super().__call__(state, rng))


class WaitEqualJitter(WaitExponential):
    def __call__(self, state: RetryState, rng: random.Random) -> float:
        half = super().__call__(state, rng) / 2.0
        return half + rng.uniform(0.0, half)


class WaitDecorrelatedJitter(WaitBase):
    """``min(cap, uniform(base, prev * growth))``; ``prev`` is the last delay, ``base`` at first."""

    def __init__(self, base_s: float, cap_s: float = math.inf, growth: float = 3.0) -> None:
        self.base_s, self.cap_s, self.growth = base_s, cap_s, growth

    def __call__(self, state: RetryState, rng: random.Random) -> float:
        prev = state.prev_delay_s if state.prev_delay_s else self.base_s
        high = max(self.base_s, prev * self.growth)
        return min(self.cap_s, rng.uniform(self.base_s, high))


class WaitCombine(WaitBase):
    def __init__(self, *waits: WaitBase) -> None:
        self.waits = waits

    def __call__(self, state: RetryState, rng: random.Random) -> float:
        return sum(wait(state, rng) for wait in self.waits)


class WaitCap(WaitBase):
    def __init__(self, inner: WaitBase, cap_s: float) -> None:
        self.inner, self.cap_s = inner, cap_s

    def __call__(self, state: RetryState, rng: random.Random) -> float:
        return min(self.cap_s, self.inner(state, rng))


class WaitRetryAfter(WaitBase):
    """Fold the server's hint (``state.retry_after_s``) into ``inner``'s delay.

    * ``obey``: wait at least the hint, ``max(inner, hint)`` (a cap never shortens the hint);
    * ``exact``: the hint replaces ``inner`` when present;
    * ``ignore``: the hint is not used.
    """

    def __init__(self, inner: WaitBase, mode: RetryAfterMode = "obey") -> None:
        if mode not in ("obey", "exact", "ignore"):
            raise ValueError(f"unknown retry_after mode {mode!r}")
        self.inner, self.mode = inner, mode

    def __call__(self, state: RetryState, rng: random.Random) -> float:
        delay = self.inner(state, rng)
        hint = state.retry_after_s
        if hint is None or self.mode == "ignore":
            return delay
        if self.mode == "exact":
            return max(0.0, hint)
        return max(delay, hint)


# tenacity-style lower-case constructors
wait_none = WaitNone
wait_fixed = WaitFixed
wait_random = WaitRandom
wait_exponential = WaitExponential
wait_full_jitter = WaitFullJitter
wait_equal_jitter = WaitEqualJitter
wait_decorrelated_jitter = WaitDecorrelatedJitter
wait_retry_after = WaitRetryAfter
