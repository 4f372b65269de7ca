"""The experiment DAG's waits, as deferrable Airflow operators with triggers on the triggerer.

A wait holds no worker slot (the task is deferred) and no scheduler state that a race can break:
Airflow 3.3's reschedule-mode sensors can be failed by the executor's late success event of an
earlier poke (apache/airflow#71172), which killed every experiment whose drain outlasted a poke.
A trigger is re-created from its serialized arguments when the triggerer restarts, and every
argument is absolute (the run's label, a deadline as a POSIX time), so it resumes where it was;
the decisions themselves are those of :mod:`experiments.lifecycle`, read from PostgreSQL.

- :class:`WaitForIdlePipeline`: until no other run has questions in the shared pipeline;
  after ``isolation_timeout_s`` the run is refused (ended as ``failed`` with the blocking runs
  named) and the task fails.
- :class:`WaitForRun`: until the run's load is sent and every question is terminal; a dead load
  process or a drain past ``drain_timeout_s`` ends the run as ``failed`` with the reason, and
  the task fails. The report step runs either way (trigger rule ``all_done``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.exceptions import AirflowFailException
from airflow.sdk import BaseOperator
from airflow.triggers.base import BaseTrigger, TriggerEvent

from experiments.lifecycle import Assessment, LifecycleSettings

log = logging.getLogger(__name__)

STAGES = ("idle", "drained")


def poll(label: str, stage: str, deadline: float | None) -> Assessment:
    """One look at the run, for STAGE: ``idle`` (may it load now?) or ``drained``."""
    from experiments import runner

    if stage == "drained":
        return runner.assess(label)
    from experiments.lifecycle import pipeline_busy

    now = time.time()
    with runner._db() as db:
        from pipeline.storage.runs import RunStore

        run = RunStore(db).get(label)
        if run is None:
            return Assessment("failed", f"no run {label!r} is registered")
        if run.ended:
            return Assessment("failed", run.reason or f"the run {run.status}")
        busy = pipeline_busy(db, label, now)
    if not busy:
        return Assessment("drained", "no other run has questions in the pipeline", 0)
    text = ", ".join(b.describe() for b in busy)
    if deadline is not None and now > deadline:
        settings = LifecycleSettings()
        return Assessment("failed", f"refused: other runs kept the pipeline busy for "
                          f"{settings.isolation_timeout_s:.0f} s (isolation_timeout_s): {text}")
    return Assessment("wait", f"waiting for other runs to drain: {text}")


class RunTrigger(BaseTrigger):
    """Polls :func:`poll` on the triggerer until the stage is reached or has failed."""

    def __init__(self, label: str, stage: str, deadline: float | None = None,
                 poll_interval_s: float = 5.0) -> None:
        super().__init__()
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}")
        self.label, self.stage = label, stage
        self.deadline, self.poll_interval_s = deadline, poll_interval_s

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}",
                {"label": self.label, "stage": self.stage, "deadline": self.deadline,
                 "poll_interval_s": self.poll_interval_s})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        said = ""
        while True:
            try:
                verdict = await asyncio.to_thread(poll, self.label, self.stage, self.deadline)
            except Exception as exc:  # the database restarting: poll again, the deadline holds
                self.log.warning("run %s: poll failed (%s: %s); polling again", self.label,
                                 type(exc).__name__, exc)
                await asyncio.sleep(self.poll_interval_s)
                continue
            if verdict.done:
                self.log.info("run %s: %s (%s)", self.label, verdict.outcome, verdict.message)
                yield TriggerEvent(verdict.as_dict())
                return
            if verdict.message != said:
                self.log.info("run %s: %s", self.label, verdict.message)
                said = verdict.message
            await asyncio.sleep(self.poll_interval_s)


class _WaitOperator(BaseOperator):
    """Defers to a :class:`RunTrigger` for STAGE; a failed outcome ends the run as failed."""

    template_fields = ("run_label",)
    stage: str = "drained"
    ui_color = "#d9ecf2"

    def __init__(self, *, run_label: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.run_label = run_label

    def _deadline(self) -> float | None:
        return None

    def execute(self, context: Any) -> dict[str, Any]:
        settings = LifecycleSettings()
        deadline = self._deadline()
        verdict = poll(self.run_label, self.stage, deadline)
        if verdict.done:
            return self._complete(verdict)
        log.info("run %s: %s; deferring to the triggerer", self.run_label, verdict.message)
        self.defer(trigger=RunTrigger(self.run_label, self.stage, deadline, settings.poll_interval_s),
                   method_name="execute_complete")
        raise AssertionError("defer() returns only by raising")  # pragma: no cover

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
        event = event or {}
        return self._complete(Assessment(event.get("outcome", "failed"),
                                         str(event.get("message", "no event from the trigger")),
                                         event.get("pending")))

    def _complete(self, verdict: Assessment) -> dict[str, Any]:
        if verdict.outcome == "failed":
            from experiments import runner
            from pipeline.storage.runs import RunStore

            with runner._db() as db:
                RunStore(db).end(self.run_label, "failed", verdict.message, in_flight=verdict.pending)
            raise AirflowFailException(f"run {self.run_label}: {verdict.message}")
        log.info("run %s: %s", self.run_label, verdict.message)
        return verdict.as_dict()


class WaitForIdlePipeline(_WaitOperator):
    """Wait until no other run has questions in the shared pipeline (isolation)."""

    stage = "idle"

    def _deadline(self) -> float | None:
        # absolute, from the run's registration: a retried or resumed wait keeps the same one
        from experiments import runner

        run = runner.run_status(self.run_label)
        start = run.created_at if run is not None else time.time()
        return start + LifecycleSettings().isolation_timeout_s


class WaitForRun(_WaitOperator):
    """Wait until the run's load is sent and every question is terminal."""

    stage = "drained"


class WaitForDagRuns(BaseOperator):
    """Wait, deferred on the triggerer, until every run in RUN_IDS of DAG_ID has ended (success
    or failed): the sweep's wait for its cells. Idempotent: a retry waits again for the same runs.
    Succeeds whatever the cells' states; each cell's own run says how it ended."""

    template_fields = ("run_ids",)
    ui_color = "#d9ecf2"

    def __init__(self, *, dag_id: str, run_ids: Any, poll_interval_s: float = 10.0,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dag_id_to_wait, self.run_ids, self.poll_interval_s = dag_id, run_ids, poll_interval_s

    def execute(self, context: Any) -> None:
        from airflow.providers.standard.triggers.external_task import DagStateTrigger

        self.defer(trigger=DagStateTrigger(dag_id=self.dag_id_to_wait, run_ids=list(self.run_ids),
                                           states=["success", "failed"],
                                           poll_interval=self.poll_interval_s),
                   method_name="execute_complete")

    def execute_complete(self, context: Any, event: Any = None) -> None:
        log.info("every run of %s ended: %s", self.dag_id_to_wait, list(self.run_ids))


__all__ = ["RunTrigger", "WaitForDagRuns", "WaitForIdlePipeline", "WaitForRun", "poll"]
