"""What every DAG of dags/ shares: manual triggering, no catch-up, the owner, no retries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

DAG_DEFAULTS: dict[str, Any] = {
    "schedule": None,
    "start_date": datetime(2026, 1, 1, tzinfo=UTC),
    "catchup": False,
    "default_args": {"owner": "harness", "retries": 0},
}
