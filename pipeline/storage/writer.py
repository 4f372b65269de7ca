"""Batched, idempotent writes of a :class:`~pipeline.storage.rows.RowSet` in one transaction.

answers: ``INSERT .. ON CONFLICT (experiment_id, question_id) DO UPDATE .. WHERE`` the new
outcome ranks at least as high as the stored one (state, then round, then completion time), so
a redelivered record changes nothing, a better one replaces a worse one, and ``access_count``
(owned by the generator's cache check) is never overwritten. The attempts of the rows that won
are replaced by the winner's history. dead_letters: ``ON CONFLICT DO NOTHING``.
"""

from __future__ import annotations

from typing import Any

from psycopg2.extensions import cursor as PgCursor
from psycopg2.extras import execute_values

from pipeline.storage.rows import ANSWER_COLUMNS, ATTEMPT_COLUMNS, DEAD_LETTER_COLUMNS, RowSet

_JSONB = {"round_scores", "hops"}


def _template(columns: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"%({c})s::jsonb" if c in _JSONB else f"%({c})s" for c in columns) + ")"


_RANK_NEW = "(answer_state_rank(EXCLUDED.terminal_state), EXCLUDED.rounds, COALESCE(EXCLUDED.completed_at, 0))"
_RANK_OLD = "(answer_state_rank(a.terminal_state), a.rounds, COALESCE(a.completed_at, 0))"
_UPDATED = [c for c in ANSWER_COLUMNS if c not in {"experiment_id", "question_id", "durable_at"}]

UPSERT_ANSWERS = f"""
INSERT INTO answers AS a ({", ".join(ANSWER_COLUMNS)}) VALUES %s
ON CONFLICT (experiment_id, question_id) DO UPDATE SET
    {", ".join(f"{c} = EXCLUDED.{c}" for c in _UPDATED)},
    durable_at = CASE WHEN {_RANK_NEW} = {_RANK_OLD} AND a.durable_at IS NOT NULL
                      THEN a.durable_at ELSE EXCLUDED.durable_at END,
    updated_at = extract(epoch FROM clock_timestamp())
WHERE {_RANK_NEW} >= {_RANK_OLD}
RETURNING experiment_id, question_id
"""

DELETE_ATTEMPTS = """
DELETE FROM attempts AS t USING (VALUES %s) AS k(experiment_id, question_id)
WHERE t.experiment_id = k.experiment_id AND t.question_id = k.question_id
"""

INSERT_ATTEMPTS = f"""
INSERT INTO attempts ({", ".join(ATTEMPT_COLUMNS)}) VALUES %s
ON CONFLICT (experiment_id, question_id, round, number) DO NOTHING
"""

INSERT_DEAD_LETTERS = f"""
INSERT INTO dead_letters ({", ".join(DEAD_LETTER_COLUMNS)}) VALUES %s
ON CONFLICT (record_topic, record_partition, record_offset, payload_sha256) DO NOTHING
"""


def write_rows(cur: PgCursor, rows: RowSet, *, page_size: int = 1000) -> list[tuple[str, str]]:
    """Write ``rows`` with ``cur`` (the caller commits); returns the answers keys that won."""
    won: list[tuple[str, str]] = []
    if rows.answers:
        result = execute_values(cur, UPSERT_ANSWERS, list(rows.answers.values()),
                                template=_template(ANSWER_COLUMNS), page_size=page_size, fetch=True)
        won = [(r[0], r[1]) for r in result]
    if won:
        execute_values(cur, DELETE_ATTEMPTS, won, page_size=page_size)
        attempts: list[dict[str, Any]] = [a for key in won for a in rows.attempts.get(key, [])]
        if attempts:
            execute_values(cur, INSERT_ATTEMPTS, attempts, template=_template(ATTEMPT_COLUMNS),
                           page_size=page_size)
    if rows.dead_letters:
        execute_values(cur, INSERT_DEAD_LETTERS, list(rows.dead_letters.values()),
                       template=_template(DEAD_LETTER_COLUMNS), page_size=page_size)
    return won
