"""The real PostgreSQL server: the harness database answers and keeps what it is given."""

from __future__ import annotations

import uuid

import psycopg2


def test_round_trip(endpoints):
    marker = uuid.uuid4().hex
    with psycopg2.connect(endpoints.db_dsn) as conn, conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE round_trip (id int PRIMARY KEY, marker text)")
        cur.execute("INSERT INTO round_trip VALUES (1, %s)", (marker,))
        cur.execute("SELECT marker, current_database() FROM round_trip WHERE id = 1")
        assert cur.fetchone() == (marker, "harness")
    conn.close()


def test_airflow_metadata_database_is_postgres(stack, endpoints):
    assert endpoints.airflow_db_url.startswith("postgresql")
    with psycopg2.connect(endpoints.airflow_db_url.replace("+psycopg2", "")) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM dag")  # migrated by `harness up`
        assert cur.fetchone()[0] >= 0
    conn.close()
