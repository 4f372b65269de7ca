"""What every DAG of dags/ shares: manual triggering, no catch-up, the owner, and retries.

Every task of the experiment and sweep DAGs is idempotent (a retried step finds the run's state
in PostgreSQL and carries on from it), so a task killed by a restarted scheduler or an executor
race is simply tried again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

DAG_DEFAULTS: dict[str, Any] = {
    "schedule": None,
    "start_date": datetime(2026, 1, 1, tzinfo=UTC),
    "catchup": False,
    "default_args": {"owner": "harness", "retries": 3, "retry_delay": timedelta(seconds=10)},
}
