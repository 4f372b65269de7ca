"""The generator's answer-cache checks through a database outage.

A PostgreSQL restart in the middle of a load must not stop the load. :class:`GuardedCache` wraps
the :class:`~pipeline.storage.cache.AnswerCache` of one experiment:

* an ask whose check loses the connection is retried on a fresh one for up to ``retry_s``
  (:meth:`pipeline.storage.db.Database.run`): a restart of a few seconds costs a late send
  (measured from its intended time, never shifted), not a lost cache hit;
* when the database stays away longer, the ask is answered "unavailable" (``None``): the
  generator sends it as a cache miss, which keeps the pipeline correct (the storage upsert
  absorbs a second pass of a question) and loses only the hit; such asks are counted in
  :attr:`GuardedCache.unavailable`, and the outage is logged once when it starts and once
  when it ends;
* during the outage the asks do not wait again: one ask every ``probe_every_s`` tries the
  database once, and the first that succeeds ends the outage;
* releases (a failed send's placeholder) are queued by :meth:`release`, which the producer's
  delivery callback calls, and run before the next check and at :meth:`close`: a callback
  never blocks on the database, and a release is never lost to an outage.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from pipeline.storage.cache import CacheResult
from pipeline.storage.db import DatabaseUnavailable

log = logging.getLogger(__name__)


class CacheLike(Protocol):
    """What the guard needs of :class:`~pipeline.storage.cache.AnswerCache`."""

    def lookup(self, experiment_id: str, question_id: str, *, in_flight: bool, now: float,
               deadline_s: float = ...) -> CacheResult: ...

    def release(self, experiment_id: str, question_id: str, *, deadline_s: float = ...) -> int: ...


class GuardedCache:
    """Cache checks of ``experiment_id`` that survive a database outage (see the module)."""

    def __init__(self, cache: CacheLike, experiment_id: str, *, retry_s: float,
                 probe_every_s: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.cache = cache
        self.experiment_id = experiment_id
        self.retry_s = retry_s
        self.probe_every_s = probe_every_s
        self.monotonic = monotonic
        #: asks answered "unavailable" (sent as misses because the database could not be reached)
        self.unavailable = 0
        #: outages seen (a check gave up after ``retry_s``)
        self.outages = 0
        self._outage_since: float | None = None
        self._unavailable_at_start = 0
        self._next_probe = 0.0
        self._releases: list[str] = []

    @property
    def in_outage(self) -> bool:
        return self._outage_since is not None

    def lookup(self, question_id: str, *, in_flight: bool, now: float) -> CacheResult | None:
        """The ask's :class:`CacheResult`, or None when the database cannot be reached (send
        the question as a miss). Blocks for at most ``retry_s`` (plus one connect timeout)."""
        if self._outage_since is not None and self.monotonic() < self._next_probe:
            self.unavailable += 1
            return None
        deadline_s = 0.0 if self._outage_since is not None else self.retry_s
        end = self.monotonic() + deadline_s
        try:
            self._run_releases(deadline_s)
            result = self.cache.lookup(self.experiment_id, question_id, in_flight=in_flight,
                                       now=now, deadline_s=max(0.0, end - self.monotonic()))
        except DatabaseUnavailable as exc:
            self._down(exc)
            self.unavailable += 1
            return None
        self._up()
        return result

    def release(self, question_id: str) -> None:
        """Queue the release of ``question_id``'s placeholder (run before the next check)."""
        self._releases.append(question_id)

    def close(self) -> None:
        """Run the releases still queued (the load's last failed sends); one attempt during an
        outage. What cannot be released is logged by question: a placeholder left behind looks
        like a pass in flight to the drain wait and the audit."""
        try:
            self._run_releases(0.0 if self._outage_since is not None else self.retry_s)
        except DatabaseUnavailable as exc:
            log.error("load %s: %d cache placeholder(s) of failed sends not released (%s): %s",
                      self.experiment_id, len(self._releases), exc, ", ".join(self._releases))
            return
        self._up()

    def _run_releases(self, deadline_s: float) -> None:
        while self._releases:
            self.cache.release(self.experiment_id, self._releases[0], deadline_s=deadline_s)
            self._releases.pop(0)

    def _down(self, exc: DatabaseUnavailable) -> None:
        now = self.monotonic()
        self._next_probe = now + self.probe_every_s
        if self._outage_since is not None:
            return
        self._outage_since = now
        self._unavailable_at_start = self.unavailable
        self.outages += 1
        log.warning("load %s: answer cache unavailable (%s); sending asks as cache misses, "
                    "trying the database again every %.1f s", self.experiment_id, exc,
                    self.probe_every_s)

    def _up(self) -> None:
        if self._outage_since is None:
            return
        log.warning("load %s: answer cache back after %.1f s; %d ask(s) were sent as cache "
                    "misses meanwhile", self.experiment_id, self.monotonic() - self._outage_since,
                    self.unavailable - self._unavailable_at_start)
        self._outage_since = None


__all__ = ["CacheLike", "GuardedCache"]
