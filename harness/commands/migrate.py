"""``harness migrate``: apply the pipeline's database migrations (idempotent)."""

from __future__ import annotations

import argparse
from typing import Any


def _migrate(args: argparse.Namespace) -> int:
    from pipeline.storage.db import Database
    from pipeline.storage.migrate import migrate

    with Database(application_name="migrate") as db:
        applied = migrate(db.conn())
    print("applied: " + ", ".join(applied) if applied else "database schema is up to date")
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("migrate", help="apply the pipeline's database migrations")
    parser.set_defaults(func=_migrate)
