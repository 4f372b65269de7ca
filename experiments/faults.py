"""Infrastructure faults as an experiment input: the spec's ``faults`` schedule and its injection.

A fault is ``{at_s, action, target, duration_s}`` (plus ``status`` for an LLM outage and
``worker`` to pick one worker), ``at_s`` counted from the start of the load:

======== ============================================================= =========================
action   what happens                                                  targets
======== ============================================================= =========================
kill     SIGKILL; the supervisor restarts the process                  every service but ``llm``
restart  a graceful stop, then a start                                 every service but ``llm``
pause    SIGSTOP for ``duration_s``, then SIGCONT (a hung process)      every service but ``llm``
outage   every LLM request fails with ``status`` for ``duration_s``     ``llm``
======== ============================================================= =========================

The load process (:mod:`experiments.loader`) runs the schedule beside the load with a
:class:`FaultRunner` (:mod:`experiments.fault_schedule`): each fault starts at its own time,
however long an earlier one's action takes, and faults on one target run one after the other;
each injected fault is recorded as a ``fault`` event of the run in
PostgreSQL (written directly, since Kafka itself may be the target), which the report marks on its
time series; one PostgreSQL did not take (it may be the target) is kept, retried and, if the
load process ends first, appended to a file the collector reads (:mod:`experiments.fault_events`).
Faults go through an :class:`Injector`: :class:`LocalStackInjector` drives the local
stack's supervisord over its socket and the simulator's admin API; a target run outside the local
stack (an external Kafka, Flink or PostgreSQL) cannot be reached, and the run is refused up front
naming it (:func:`unreachable_targets`).
"""

from __future__ import annotations

import logging
import os
import xmlrpc.client
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import Field, model_validator

from experiments.fault_schedule import DeferringRecord, FaultRunner, Injected
from pipeline.spec_model import SpecModel, rule

if TYPE_CHECKING:
    from experiments.fault_events import FaultEventLog, FaultEventRow

log = logging.getLogger(__name__)

FaultAction = Literal["kill", "restart", "pause", "outage"]
FaultTarget = Literal["kafka", "postgres", "flink-taskmanager", "flink-jobmanager", "storage",
                      "relay", "worker", "events-sink", "llm"]

#: supervisord program of each target (workers: worker-<n>)
PROGRAMS: dict[str, str] = {
    "kafka": "kafka", "postgres": "postgres", "flink-taskmanager": "flink-taskmanager",
    "flink-jobmanager": "flink-jobmanager", "storage": "storage", "relay": "retry-relay",
    "events-sink": "events-sink",
}
#: targets that an external service replaces (HARNESS_EXTERNAL_*): the runner cannot reach them
EXTERNAL_ENV: dict[str, str] = {
    "kafka": "HARNESS_EXTERNAL_KAFKA", "postgres": "HARNESS_EXTERNAL_PG_DSN",
    "flink-taskmanager": "HARNESS_EXTERNAL_FLINK_URL",
    "flink-jobmanager": "HARNESS_EXTERNAL_FLINK_URL",
}


class FaultSpec(SpecModel):
    """One scheduled infrastructure fault."""

    at_s: float = Field(ge=0, le=86_400, title="At (s)",
                        description="When, in seconds after the load starts.")
    action: FaultAction = Field(title="Action", description="kill (SIGKILL, restarted by the "
                                "supervisor), restart (graceful), pause (SIGSTOP for duration_s, "
                                "then SIGCONT), outage (llm only: every request fails).")
    target: FaultTarget = Field(title="Target", description="The service the fault hits.")
    duration_s: float = Field(0.0, ge=0, le=3_600, title="Duration (s)",
                              description="pause and outage: how long the fault lasts.")
    status: int = Field(503, ge=400, le=599, title="Outage status",
                        description="outage: the HTTP status every LLM request gets.")
    worker: int | None = Field(None, ge=0, le=63, title="Worker",
                               description="target worker: which one (0-based); empty: all.")

    @model_validator(mode="after")
    def _consistent(self) -> FaultSpec:
        if (self.action == "outage") != (self.target == "llm"):
            raise rule("target", "the llm target takes the outage action, and outage only the "
                       "llm target")
        if self.action in ("pause", "outage") and self.duration_s <= 0:
            raise rule("duration_s", f"a {self.action} needs a duration_s above 0")
        if self.worker is not None and self.target != "worker":
            raise rule("worker", "only the worker target picks a worker")
        return self


def unreachable_targets(faults: Iterable[Mapping[str, Any] | FaultSpec],
                        environ: Mapping[str, str] | None = None) -> list[str]:
    """Targets of FAULTS that run outside the local stack (set by HARNESS_EXTERNAL_*)."""
    environ = os.environ if environ is None else environ
    names = {(f.target if isinstance(f, FaultSpec) else str(f["target"])) for f in faults}
    return sorted(t for t in names if environ.get(EXTERNAL_ENV.get(t, ""), ""))


class Injector(Protocol):
    def inject(self, fault: FaultSpec) -> str:
        """Start the fault; returns what was done, in a sentence."""
        ...

    def end(self, fault: FaultSpec) -> str:
        """End a fault that lasts (pause, outage); returns what was done."""
        ...


def _state_home() -> Path:
    home = os.environ.get("HARNESS_HOME")
    return Path(home) if home else Path(__file__).resolve().parents[1] / ".state"


