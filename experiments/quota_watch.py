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

log = logging.getLogger(__name__)

#: quota-exhausted LLM attempts recorded for one experiment (events_experiment_kind_idx)
QUOTA_ERRORS = """
SELECT count(*) FROM events
WHERE experiment_id = %s AND kind = 'llm_attempt' AND attrs->>'error_class' = 'quota_exhausted'
"""

CountQuotaErrors = Callable[[str], int]


def count_quota_errors_in(db: object) -> CountQuotaErrors:
    """``experiment_id -> count`` over a :class:`pipeline.storage.db.Database`."""

    def count(experiment_id: str) -> int:
        with db.conn().cursor() as cur:  # type: ignore[attr-defined]
            cur.execute(QUOTA_ERRORS, (experiment_id,))
            return int(cur.fetchone()[0])

    return count


class QuotaWatch:
    """Sets ``stop`` once ``threshold`` quota errors of ``experiment_id`` are recorded.

    ``with QuotaWatch(...) as watch:`` polls on a daemon thread every ``poll_s`` until the block
    ends; ``check()`` is one poll (what the tests drive). A threshold of 0 watches nothing. A
    failed poll (the database restarting, say) is logged and retried at the next one: the watch
    must never stop the load by itself failing.
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

    def _run(self) -> None:
        while not self._done.wait(self.poll_s):
            try:
                if self.check():
                    return
            except (psycopg2.Error, OSError) as exc:
                log.warning("quota watch of %s: poll failed (%s); retrying", self.experiment_id, exc)

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
