"""The per-question statements a run makes find their row by key, however many answers the run
already has and whatever the planner's statistics say about the run (none, until autoanalyze
catches up after it): a statement that scans the experiment's rows for one question makes a run
quadratic in its size.

Each statement is explained with ANALYZE inside a transaction that is rolled back, after a new
experiment's rows were inserted in the same transaction (so the statistics cannot know them)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from pipeline.storage import cache as answer_cache
from pipeline.storage.db import Database

ROWS = 5_000


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _explain(cur, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    cur.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
    raw = cur.fetchone()[0]
    document = raw if isinstance(raw, list) else json.loads(raw)
    return list(_nodes(document[0]["Plan"]))


@pytest.mark.parametrize(
    ("name", "sql", "question"),
    [
        ("cache hit", answer_cache._BUMP, "q-4321"),
        ("cache miss", answer_cache._BUMP, "q-not-there"),
        ("placeholder", answer_cache._PLACEHOLDER, "q-not-there"),
        ("release", answer_cache._RELEASE, "q-4321"),
    ],
)
def test_per_question_statement_reads_one_row(rig, new_experiment, name, sql, question):
    exp = new_experiment("plans")
    conn = Database(rig.db_settings).conn()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "INSERT INTO answers (experiment_id, question_id, terminal_state) "
                "SELECT %s, 'q-' || g, 'accepted' FROM generate_series(1, %s) AS g",
                (exp, ROWS),
            )
            params = {"experiment_id": exp, "question_id": question, "now": 1.0}
            nodes = _explain(cur, sql, params)
    finally:
        conn.rollback()
        conn.close()
    scans = [n for n in nodes if "Scan" in n["Node Type"]]
    arbiters = [i for n in nodes for i in n.get("Conflict Arbiter Indexes", [])]
    assert scans or arbiters == ["answers_pkey"], f"{name}: neither a scan nor the key {nodes}"
    for node in scans:
        assert node["Node Type"] != "Seq Scan", f"{name}: sequential scan of {node['Relation Name']}"
        visited = node["Actual Rows"] + node.get("Rows Removed by Filter", 0)
        assert visited <= 1, (  # the question's own row may fail the statement's other conditions
            f"{name}: {node['Node Type']} on {node.get('Index Name')} visited {visited} rows of "
            f"{ROWS} to find one question"
        )
