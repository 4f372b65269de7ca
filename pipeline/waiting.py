"""Wait for a condition against a deadline: the one poll loop of the project.

Every "ask again until it is true or the time is up" goes through :func:`wait_until`: service
readiness, a Flink job reaching a state, an Airflow run finishing, processes exiting, a test
waiting for records. It never sleeps a fixed time to let something happen; it asks, and asks
again after a short pause that grows (``pause_s`` times ``backoff`` up to ``max_pause_s``), and
never sleeps past the deadline.

This module is deliberately dependency free so that ``pipeline``, ``experiments``, ``harness``
and the tests may all import it (lower layers must not import ``harness``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(TimeoutError):
    """A condition did not hold before its deadline."""


def wait_until(
    check: Callable[[], T | None],
    timeout_s: float,
    *,
    what: str | Callable[[], str],
    pause_s: float = 0.1,
    max_pause_s: float = 2.0,
    backoff: float = 1.5,
    error: Callable[[str], BaseException] = WaitTimeout,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], object] = time.sleep,
) -> T:
    """Call ``check`` until it returns a truthy value, and return that value (``None``, ``False``,
    ``0`` and empty containers all mean "not yet": wrap a value that may be falsy).

    ``check`` runs at least once, even with a deadline already past; it may raise to end the
    wait early (a job that failed instead of starting, say). When the deadline passes with a
    falsy answer, ``error(message)`` is raised; ``what`` is that message, or a function that
    writes it at that moment (so that it can name the last state seen).
    """
    deadline = clock() + timeout_s
    pause = pause_s
    while True:
        value = check()
        if value:
            return value
        left = deadline - clock()
        if left <= 0:
            raise error(what() if callable(what) else what)
        sleep(min(pause, left))
        pause = min(pause * backoff, max_pause_s)


__all__ = ["WaitTimeout", "wait_until"]
