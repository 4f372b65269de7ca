"""Keep a broker outage from flooding the services' logs.

While a broker is down, librdkafka reconnects with a short backoff and reports every failed
attempt twice: through its log callback (``FAIL``, at ERROR) and through the client's error
callback (``_TRANSPORT`` / ``_ALL_BROKERS_DOWN``). A worker with a producer and a consumer wrote
a line every ~50 ms, hundreds per broker restart, burying the lines that matter.

:class:`RepeatThrottle` is a :class:`logging.Filter`: the first record of a kind passes, then at
most one per window; the one that passes after a quiet spell says how many were held back, so
the log still shows how long the condition lasted. Kinds are told apart by a key function (for
librdkafka: its facility and client name; for client errors: the error code), never by the full
text, which carries counters and timings that change on every line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

#: One line per kind per window at most (seconds).
DEFAULT_WINDOW_S = 30.0


@dataclass
class _Kind:
    last_passed: float
    held_back: int = 0


def leading_args_key(n: int) -> Callable[[logging.LogRecord], Hashable]:
    """A key from the record's logger, level, format string and first ``n`` arguments."""

    def key(record: logging.LogRecord) -> Hashable:
        args = record.args if isinstance(record.args, tuple) else ()
        return (record.name, record.levelno, record.msg, tuple(str(a) for a in args[:n]))

    return key


class RepeatThrottle(logging.Filter):
    """Pass the first record of each kind, then at most one per ``window_s``.

    A record that passes after others of its kind were held back has its message extended with
    ``(N similar held back in the last S s)``. ``clock`` is injectable for tests.
    """

    def __init__(
        self,
        key: Callable[[logging.LogRecord], Hashable],
        window_s: float = DEFAULT_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        if window_s <= 0:
            raise ValueError(f"window_s must be positive, got {window_s}")
        self._key = key
        self._window_s = window_s
        self._clock = clock
        self._kinds: dict[Hashable, _Kind] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        now = self._clock()
        k = self._key(record)
        kind = self._kinds.get(k)
        if kind is None:
            self._kinds[k] = _Kind(last_passed=now)
            return True
        if now - kind.last_passed < self._window_s:
            kind.held_back += 1
            return False
        if kind.held_back:
            record.msg = (f"{record.getMessage()} ({kind.held_back} similar held back in the last "
                          f"{now - kind.last_passed:.0f} s)")
            record.args = None
        kind.last_passed, kind.held_back = now, 0
        return True
