"""Stop the load early when the LLM says the quota is gone (docs/errors-and-retries.md#quota-exhaustion).

A quota error (429 ``insufficient_quota``) is not a rate limit: waiting seconds does not help, and
every further question costs a deferral or three and then lands in qa.dlq. With
``llm.stop_after_quota_errors: N`` (0 = never) the runner watches the run's telemetry while the
generator sends: once the workers have recorded N quota-exhausted LLM attempts for the
experiment, the generator stops sending new questions. What was already sent finishes as usual
(deferred, then answered or dead-lettered), the load summary says why it stopped, and the
report says so too.

The count comes from the ``llm_attempt`` events in PostgreSQL (what the workers emit through
qa.events and the event sink), so it works the same with the simulator and a real endpoint.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from types import TracebackType

import psycopg2
from psycopg2.extensions import connection as PgConnection

from pipeline.storage.db import Database

log = logging.getLogger(__name__)

#: quota-exhausted LLM attempts recorded for one experiment (events_experiment_kind_idx)
QUOTA_ERRORS = """
SELECT count(*) FROM events
WHERE experiment_id = %s AND kind = 'llm_attempt' AND attrs->>'error_class' = 'quota_exhausted'
"""

CountQuotaErrors = Callable[[str], int]


def count_quota_errors_in(db: Database, *, retry_s: float = 0.0) -> CountQuotaErrors:
    """``experiment_id -> count`` over a :class:`pipeline.storage.db.Database`.

    Each count goes through :meth:`Database.run`: a connection the database dropped (a
    restart) is replaced, so the next poll works on a fresh one; ``retry_s`` (default: none,
    the next poll is the retry) bounds a retry within one count.
    """

    def count(experiment_id: str) -> int:
        def query(conn: PgConnection) -> int:
            with conn.cursor() as cur:
                cur.execute(QUOTA_ERRORS, (experiment_id,))
                return int(cur.fetchone()[0])

        return db.run(query, retry_s, what="quota error count")

    return count


class QuotaWatch:
    """Sets ``stop`` once ``threshold`` quota errors of ``experiment_id`` are recorded.

    ``with QuotaWatch(...) as watch:`` polls on a daemon thread every ``poll_s`` until the block
    ends; ``check()`` is one poll (what the tests drive). A threshold of 0 watches nothing. A
    failed poll (the database restarting, say) is retried at the next one, logged when the
    failures start and when they end: the watch must never stop the load by itself failing.
    """

    def __init__(self, experiment_id: str, threshold: int, stop: threading.Event, *,
                 count: CountQuotaErrors, poll_s: float = 2.0,
                 clock: Callable[[], float] = time.time) -> None:
        if threshold < 0:
            raise ValueError("threshold must be >= 0")
        self.experiment_id = experiment_id
        self.threshold = threshold
        self.stop = stop
        self.poll_s = poll_s
        self._count = count
        self._clock = clock
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self.seen = 0
        self.tripped_at: float | None = None
        #: consecutive failed polls (0 while the database answers)
        self.failed_polls = 0

    @property
    def reason(self) -> str | None:
        """Why the load was stopped, for the load summary and the report; None if it was not."""
        if self.tripped_at is None:
            return None
        return (f"quota_exhausted: {self.seen} insufficient_quota errors from the LLM "
                f"(llm.stop_after_quota_errors = {self.threshold})")

    def check(self) -> bool:
        """One poll; True once tripped."""
        if self.tripped_at is not None or not self.threshold:
            return self.tripped_at is not None
        self.seen = self._count(self.experiment_id)
        if self.seen >= self.threshold:
            self.tripped_at = self._clock()
            log.warning("%s: %d quota errors (threshold %d): stopping the load early",
                        self.experiment_id, self.seen, self.threshold)
            self.stop.set()
        return self.tripped_at is not None

    def poll(self) -> bool:
        """:meth:`check` that survives a failed poll (a database error or an unreachable
        database): False, and the next poll tries again."""
        try:
            tripped = self.check()
        except (psycopg2.Error, OSError) as exc:  # DatabaseUnavailable is a psycopg2.Error
            self.failed_polls += 1
            if self.failed_polls == 1:
                log.warning("quota watch of %s: poll failed (%s); polling again every %.1f s",
                            self.experiment_id, exc, self.poll_s)
            return False
        if self.failed_polls:
            log.info("quota watch of %s: polling again after %d failed poll(s)",
                     self.experiment_id, self.failed_polls)
            self.failed_polls = 0
        return tripped

    def _run(self) -> None:
        while not self._done.wait(self.poll_s):
            if self.poll():
                return

    def __enter__(self) -> QuotaWatch:
        if self.threshold:
            self._thread = threading.Thread(target=self._run, name="quota-watch", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join(timeout=self.poll_s + 5.0)
