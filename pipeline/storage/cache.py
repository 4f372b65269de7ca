"""The answer cache the generator checks before sending a question (docs/architecture.md#answer-cache).

``lookup`` is one round trip that also counts the ask:

* the question has an answered row (accepted or low_quality): a **hit** - its access count goes
  up and the stored answer is returned; nothing goes to Kafka;
* it has a row that is not answered (dead-lettered, or asked again while in flight): the ask is
  **coalesced** onto that pass - counted, not sent again (one LLM pass per question and
  experiment, so answers and attempts stay one-to-one with questions);
* no row, but the caller knows it is in flight (sent earlier in this run, not stored yet): a
  placeholder row (state NULL, access count 2) is created, which the storage service's upsert
  later completes without touching the count - also **coalesced**;
* otherwise a **miss**: the caller sends it.

If a send fails, ``release`` drops such a placeholder: no pass will ever complete it.

Both go through :meth:`Database.run <pipeline.storage.db.Database.run>`: a connection the
database dropped (a restart) is replaced and the statement retried, for up to the caller's
``deadline_s`` (0 by default: one attempt, after which the connection is fresh again).

``scope="experiment"`` (default) looks in the current experiment only, so re-running an
experiment measures the pipeline again; ``scope="global"`` serves any experiment's latest answer
(bumping that row's count); ``scope="off"`` never looks.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from psycopg2.extensions import connection as PgConnection

from pipeline.storage.db import Database

Scope = Literal["experiment", "global", "off"]
ANSWERED = ("accepted", "low_quality")


class CacheOutcome(StrEnum):
    MISS = "miss"
    HIT = "hit"
    COALESCED = "coalesced"


@dataclass(frozen=True)
class CacheResult:
    outcome: CacheOutcome
    access_count: int | None = None
    terminal_state: str | None = None
    answer: str | None = None
    score: float | None = None
    source_experiment_id: str | None = None


_BUMP = """
UPDATE answers SET access_count = access_count + 1, last_access_at = %(now)s
WHERE experiment_id = %(experiment_id)s AND question_id = %(question_id)s
RETURNING terminal_state, llm_answer, score, access_count, experiment_id
"""

_PLACEHOLDER = """
INSERT INTO answers (experiment_id, question_id, access_count, last_access_at)
VALUES (%(experiment_id)s, %(question_id)s, 2, %(now)s)
ON CONFLICT (experiment_id, question_id) DO UPDATE
    SET access_count = answers.access_count + 1, last_access_at = EXCLUDED.last_access_at
RETURNING terminal_state, llm_answer, score, access_count, experiment_id
"""

_BUMP_GLOBAL = """
UPDATE answers SET access_count = access_count + 1, last_access_at = %(now)s
WHERE (experiment_id, question_id) = (
    SELECT experiment_id, question_id FROM answers
    WHERE question_id = %(question_id)s AND terminal_state IN ('accepted', 'low_quality')
    ORDER BY durable_at DESC NULLS LAST LIMIT 1)
RETURNING terminal_state, llm_answer, score, access_count, experiment_id
"""


#: a placeholder (made by an ask coalesced onto a pass still in flight) that no pass will complete
_RELEASE = """
DELETE FROM answers
WHERE experiment_id = %(experiment_id)s AND question_id = %(question_id)s
  AND terminal_state IS NULL AND llm_answer IS NULL AND durable_at IS NULL
"""


class AnswerCache:
    """Cache checks on an autocommit connection (each lookup is its own statement)."""

    def __init__(self, db: Database, *, scope: Scope = "experiment") -> None:
        if scope not in ("experiment", "global", "off"):
            raise ValueError(f"unknown cache scope {scope!r}")
        if not db.autocommit:
            raise ValueError("AnswerCache needs an autocommit Database")
        self.db = db
        self.scope = scope

    def lookup(self, experiment_id: str, question_id: str, *, in_flight: bool,
               now: float, deadline_s: float = 0.0) -> CacheResult:
        """Check (and count) one ask. A connection lost on the way (the database restarting) is
        retried on a fresh connection for up to ``deadline_s`` seconds (:meth:`Database.run`),
        then :class:`~pipeline.storage.db.DatabaseUnavailable` is raised."""
        if self.scope == "off":
            return CacheResult(CacheOutcome.MISS)
        params = {"experiment_id": experiment_id, "question_id": question_id, "now": now}

        def check(conn: PgConnection) -> tuple | None:
            with conn.cursor() as cur:
                if self.scope == "global":
                    cur.execute(_BUMP_GLOBAL, params)
                    row = cur.fetchone()
                    if row is not None:
                        return row
                cur.execute(_BUMP, params)
                row = cur.fetchone()
                if row is None and in_flight:
                    cur.execute(_PLACEHOLDER, params)
                    row = cur.fetchone()
                return row

        row = self.db.run(check, deadline_s, what=f"cache lookup of {question_id}")
        return CacheResult(CacheOutcome.MISS) if row is None else self._result(row)

    def release(self, experiment_id: str, question_id: str, *, deadline_s: float = 0.0) -> int:
        """The question's send failed (Kafka never acknowledged it): drop the placeholder an ask
        coalesced onto it may have made, so that nothing waits for a pass that does not exist
        and the next ask is a miss (sent again). Returns the rows deleted (0 or 1). Retried
        like :meth:`lookup`."""
        if self.scope == "off":
            return 0

        def delete(conn: PgConnection) -> int:
            with conn.cursor() as cur:
                cur.execute(_RELEASE, {"experiment_id": experiment_id, "question_id": question_id})
                return int(cur.rowcount)

        return self.db.run(delete, deadline_s, what=f"cache release of {question_id}")

    @staticmethod
    def _result(row: tuple) -> CacheResult:
        state, answer, score, count, source = row
        outcome = CacheOutcome.HIT if state in ANSWERED else CacheOutcome.COALESCED
        return CacheResult(outcome, count, state, answer, score, source)