class LocalStackInjector:
    """Faults on the local stack: supervisord (its XML-RPC socket) and the simulator's admin API."""

    def __init__(self, socket_path: Path | None = None, simulator_url: str | None = None,
                 workers: Callable[[], list[str]] | None = None) -> None:
        self.socket_path = socket_path or _state_home() / "run" / "supervisor.sock"
        self.simulator_url = simulator_url
        self._workers = workers

    def _rpc(self) -> Any:
        from supervisor.xmlrpc import SupervisorTransport

        transport = SupervisorTransport(None, None, f"unix://{self.socket_path}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport).supervisor

    def programs(self, fault: FaultSpec) -> list[str]:
        if fault.target != "worker":
            return [PROGRAMS[fault.target]]
        names = self._workers() if self._workers else sorted(
            info["name"] for info in self._rpc().getAllProcessInfo()
            if str(info["name"]).startswith("worker-"))
        if fault.worker is None:
            return names
        wanted = f"worker-{fault.worker}"
        if wanted not in names:
            raise ValueError(f"fault on worker {fault.worker}: the fleet has {names}")
        return [wanted]

    def _admin(self) -> Any:
        from pipeline.llm.settings import LLMSettings
        from pipeline.llm.sim.runner import SimulatorAdmin

        url = self.simulator_url or LLMSettings().base_url.rstrip("/").removesuffix("/v1")
        return SimulatorAdmin(url)

    def inject(self, fault: FaultSpec) -> str:
        if fault.action == "outage":
            self._admin().outage(status=fault.status, duration_s=fault.duration_s)
            return f"LLM outage: every request {fault.status} for {fault.duration_s:g} s"
        rpc = self._rpc()
        done = []
        for name in self.programs(fault):
            if fault.action == "kill":
                rpc.signalProcess(name, "KILL")
            elif fault.action == "pause":
                rpc.signalProcess(name, "STOP")
            elif fault.action == "restart":
                rpc.stopProcess(name, True)
                rpc.startProcess(name, True)
            done.append(name)
        detail = f"{fault.action} {', '.join(done)}"
        if fault.target == "flink-jobmanager" and fault.action in ("kill", "restart"):
            detail += f"; {self._resubmit_scoring_job()}"
        return detail

    def _resubmit_scoring_job(self, timeout_s: float = 300.0) -> str:
        """A JobManager that restarts loses its jobs (one machine has no HA service): do what the
        `pipeline` DAG does, submit the scoring job again. It resumes from the Kafka offsets its
        last checkpoint committed, so answers scored since are scored again, and stored once
        (the storage write is idempotent)."""
        from flink.control import ScoringJobControl, job_config
        from pipeline.waiting import wait_until

        config = job_config()

        def resubmitted() -> str | None:
            try:
                with ScoringJobControl() as control:
                    status = control.status(config.job_name)
                    if status.running and status.job_id:
                        return f"scoring job {status.job_id} running"
                    return f"scoring job resubmitted as {control.submit(config)}"
            except Exception as exc:  # the JobManager is still starting: ask again
                log.info("scoring job not resubmitted yet: %s", exc)
                return None

        return wait_until(resubmitted, timeout_s, pause_s=2.0, max_pause_s=5.0,
                          what="the scoring job was not resubmitted after the JobManager restart")

    def end(self, fault: FaultSpec) -> str:
        if fault.action == "outage":
            self._admin().end_outage()
            return "LLM outage ended"
        if fault.action == "pause":
            rpc = self._rpc()
            names = self.programs(fault)
            for name in names:
                rpc.signalProcess(name, "CONT")
            return f"resumed {', '.join(names)}"
        return ""


@dataclass
class EventsRecord:
    """The ``record`` of a run's :class:`FaultRunner`: each fault as one ``fault`` event of the
    experiment in PostgreSQL, kept and retried when the database does not take it, and appended
    to the experiment's file when the load process ends first
    (:class:`experiments.fault_events.FaultEventLog`)."""

    events: FaultEventLog

    def __call__(self, injected: Injected) -> None:
        self.events.record(self.row(injected))

    def row(self, injected: Injected) -> FaultEventRow:
        from experiments.fault_events import FaultEventRow

        return FaultEventRow(injected.event_id, self.events.experiment_id, injected.started_at,
                             injected.attrs())

    def retry_at(self) -> float | None:
        return self.events.retry_at()

    def retry(self) -> bool:
        return self.events.retry()

    def flush(self) -> bool:
        return self.events.flush()

    def close(self) -> None:
        self.events.close()


def record_in_events(experiment_id: str, db: Any = None, spill: Path | None = None,
                     **options: Any) -> EventsRecord:
    """A ``record`` for :class:`FaultRunner`: one ``fault`` event of EXPERIMENT_ID per fault,
    written straight into PostgreSQL (not through Kafka: Kafka may be the target), durably
    (:mod:`experiments.fault_events`). ``db`` (a :class:`~pipeline.storage.db.Database`) and
    ``spill`` (the file) default to the stack's; ``options`` tune the
    :class:`~experiments.fault_events.FaultEventLog` (deadlines, retry pauses, clock)."""
    from experiments.fault_events import FaultEventLog, spill_file
    from pipeline.storage.db import Database

    database = db if db is not None else Database(application_name="experiment-faults",
                                                  autocommit=True)
    return EventsRecord(FaultEventLog(experiment_id, database,
                                      spill if spill is not None else spill_file(experiment_id),
                                      **options))


def parse_faults(raw: Iterable[Mapping[str, Any]] | None) -> list[FaultSpec]:
    """The spec's ``faults`` list as models (validated)."""
    return [item if isinstance(item, FaultSpec) else FaultSpec.model_validate(dict(item))
            for item in (raw or [])]


__all__ = [
    "DeferringRecord",
    "EventsRecord",
    "FaultAction",
    "FaultRunner",
    "FaultSpec",
    "FaultTarget",
    "Injected",
    "Injector",
    "LocalStackInjector",
    "parse_faults",
    "record_in_events",
    "unreachable_targets",
]
