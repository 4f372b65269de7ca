"""The policy's answer to "may an attempt go out now?", and the ticket an admitted attempt holds.

A caller asks :meth:`RetryPolicy.admit` before every attempt, with one :class:`Ticket` per attempt,
and acts on the :class:`Admission`:

* ``GO``: make the attempt now. The ticket holds what the guards granted (a client rate-limit
  token, a concurrency slot, a half-open probe); hand it back with ``policy.record(ticket, error)``
  when the attempt ends, or ``policy.release(ticket)`` when it ended without an outcome
  (cancelled, or a bug), else slots and probes leak.
* ``WAIT``: the client rate limit has no token; sleep ``delay_s`` and ask again.
* ``QUEUE``: the concurrency limit is reached; ``await policy.wait_turn(ticket)`` (first come,
  first served, the slot is then held by the ticket) and ask again.
* ``REFUSE``: the circuit breaker is open (or its half-open probes are all out); no attempt until
  ``delay_s`` has passed. The ticket holds nothing any more. A worker defers the record.

The guards are asked in that order: breaker (re-checked at every ask, so a breaker that opened
while the caller waited refuses), rate limit, concurrency, then the breaker admits the attempt.
The retry budget and the gRPC throttle are not admission guards: they ration *retries*, and are
consulted when a failure is decided on (:meth:`RetryPolicy.decide`), so a refused retry is known
at once rather than after a deferral.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Gate(enum.StrEnum):
    GO = "go"
    WAIT = "wait"
    QUEUE = "queue"
    REFUSE = "refuse"


@dataclass(frozen=True, slots=True)
class Admission:
    gate: Gate
    delay_s: float = 0.0
    """WAIT: seconds until a rate-limit token; REFUSE: seconds until the breaker may admit."""
    reason: str = ""

    @property
    def go(self) -> bool:
        return self.gate is Gate.GO


GO = Admission(Gate.GO)
QUEUE = Admission(Gate.QUEUE, reason="concurrency limit")


@dataclass(slots=True)
class Ticket:
    """One attempt's passage through the guards (mutable: the policy fills it in as it admits).

    ``first`` marks a call's first attempt: admitting it deposits into the retry budget.
    """

    first: bool = True
    token: bool = False
    """A client rate-limit token was taken."""
    slot: bool = False
    """A concurrency slot is held."""
    probe: bool = False
    """The breaker admitted this attempt as a half-open probe."""
    admitted: bool = False
    closed: bool = False
    """The ticket was handed back (recorded or released)."""
