"""``harness audit EXPERIMENT [--json] [--write DIR]``: prove that nothing of a run was lost.

EXPERIMENT is a run label (every repeat of the run is audited) or one experiment id. Prints the
verdict and its counts (``--json``: the whole result) and exits 0 when clean, 1 when dirty, 3
while the run is still in flight, 2 when EXPERIMENT names nothing (or the database cannot be
read). ``--write DIR`` also writes ``DIR/audit.json`` (the run's report folder). The definitions
are in :mod:`experiments.audit`; the database is the one of ``HARNESS_DB_DSN`` (services.env).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: exit code when the target is neither a run label nor an experiment id, or the database is down
NOT_FOUND = 2


def _audit(args: argparse.Namespace) -> int:
    import psycopg2

    from experiments.audit import audit, write_audit
    from experiments.audit_sql import TargetNotFound
    from pipeline.storage.db import Database

    try:
        with Database(application_name="audit") as db:
            result = audit(db, args.experiment, strict=args.strict)
    except TargetNotFound as exc:
        log.error("%s", exc)
        return NOT_FOUND
    except psycopg2.OperationalError as exc:
        log.error("cannot read the database: %s", str(exc).strip())
        return NOT_FOUND
    if args.write is not None:
        log.info("wrote %s", write_audit(result, args.write))
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, sort_keys=True))
    else:
        print("\n".join(result.lines()))
    return result.exit_code


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "audit",
        help="check that every question of a run or experiment was answered exactly once "
             "(exit 0 clean, 1 dirty, 3 in flight)",
    )
    parser.add_argument("experiment", help="a run label (all its repeats) or an experiment id")
    parser.add_argument("--json", action="store_true", help="print the whole result as JSON")
    parser.add_argument("--strict", action="store_true",
                        help="duplicated LLM passes (records replayed after a crash) make the "
                             "verdict dirty; by default they are a warning")
    parser.add_argument("--write", type=Path, default=None, metavar="DIR",
                        help="also write DIR/audit.json (the run's report folder)")
    parser.set_defaults(func=_audit)
