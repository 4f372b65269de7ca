"""Readiness probes. Each probe answers once, quickly; `wait_until` repeats it against a deadline
(through :func:`pipeline.waiting.wait_until`, the project's one poll loop).

Nothing here sleeps a fixed time to let a service start: it asks the service, and asks again after
a short, growing pause, until the service says it is ready or the deadline passes.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipeline import waiting

log = logging.getLogger(__name__)


@dataclass
class ProbeResult:
    ok: bool
    detail: str = ""


Probe = Callable[[], ProbeResult]


class NotReady(waiting.WaitTimeout):
    """A service did not become ready before its deadline."""


def wait_until(name: str, probe: Probe, timeout_s: float,
               clock: Callable[[], float] = time.monotonic,
               sleep: Callable[[float], None] = time.sleep) -> ProbeResult:
    """Probe until ready or until TIMEOUT_S has passed (then raise NotReady with the last answer)."""
    last = ProbeResult(False, "not probed")

    def check() -> ProbeResult | None:
        nonlocal last
        last = probe()
        return last if last.ok else None

    return waiting.wait_until(
        check, timeout_s, what=lambda: f"{name} not ready after {timeout_s:.0f} s: {last.detail}",
        error=NotReady, clock=clock, sleep=sleep)


def http_json(url: str, timeout: float = 3.0) -> object:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read().decode())


def kafka(bootstrap: str) -> Probe:
    """Ready when the broker answers a metadata request and lists at least one broker."""
    def probe() -> ProbeResult:
        from confluent_kafka.admin import AdminClient

        try:
            admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 2000,
                                 "logger": _quiet_kafka_logger()})
            metadata = admin.list_topics(timeout=2.0)
        except Exception as exc:
            return ProbeResult(False, f"metadata request failed: {exc}")
        if not metadata.brokers:
            return ProbeResult(False, "no broker in metadata")
        return ProbeResult(True, f"{len(metadata.brokers)} broker(s), {len(metadata.topics)} topic(s)")
    return probe


def consumer_group(bootstrap: str, group: str, *,
                   make_admin: Callable[[dict[str, Any]], Any] | None = None) -> Probe:
    """Healthy when consumer group GROUP has at least one member, as the broker describes it.

    For services that cannot be reached one by one (the replicas of a scaled deployment share one
    container port, and no host port can be published per replica) but each of which consumes in
    the group: a member has joined it and keeps polling (a consumer that stops polling leaves the
    group after ``max.poll.interval.ms``). The detail gives the members, the partitions assigned
    and the group's state. ``make_admin`` builds the AdminClient from its configuration (tests).
    """
    build = make_admin or _admin_client

    def probe() -> ProbeResult:
        try:
            admin = build({"bootstrap.servers": bootstrap, "socket.timeout.ms": 2000,
                           "logger": _quiet_kafka_logger()})
            described = admin.describe_consumer_groups([group], request_timeout=3.0)[group]
            description = described.result(timeout=5.0)
        except Exception as exc:  # the broker unreachable, the request timed out or refused
            return ProbeResult(False, f"group {group}: not described: {exc}")
        members = list(description.members or [])
        state = str(getattr(description.state, "name", description.state)).lower()
        if not members:
            return ProbeResult(False, f"group {group}: no member ({state})")
        partitions = sum(len(m.assignment.topic_partitions or []) for m in members
                         if m.assignment is not None)
        return ProbeResult(True, f"{len(members)} member(s) of group {group}, "
                                 f"{partitions} partition(s) assigned ({state})")
    return probe


def _admin_client(config: dict[str, Any]) -> Any:
    from confluent_kafka.admin import AdminClient

    return AdminClient(config)


def _quiet_kafka_logger() -> logging.Logger:
    quiet = logging.getLogger("harness.probes.kafka")
    quiet.setLevel(logging.CRITICAL)
    return quiet


def flink(rest_url: str) -> Probe:
    """Ready when /overview answers and at least one TaskManager is registered."""
    def probe() -> ProbeResult:
        try:
            overview = http_json(f"{rest_url}/overview")
        except (OSError, urllib.error.URLError, ValueError) as exc:
            return ProbeResult(False, f"/overview: {exc}")
        assert isinstance(overview, dict)
        taskmanagers = int(overview.get("taskmanagers", 0))
        if taskmanagers < 1:
            return ProbeResult(False, "no TaskManager registered")
        return ProbeResult(True, f"{taskmanagers} TaskManager(s), {overview.get('slots-total')} slots, "
                                 f"{overview.get('jobs-running')} job(s) running")
    return probe


def postgres(dsn: str) -> Probe:
    """Ready when a connection succeeds and answers SELECT 1 (what pg_isready checks, and more)."""
    def probe() -> ProbeResult:
        import psycopg2

        try:
            with psycopg2.connect(dsn, connect_timeout=2) as conn, conn.cursor() as cur:
                cur.execute("SELECT 1")
                cur.fetchone()
            conn.close()
            return ProbeResult(True, "accepts connections")
        except psycopg2.Error as exc:
            return ProbeResult(False, str(exc).strip().splitlines()[0] if str(exc).strip() else "error")
    return probe


def airflow(base_url: str) -> Probe:
    """Ready when /api/v2/monitor/health reports every component healthy."""
    components = ("metadatabase", "scheduler", "triggerer", "dag_processor")

    def probe() -> ProbeResult:
        try:
            health = http_json(f"{base_url}/api/v2/monitor/health")
        except (OSError, urllib.error.URLError, ValueError) as exc:
            return ProbeResult(False, f"/api/v2/monitor/health: {exc}")
        assert isinstance(health, dict)
        bad = [c for c in components if (health.get(c) or {}).get("status") != "healthy"]
        if bad:
            return ProbeResult(False, "not healthy yet: " + ", ".join(bad))
        return ProbeResult(True, "all components healthy")
    return probe


def http_ok(url: str) -> Probe:
    def probe() -> ProbeResult:
        try:
            with urllib.request.urlopen(url, timeout=2.0) as response:
                return ProbeResult(200 <= response.status < 300, f"HTTP {response.status}")
        except (OSError, urllib.error.URLError) as exc:
            return ProbeResult(False, f"{url}: {exc}")
    return probe
