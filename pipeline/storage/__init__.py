"""PostgreSQL storage: migrations, the storage service (qa.results + qa.dlq -> tables), the
answer cache the traffic generator checks, and the experiments table.

    from pipeline.storage import Database, DatabaseSettings, migrate, AnswerCache, ExperimentStore
"""

from pipeline.storage.cache import AnswerCache, CacheOutcome, CacheResult
from pipeline.storage.db import Database
from pipeline.storage.experiments import ExperimentStore
from pipeline.storage.migrate import migrate
from pipeline.storage.settings import DatabaseSettings, StorageSettings

__all__ = [
    "AnswerCache",
    "CacheOutcome",
    "CacheResult",
    "Database",
    "DatabaseSettings",
    "ExperimentStore",
    "StorageSettings",
    "migrate",
]
