"""Submit, inspect and stop the scoring job on the Flink session cluster.

Used by `harness flink submit | status | stop` and by the pipeline DAG::

    control = ScoringJobControl()
    config = job_config(checkpoint_interval_s=5)            # topics from the topic spec
    job_id = control.submit(config, parallelism=2)         # refuses a second running copy
    print(control.status(config.job_name).describe())
    path = control.stop(config.job_name, savepoint=True).savepoint
    control.submit(config, from_savepoint="latest")        # resume where it stopped

Job names are how copies are recognised: the default is ``qa-scoring``, with the topic prefix
appended when there is one (``qa-scoring[t1234.]``), so test jobs never collide with the real
one. The last savepoint of each job name is remembered in the state folder
(``flink/scoring-savepoints.json``), which is what ``from_savepoint="latest"`` reads.

A savepoint is a resume point once (`resume_point`): the job resumed from it moves on, commits
its Kafka offsets at every checkpoint and may then stop without a savepoint (a JobManager or
machine crash). Resuming from the same savepoint again would replay every answer since it was
taken (hours, on a long-lived stack); the group's committed offsets are the newer position
then, and a plain submit starts from them.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flink.client import FlinkClient, FlinkError
from flink.job_config import DEFAULT_JOB_NAME, JobConfig, JobTopics
from foundation.layout import Layout
from foundation.repo import REPO_ROOT
from foundation.settings import StackSettings, get_settings
from pipeline.topics import TopicCatalog, load_topics

log = logging.getLogger(__name__)

__all__ = [
    "JOB_FILE",
    "JobAlreadyRunning",
    "ScoringJobControl",
    "ScoringJobStatus",
    "StopResult",
    "job_config",
]

JOB_FILE = REPO_ROOT / "flink" / "job.py"
ACTIVE_STATES = frozenset(
    {
        "INITIALIZING",
        "CREATED",
        "RUNNING",
        "FAILING",
        "CANCELLING",
        "RESTARTING",
        "SUSPENDED",
        "RECONCILING",
    }
)


class JobAlreadyRunning(FlinkError):
    """A job of that name is already active (submit with force=True to start another)."""


def job_config(
    *,
    catalog: TopicCatalog | None = None,
    bootstrap_servers: str | None = None,
    settings: StackSettings | None = None,
    **overrides: Any,
) -> JobConfig:
    """The job's config for this stack: topics from the topic spec (with its prefix), Kafka
    from the stack settings; ``overrides`` are JobConfig fields."""
    catalog = catalog or load_topics()
    settings = settings or get_settings()
    suffix = f"[{catalog.prefix}]" if catalog.prefix else ""
    values: dict[str, Any] = {
        "job_name": DEFAULT_JOB_NAME + suffix,
        "group_id": "flink-scoring" + (f".{catalog.prefix.strip('.')}" if catalog.prefix else ""),
        "bootstrap_servers": bootstrap_servers or settings.kafka_bootstrap_servers,
        "topics": JobTopics.of(catalog),
    }
    values.update(overrides)
    return JobConfig(**values)


@dataclass
class ScoringJobStatus:
    """What `harness flink status` shows for one job name."""

    job_name: str
    job_id: str | None = None
    state: str | None = None
    start_time: float | None = None  # epoch seconds
    parallelism: int | None = None
    restarts: int | None = None
    checkpoints: dict[str, Any] = field(default_factory=dict)  # counts
    last_checkpoint: dict[str, Any] | None = None  # id, path, at, size
    restored: dict[str, Any] | None = None  # what the job started from
    last_savepoint: dict[str, Any] | None = None  # path, at, job_id (remembered)
    others: list[dict[str, Any]] = field(default_factory=list)  # older runs of this name

    @property
    def running(self) -> bool:
        return self.state in ACTIVE_STATES

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}

    def describe(self) -> str:
        lines = [
            f"job {self.job_name}: {self.state or 'not submitted'}"
            + (f" ({self.job_id})" if self.job_id else "")
        ]
        if self.job_id:
            if self.start_time:
                lines.append(
                    f"  started      {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(self.start_time))}"
                )
            lines.append(f"  parallelism  {self.parallelism}   restarts {self.restarts}")
            c = self.checkpoints
            lines.append(
                f"  checkpoints  completed {c.get('completed', 0)}, failed "
                f"{c.get('failed', 0)}, in progress {c.get('in_progress', 0)}"
            )
            if self.last_checkpoint:
                lc = self.last_checkpoint
                lines.append(
                    f"  last checkpoint #{lc['id']} {_ago(lc.get('at'))}: {lc.get('path')}"
                )
            if self.restored:
                kind = "savepoint" if self.restored.get("is_savepoint") else "checkpoint"
                lines.append(f"  restored from {kind} {self.restored.get('path')}")
        if self.last_savepoint:
            sp = self.last_savepoint
            lines.append(f"  last savepoint {_ago(sp.get('at'))}: {sp['path']}")
            if sp.get("resumed_by"):
                lines.append(
                    f"    resumed by {sp['resumed_by']} {_ago(sp.get('resumed_at'))}: the next "
                    "submit starts from the committed offsets"
                )
        return "\n".join(lines)


@dataclass(frozen=True)
class StopResult:
    job_ids: list[str]
    savepoint: str | None


def _ago(at: float | None) -> str:
    if not at:
        return ""
    return f"({time.time() - at:.0f} s ago)"


class ScoringJobControl:
    """The scoring job's lifecycle on the session cluster (through its REST API and `flink run`)."""

    def __init__(
        self,
        client: FlinkClient | None = None,
        *,
        settings: StackSettings | None = None,
        state_file: Path | None = None,
        job_file: Path = JOB_FILE,
    ) -> None:
        self.settings = settings or get_settings()
        self.client = client or FlinkClient(self.settings)
        self.state_file = state_file or (
            Layout.of(self.settings).flink_home / "scoring-savepoints.json"
        )
        self.job_file = job_file

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> ScoringJobControl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- REST helpers ------------------------------------------------------------------------
    def _get(self, path: str) -> Any:
        # FlinkClient has no checkpoint or metric calls (yet): use its REST helper.
        return self.client._json("GET", path)

    def jobs_named(self, job_name: str) -> list[dict[str, Any]]:
        """Every job of that name the cluster remembers, newest first."""
        jobs = [j for j in self.client.jobs() if j.get("name") == job_name]
        return sorted(jobs, key=lambda j: j.get("start-time", 0), reverse=True)

    def active_jobs(self, job_name: str) -> list[dict[str, Any]]:
        return [j for j in self.jobs_named(job_name) if j.get("state") in ACTIVE_STATES]

    def checkpoints(self, job_id: str) -> dict[str, Any]:
        return dict(self._get(f"/jobs/{job_id}/checkpoints"))

    def restarts(self, job_id: str) -> int | None:
        """How many times the job restarted (its numRestarts metric)."""
        metrics = self._get(f"/jobs/{job_id}/metrics?get=numRestarts")
        for metric in metrics:
            if metric.get("id") == "numRestarts":
                return int(float(metric["value"]))
        return None

    # -- savepoint memory --------------------------------------------------------------------
    def _remembered(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.state_file.read_text()))
        except FileNotFoundError:
            return {}

    def last_savepoint(self, job_name: str) -> dict[str, Any] | None:
        """The last savepoint remembered for the name: path, job_id, at, and once a job has
        resumed from it, resumed_by and resumed_at."""
        return self._remembered().get(job_name)

    def resume_point(self, job_name: str) -> str | None:
        """The savepoint a new job of that name should resume from: the last one remembered,
        unless a job already resumed from it (then None: start from the committed offsets)."""
        remembered = self.last_savepoint(job_name)
        if not remembered or remembered.get("resumed_by"):
            return None
        return str(remembered["path"])

    def _mark_resumed(self, job_name: str, path: str, job_id: str) -> None:
        data = self._remembered()
        entry = data.get(job_name)
        if entry and entry.get("path") == path:
            entry.update(resumed_by=job_id, resumed_at=time.time())
            self._write_remembered(data)

    def _remember_savepoint(self, job_name: str, job_id: str, path: str) -> None:
        data = self._remembered()
        data[job_name] = {"path": path, "job_id": job_id, "at": time.time()}
        self._write_remembered(data)

    def forget_savepoint(self, job_name: str) -> dict[str, Any] | None:
        """Forget the last savepoint of ``job_name`` (the next submit starts from the Kafka
        group's committed offsets instead); returns what was forgotten. The savepoint's files
        stay where they are."""
        data = self._remembered()
        forgotten = data.pop(job_name, None)
        if forgotten is not None:
            self._write_remembered(data)
        return forgotten

    def _write_remembered(self, data: dict[str, Any]) -> None:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        tmp.replace(self.state_file)

    # -- lifecycle ---------------------------------------------------------------------------
    def submit(
        self,
        config: JobConfig,
        *,
        parallelism: int | None = None,
        from_savepoint: str | None = None,
        force: bool = False,
        wait_running_s: float | None = 180.0,
    ) -> str:
        """Submit the job; return its id. ``from_savepoint="latest"`` resumes from the last
        savepoint remembered for this job name (even one resumed from before: `resume_point`
        says whether it should be). Waits until every task runs unless ``wait_running_s`` is
        None; a job that runs from a savepoint marks it resumed."""
        active = self.active_jobs(config.job_name)
        if active and not force:
            ids = ", ".join(f"{j['jid']} ({j['state']})" for j in active)
            raise JobAlreadyRunning(
                f"{config.job_name} is already active: {ids}; stop it first or use --force"
            )
        if from_savepoint == "latest":
            remembered = self.last_savepoint(config.job_name)
            if not remembered:
                raise FlinkError(f"no savepoint remembered for {config.job_name}")
            from_savepoint = str(remembered["path"])
        job_id = self.client.submit(
            self.job_file, config.to_args(), parallelism=parallelism, from_savepoint=from_savepoint
        )
        log.info(
            "submitted %s as %s (parallelism %s, from savepoint %s)",
            config.job_name,
            job_id,
            parallelism or "default",
            from_savepoint,
        )
        if wait_running_s is not None:
            self.client.wait_until_running(job_id, timeout_s=wait_running_s)
        if from_savepoint:
            self._mark_resumed(config.job_name, from_savepoint, job_id)
        return job_id

    def status(self, job_name: str = DEFAULT_JOB_NAME) -> ScoringJobStatus:
        status = ScoringJobStatus(job_name=job_name, last_savepoint=self.last_savepoint(job_name))
        jobs = self.jobs_named(job_name)
        if not jobs:
            return status
        active = [j for j in jobs if j.get("state") in ACTIVE_STATES]
        current = (active or jobs)[0]
        status.others = [
            {"job_id": j["jid"], "state": j["state"]} for j in jobs if j is not current
        ]
        status.job_id, status.state = current["jid"], current["state"]
        status.start_time = (current.get("start-time") or 0) / 1000 or None
        detail = self.client.job(status.job_id)
        vertices = detail.get("vertices", [])
        status.parallelism = max((v.get("parallelism", 0) for v in vertices), default=None)
        try:
            status.restarts = self.restarts(status.job_id)
            cps = self.checkpoints(status.job_id)
        except FlinkError as exc:  # a finished job may have no metrics left
            log.debug("no checkpoint details for %s: %s", status.job_id, exc)
            return status
        status.checkpoints = dict(cps.get("counts", {}))
        latest = cps.get("latest") or {}
        completed = latest.get("completed")
        if completed:
            status.last_checkpoint = {
                "id": completed.get("id"),
                "path": completed.get("external_path"),
                "at": (completed.get("latest_ack_timestamp") or 0) / 1000 or None,
                "size": completed.get("state_size") or completed.get("checkpointed_size"),
            }
        restored = latest.get("restored")
        if restored:
            status.restored = {
                "id": restored.get("id"),
                "path": restored.get("external_path"),
                "is_savepoint": bool(restored.get("is_savepoint")),
            }
        savepoint = latest.get("savepoint")
        if savepoint and savepoint.get("external_path"):
            at = (savepoint.get("latest_ack_timestamp") or 0) / 1000 or None
            known = status.last_savepoint
            if not known or (at or 0) > known.get("at", 0):
                status.last_savepoint = {
                    "path": savepoint["external_path"],
                    "at": at,
                    "job_id": status.job_id,
                }
        return status

    def stop(
        self,
        job_name: str = DEFAULT_JOB_NAME,
        *,
        savepoint: bool = False,
        target: str | None = None,
        timeout_s: float = 180.0,
    ) -> StopResult:
        """Stop every active job of that name: with a savepoint (remembered, and returned), or
        by cancelling (the Kafka offsets of the last checkpoint stay committed)."""
        active = self.active_jobs(job_name)
        path: str | None = None
        for job in active:
            job_id = job["jid"]
            if savepoint:
                path = self.client.stop_with_savepoint(job_id, target, timeout_s=timeout_s)
                self._remember_savepoint(job_name, job_id, path)
                log.info("stopped %s with savepoint %s", job_id, path)
            else:
                self.client.cancel(job_id)
                self.client.wait_for_state(job_id, {"CANCELED"}, timeout_s=timeout_s)
                log.info("cancelled %s", job_id)
        return StopResult([j["jid"] for j in active], path)
