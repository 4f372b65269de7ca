"""What the pipeline's services need before they start (``harness up``, before phase 3): the
topics of the spec, created if missing (idempotent), and the database schema, migrated.

Kept apart from :mod:`harness.stack.pipeline_services` (the service list, read on every stack
command) because it needs the Kafka and PostgreSQL clients, which only ``up`` uses.
"""

from __future__ import annotations

import logging

from pydantic import SecretStr

from harness.stack.endpoints import Endpoints
from pipeline.kafka.admin import ensure_topics
from pipeline.kafka.clients import make_admin
from pipeline.kafka.settings import KafkaSettings
from pipeline.storage.db import Database
from pipeline.storage.migrate import migrate
from pipeline.storage.settings import DatabaseSettings
from pipeline.topics import load_topics

log = logging.getLogger(__name__)


def prepare(endpoints: Endpoints) -> None:
    """Topics from the spec (created if missing) and the database schema (migrated)."""
    topics = load_topics()
    admin = make_admin(KafkaSettings(bootstrap=endpoints.kafka_bootstrap))
    for report in ensure_topics(admin, topics):
        if report.action != "exists" or report.config_diff:
            log.info("topic %s", report.line())
    db_settings = DatabaseSettings(dsn=SecretStr(endpoints.db_dsn))
    with Database(db_settings, application_name="prepare") as db:
        applied = migrate(db.conn())
    log.info("database migrations applied: %s", ", ".join(applied) if applied else "none needed")
