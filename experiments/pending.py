"""What "in flight" means: one definition for the experiment DAG's sensor and the collector.

The sensor (:func:`experiments.runner.pending`) waits until nothing of a run is pending; the
collector (:mod:`experiments.collect`) reports what was still in flight when it read the run.
Both decide with :func:`pending_from_states` over the same rows: the collector over the rows of
:data:`~experiments.collect_sql.QUESTIONS` (:func:`states_of`), the sensor over their count per
state (:data:`~experiments.collect_sql.PASS_STATES`, the same query, counted in the database).
So once the sensor sees nothing pending, the collector finds nothing in flight.

Per experiment:

- a **pass** is a question the generator sent to Kafka (one LLM pass per question and experiment,
  see pipeline/storage/cache.py). The database knows a pass by its ``generator.sent`` hop event or
  by its answers row (a placeholder made by a coalesced ask included): one per ``question_id``,
  however often it was sent (with the cache off a repeat is sent again: the same pass);
- a pass is **terminal** when its answers row's ``terminal_state`` is one of :data:`TERMINAL`;
  otherwise (no answers row, a placeholder, a state this code does not know) it is **in flight**;
- **unseen** passes are questions the generator sent and Kafka acknowledged that the database does
  not know of yet: their ``generator.sent`` event is still on its way through qa.events to the
  event sink (or was dropped: events are fire-and-forget) and storage has written no row yet.
  They are ``acknowledged questions - known passes`` (never below 0);
- **pending** = in flight + unseen.

Never pending: cache hits (served from storage, no pass) and coalesced asks (nothing sent: the
ask rides on the pass it was coalesced onto, which is counted once); sends Kafka did not
acknowledge (they never entered the pipeline; the load summary counts them as ``failed``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: the answers table's terminal states (its CHECK constraint); anything else is in flight
TERMINAL: tuple[str, ...] = ("accepted", "low_quality", "dead_lettered")

#: passes per stored ``terminal_state`` (None: no answers row, or a placeholder)
StateCounts = Mapping[str | None, int]


def is_terminal(state: object) -> bool:
    """True for a stored ``terminal_state`` that ends a pass."""
    return state in TERMINAL


@dataclass(frozen=True)
class Pending:
    """A run's passes that are not terminal yet (see the module docstring)."""

    known: int  # passes the database knows of (sent event or answers row)
    in_flight: int  # known, not terminal
    unseen: int  # acknowledged by Kafka, not known to the database yet
    acknowledged: int | None  # distinct questions the generator sent (None: not given)

    @property
    def total(self) -> int:
        return self.in_flight + self.unseen

    def describe(self) -> str:
        """The breakdown, e.g. ``2 in flight, 1 sent but not yet in the database, of 120 sent``."""
        sent = "" if self.acknowledged is None else f", of {self.acknowledged} sent"
        return f"{self.in_flight} in flight, {self.unseen} sent but not yet in the database{sent}"


def states_of(rows: Iterable[Mapping[str, Any]]) -> dict[str | None, int]:
    """Rows of :data:`~experiments.collect_sql.QUESTIONS` (one per pass) -> passes per state:
    what :data:`~experiments.collect_sql.PASS_STATES` counts in the database."""
    return dict(Counter(row.get("terminal_state") for row in rows))


def pending_from_states(states: StateCounts, acknowledged: int | None) -> Pending:
    """THE definition: passes per stored state, and how many distinct questions the generator
    sent (Kafka acknowledged; None when unknown: no unseen passes are assumed) -> what is pending.
    """
    known = sum(states.values())
    in_flight = sum(n for state, n in states.items() if not is_terminal(state))
    unseen = 0 if acknowledged is None else max(0, acknowledged - known)
    return Pending(known=known, in_flight=in_flight, unseen=unseen, acknowledged=acknowledged)


def acknowledged_questions(load: Mapping[str, Any] | None) -> int | None:
    """Distinct questions the generator sent and Kafka acknowledged, from its load summary
    (``LoadSummary.to_dict()``, or a summary nesting it under ``load``).

    Not ``sent``: that counts records handed to Kafka, failed sends included, and a question sent
    twice (the cache off) twice. Coalesced asks and cache hits are in neither. Summaries written
    before ``acknowledged_questions`` existed give ``acknowledged`` (the same unless the cache was
    off), then ``sent``; None when there is no load summary.
    """
    if not load:
        return None
    for candidate in (load, load.get("load")):
        if not isinstance(candidate, Mapping):
            continue
        for key in ("acknowledged_questions", "acknowledged", "sent"):
            value = candidate.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
    return None


def pending_for_experiment(db: Any, experiment_id: str, load: Mapping[str, Any] | None) -> Pending:
    """The passes of EXPERIMENT_ID not terminal yet, given its load summary, read through DB (a
    :class:`pipeline.storage.db.Database`): the passes the collector would count in flight, plus
    those Kafka acknowledged that the database does not know of yet."""
    from experiments.collect_sql import pass_states

    conn = db.conn()
    with conn, conn.cursor() as cur:
        states = pass_states(cur, experiment_id)
    return pending_from_states(states, acknowledged_questions(load))
