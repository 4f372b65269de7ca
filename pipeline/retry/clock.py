"""Injectable time: a clock is ``() -> float`` seconds (monotonic), a sleep is ``async (s) -> None``.

:class:`FakeClock` is a virtual clock whose ``sleep`` advances time instantly, so tests and
simulations never wait.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

monotonic: Clock = time.monotonic


async def real_sleep(seconds: float) -> None:
    """``asyncio.sleep`` that tolerates zero and negative delays."""
    await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """A manual clock: ``now`` only moves when ``advance`` or ``sleep`` is called."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time cannot go backwards")
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        """Record the sleep and advance virtual time; yields once so other tasks can run."""
        seconds = max(0.0, seconds)
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)
