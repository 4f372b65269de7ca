"""A consumer that lost its partitions must get an assignment back, or its service restarts.

After a broker restart during which the group coordinator stayed away longer than the session
timeout, librdkafka reports the partitions lost ("revoking assignment and rejoining group") and
is meant to rejoin by itself. Measured once on this machine under heavy load (a 2-core machine
at load 20): the storage service's consumer never rejoined. Its loop kept running and its health
stayed green, the group stayed empty on the broker for 25 minutes, and 201 answers were never
stored. Two probes of the same sequence (broker paused, broker restarted) rejoined in 6-26 s.

:class:`Membership` turns such a stall into a bounded delay: the loop calls :meth:`check` every
round, which raises :class:`GroupRejoinTimeout` once the partitions were lost and no assignment
(possibly empty) arrived within ``rejoin_timeout_s``. The service then exits with an error, its
supervisor starts it again with a fresh client, and the new member re-reads from the last
committed offsets (at-least-once, made exact downstream by idempotent writes).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

#: Four session timeouts (30 s each): the coordinator of a restarted broker took up to 26 s to
#: load here, so a client that has not rejoined by then is not going to.
DEFAULT_REJOIN_TIMEOUT_S = 120.0


class GroupRejoinTimeout(RuntimeError):
    """The consumer lost its partitions and did not rejoin its group in time."""


class Membership:
    """Tracks one consumer's group membership from its rebalance callbacks."""

    def __init__(self, stage: str, rejoin_timeout_s: float = DEFAULT_REJOIN_TIMEOUT_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stage = stage
        self.rejoin_timeout_s = rejoin_timeout_s
        self.clock = clock
        self.lost_at: float | None = None

    def lost(self) -> None:
        """The partitions were lost (session timed out, fenced): a rejoin is expected."""
        if self.lost_at is None:
            self.lost_at = self.clock()

    def assigned(self) -> None:
        """An assignment arrived (after a lost one, the consumer is back in its group)."""
        if self.lost_at is not None:
            log.info("%s rejoined its group %.1f s after losing its partitions",
                     self.stage, self.clock() - self.lost_at)
        self.lost_at = None

    def check(self) -> None:
        """Raise :class:`GroupRejoinTimeout` when a rejoin is overdue."""
        if self.lost_at is None:
            return
        waited = self.clock() - self.lost_at
        if waited > self.rejoin_timeout_s:
            raise GroupRejoinTimeout(
                f"{self.stage}: no partitions assigned {waited:.0f} s after they were lost "
                f"(limit {self.rejoin_timeout_s:.0f} s); exiting so that a fresh client rejoins")
