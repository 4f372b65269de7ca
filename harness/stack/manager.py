"""`harness up | down | status | logs`: the local stack's lifecycle."""

from __future__ import annotations

import fcntl
import json
import logging
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from foundation.layout import Layout
from foundation.settings import StackSettings, get_settings
from harness.stack import configs, marks, prepare, probes
from harness.stack.airflow_env import airflow_env, connections, write_passwords_file
from harness.stack.endpoints import Endpoints, resolve, write_services_env
from harness.stack.procs import alive, cmdline, descendants, matching, terminate
from harness.stack.service import Service
from harness.stack.services import all_services
from harness.stack.supervisor import Supervisor, write_config

log = logging.getLogger(__name__)

AIRFLOW_PHASE = 2
#: the secret holding the Airflow admin password (see harness.stack.endpoints)
AIRFLOW_PASSWORD_SECRET = "airflow_admin_password"
#: services only the local stack has (its own Airflow log server), not a deployment
LOCAL_ONLY = frozenset({"airflow-log-server"})


@dataclass
class ServiceStatus:
    name: str
    url: str
    healthy: bool
    state: str
    pid: int | None
    uptime_s: float | None
    restarts: int
    detail: str


class Stack:
    def __init__(self, settings: StackSettings | None = None) -> None:
        self.settings = settings or get_settings()
        self.layout = Layout.of(self.settings)
        self.supervisor = Supervisor(self.layout)

    # -- helpers ---------------------------------------------------------------------------
    def endpoints(self) -> Endpoints:
        return resolve(self.settings, self.layout)

    def services(self, endpoints: Endpoints | None = None) -> list[Service]:
        return all_services(self.settings, self.layout, endpoints or self.endpoints())

    def _wait_ready(self, service: Service, deadline_s: float) -> None:
        """Probe SERVICE until ready; fail fast, with its log tail, when supervisor gives up on it."""
        def probe() -> probes.ProbeResult:
            info = {i["name"]: i for i in self.supervisor.infos()}.get(service.name)
            if info and info["statename"] in ("FATAL", "EXITED", "STOPPED"):
                raise RuntimeError(f"{service.name} is {info['statename']}; last log lines:\n"
                                   + self.tail(service.name, 30))
            return service.probe()

        started = time.monotonic()
        result = probes.wait_until(service.name, probe, deadline_s)
        log.info("%-22s ready in %5.1f s (%s)", service.name, time.monotonic() - started, result.detail)

    def tail(self, name: str, lines: int = 50) -> str:
        path = self.layout.logs / f"{name}.log"
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return f"(no log at {path})"

    # -- up --------------------------------------------------------------------------------
    def up(self, with_pipeline: bool = True) -> Endpoints:
        """Start what is not running and wait until everything is ready (idempotent).

        Concurrent callers (a shell, an Airflow task, a test session) take turns on a file lock.
        """
        self.layout.run.mkdir(parents=True, exist_ok=True)
        with open(self.layout.run / "up.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                return self._up(with_pipeline)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _up(self, with_pipeline: bool) -> Endpoints:
        settings, layout = self.settings, self.layout
        t0 = time.monotonic()
        prepare.check_bootstrapped(layout)
        layout.ensure_dirs()
        endpoints = self.endpoints()
        write_services_env(endpoints, layout)
        write_passwords_file(layout, endpoints)
        if settings.local_kafka:
            configs.kafka_server_properties(settings, layout)
            prepare.format_kafka(settings, layout)
        if settings.local_flink:
            configs.flink_conf(settings, layout)
            for stale in layout.run.glob("flink-*.pid"):
                stale.unlink()
        if settings.local_postgres:
            prepare.init_postgres(layout)

        services = self.services(endpoints)
        if not with_pipeline:
            services = [s for s in services if s.group == "infra"]
        write_config(layout, services)
        if self.supervisor.running():
            self.supervisor.reload()
        else:
            self.supervisor.start_daemon()

        env = airflow_env(settings, layout, endpoints)
        deadline = settings.ready_timeout_s
        for phase in sorted({s.phase for s in services}):
            batch = [s for s in services if s.phase == phase]
            if phase == AIRFLOW_PHASE:
                if settings.local_postgres:
                    prepare.ensure_databases(settings, layout, endpoints)
                prepare.migrate_airflow(layout, env)
            if batch and batch[0].group == "pipeline":
                _prepare_pipeline(endpoints)
            for service in batch:
                self.supervisor.start(service.name)
            for service in batch:
                self._wait_ready(service, deadline)
            if phase == AIRFLOW_PHASE:
                prepare.create_connections(layout, env, connections(endpoints))
        log.info("stack up in %.1f s", time.monotonic() - t0)
        return endpoints

    # -- down ------------------------------------------------------------------------------
    def down(self) -> list[str]:
        """Stop every service and supervisord; then end every process the stack started.

        Besides what is below supervisord when `down` starts, that is every process carrying the
        stack's mark (harness.stack.marks), including those re-parented to init: a TaskManager's
        orphaned PyFlink workers, an `airflow serve-logs` that outlived its scheduler, leftovers of
        an earlier stack in the same state folder. They get SIGTERM, then SIGKILL at a deadline.
        Returns the command lines of processes that survived even that (empty when all went away).
        """
        mark = marks.stack_id(self.layout)
        pid = self.supervisor.pid()
        ours: set[int] = set()
        sessions: set[int] = set()
        if pid is None:
            log.info("supervisord is not running")
        else:
            ours = descendants(pid)
            if marks.session(pid) == pid:  # supervisord daemonizes into a session of its own
                sessions = {pid}
            self.supervisor.shutdown()
        # A TaskManager killed by a crash leaves its PyFlink Python workers behind, re-parented
        # to init: no longer below supervisord, but ours all the same (our Flink environment).
        orphans = matching(str(self.layout.flink_venv), "pyflink.fn_execution")
        left = alive(ours) | orphans | marks.marked(mark, sessions=sessions)
        if left:
            log.warning("%d process(es) outlived their service; terminating them: %s", len(left),
                        "; ".join(f"{p} {cmdline(p)[:80]}" for p in sorted(left)))
            left = terminate(left)
        return [cmdline(p) for p in left]

    # -- status ----------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        endpoints = self.endpoints()
        infos: dict[str, dict[str, Any]] = {}
        restarts: dict[str, int] = {}
        supervised = self.supervisor.running()
        if supervised:
            infos = {i["name"]: i for i in self.supervisor.infos()}
            restarts = self.supervisor.restarts()
        # No local stack, every infrastructure service external: a deployment runs the services
        # (docker-compose.yml), each probed where the settings say it answers, its workers as
        # one fleet (pipeline_services.as_deployed).
        deployed = not supervised and self.deployed_elsewhere()
        rows: list[ServiceStatus] = []
        services = self.deployed_services(endpoints) if deployed else self.services(endpoints)
        for service in services:
            info = infos.get(service.name)
            state = info["statename"] if info else ("DEPLOYED" if deployed else "NOT RUNNING")
            result = (service.probe() if state in ("RUNNING", "DEPLOYED")
                      else probes.ProbeResult(False, state.lower()))
            rows.append(ServiceStatus(
                name=service.name, url=service.url, healthy=result.ok, state=state,
                pid=(info or {}).get("pid") or None,
                uptime_s=(info["now"] - info["start"]) if info and state == "RUNNING" else None,
                restarts=max(0, restarts.get(service.name, 0)), detail=result.detail,
            ))
        return {
            "services": [asdict(row) for row in rows],
            # where the password is kept, never the password itself: status is printed and logged
            "airflow": {"url": endpoints.airflow_url, "username": endpoints.airflow_user,
                        "password_file": str(self.airflow_password_file())},
        }

    def deployed_services(self, endpoints: Endpoints | None = None) -> list[Service]:
        """The services a deployment runs, as :meth:`status` probes them: without the local
        stack's own (:data:`LOCAL_ONLY`), the workers as one fleet probed through their consumer
        group (:func:`harness.stack.pipeline_services.as_deployed`)."""
        from harness.stack.pipeline_services import as_deployed  # deferred as in all_services

        endpoints = endpoints or self.endpoints()
        services = [s for s in self.services(endpoints) if s.name not in LOCAL_ONLY]
        return as_deployed(services, endpoints)

    def deployed_elsewhere(self) -> bool:
        """Every infrastructure service external (HARNESS_EXTERNAL_*): with no local stack
        running, the services are a deployment's (docs/compose.md), not ours to start."""
        s = self.settings
        return not (s.local_kafka or s.local_flink or s.local_postgres)

    def airflow_password_file(self) -> Path:
        """The file holding the Airflow admin password (mode 0600, made by the first `up`)."""
        return self.layout.secrets / AIRFLOW_PASSWORD_SECRET

    def logs(self, name: str, follow: bool, lines: int) -> int:
        path = self.layout.logs / f"{name}.log"
        if not path.exists():
            known = sorted(p.stem for p in self.layout.logs.glob("*.log"))
            raise FileNotFoundError(f"no log for {name!r}; known: {', '.join(known)}")
        command = ["tail", "-n", str(lines), *(["-F"] if follow else []), str(path)]
        return subprocess.call(command)


def _prepare_pipeline(endpoints: Endpoints) -> None:
    """Let the pipeline prepare what its services need (topics, schema) before they start."""
    from harness.stack.pipeline_prepare import prepare  # deferred: Kafka and PostgreSQL clients

    prepare(endpoints)


def format_status(status: dict[str, Any]) -> str:
    lines = [f"{'SERVICE':<24}{'STATE':<12}{'HEALTHY':<9}{'PID':<9}{'UPTIME':<10}{'RESTARTS':<10}URL"]
    for row in status["services"]:
        uptime = f"{row['uptime_s']:.0f}s" if row["uptime_s"] is not None else "-"
        lines.append(f"{row['name']:<24}{row['state']:<12}{'yes' if row['healthy'] else 'NO':<9}"
                     f"{row['pid'] or '-'!s:<9}{uptime:<10}{row['restarts']:<10}{row['url']}")
        if not row["healthy"] and row["detail"]:
            lines.append(f"{'':<24}-> {row['detail']}")
    airflow = status["airflow"]
    lines.append("")
    lines.append(airflow_login_line(airflow["url"], airflow["username"], airflow["password_file"]))
    return "\n".join(lines)


def airflow_login_line(url: str, username: str, password_file: str | Path) -> str:
    """Where to log in and where the password is kept (the password itself is never printed)."""
    return f"Airflow UI: {url}  login: {username} (password in {password_file})"


def status_json(status: dict[str, Any]) -> str:
    return json.dumps(status, indent=2)
