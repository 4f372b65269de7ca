"""Live progress (`harness trigger` / `harness run`) read from the real PostgreSQL: rows written by
the pipeline's own storage and event-sink code (collect_scenario.py) and a runs row as the runner
writes it, then :func:`experiments.progress.read_progress`.

One run of five questions: three answered (end to end 1 s, 1 s, 3 s), one dead-lettered by the
worker (an invalid request), one still in flight after an overload error. The snapshot counts
them as the audit and the collector would, its percentiles are those of the answered ones, and it
follows the run's status once the run ends.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from collect_scenario import Scenario, Step

from experiments.progress import describe, read_progress
from pipeline.generator.load import LoadSummary
from pipeline.storage.db import Database
from pipeline.storage.experiments import ExperimentStore
from pipeline.storage.runs import RunStore
from pipeline.storage.settings import DatabaseSettings

T = 1_770_000_000.0
OK = Step("ok", 0.2)


@pytest.fixture
def new_label(db_settings: DatabaseSettings) -> Iterator[Callable[[], str]]:
    """Factory of unique run labels; their runs rows are deleted after the test."""
    made: list[str] = []

    def make() -> str:
        made.append(f"test-progress-{uuid.uuid4().hex[:10]}")
        return made[-1]

    yield make
    with Database(db_settings, application_name="test-progress-cleanup") as db:
        conn = db.conn()
        with conn, conn.cursor() as cur:
            cur.execute("DELETE FROM runs WHERE label = ANY(%s)", (made,))


def _write_run(settings: DatabaseSettings, label: str, exp: str) -> None:
    with Database(settings, application_name="test-progress") as db, \
            Database(settings, application_name="test-progress-cache", autocommit=True) as cdb:
        ExperimentStore(db).create(exp, "progress-it", {"name": "progress-it"})
        RunStore(db).create(label, "progress-it", {"name": "progress-it"}, [exp])
        RunStore(db).set_phase(label, "loading", load_started_at=T)
        s = Scenario(db, cdb, exp)
        s.answer("q00", T, [([OK], 0.8)], e2e_s=1.0)
        s.answer("q01", T + 1, [([OK], 0.8)], e2e_s=1.0)
        s.answer("q02", T + 2, [([OK], 0.8)], e2e_s=3.0)
        s.dead_letter_in_worker("q03", T + 3, [Step("invalid_request", 0.1, http_status=400)],
                                e2e_s=0.5)
        s.in_flight("q04", T + 4, [Step("overload", 0.1, delay_s=1.0)])
        s.flush_events()
        summary = LoadSummary(exp, started_at=T, ended_at=T + 10, finished_at=T + 10.1, sent=5,
                              acknowledged=5, acknowledged_questions=5)
        ExperimentStore(db).mark_finished(exp, status="running",
                                          summary={"load": summary.to_dict()})


def test_the_snapshot_of_a_run_in_progress_and_after_it_ends(
    db_settings: DatabaseSettings, new_experiment: Callable[[str], str],
    new_label: Callable[[], str],
) -> None:
    label, exp = new_label(), new_experiment("progress")
    _write_run(db_settings, label, exp)

    with Database(db_settings, application_name="test-progress") as db:
        snap = read_progress(db, label)
        assert snap is not None
        assert (snap.phase, snap.status) == ("loading", "running")
        assert (snap.sent, snap.answered, snap.dead_lettered, snap.in_flight) == (5, 3, 1, 1)
        assert snap.e2e_p50_s == pytest.approx(1.0, abs=1e-6)
        assert 2.9 < snap.e2e_p99_s <= 3.0  # interpolated between 1 s and 3 s
        assert snap.error_rate == pytest.approx(0.25)
        assert snap.llm_calls >= 5 and snap.llm_errors >= 2  # q03's and q04's failed calls
        assert describe(snap).startswith(f"{label} loading: sent 5, answered 3")

        RunStore(db).end(label, "failed", "drain timed out", in_flight=1)
        ended = read_progress(db, label)
        assert ended is not None
        assert (ended.status, ended.reason, ended.sent) == ("failed", "drain timed out", 5)

        assert read_progress(db, f"{label}-not-registered") is None
