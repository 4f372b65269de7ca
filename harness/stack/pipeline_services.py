"""The pipeline's own services under the stack's supervisor (``harness up``, phase 3).

``services`` lists them: the LLM simulator, ``HARNESS_WORKER_COUNT`` workers, the retry relay,
the storage service and the event sink, each probed on its ``GET /health``.
``harness.stack.pipeline_prepare`` runs before they start (topics and migrations).
``as_deployed`` is the same list as a deployment runs it (docs/compose.md): the workers, which
it scales, as one ``workers`` row probed through their consumer group.
The worker fleet an experiment asks for (``write_fleet``) overrides the settings' count and
concurrency at the next ``harness up``.

A stack concern that knows the pipeline's settings: it lives here, above ``pipeline``, so that
``pipeline`` never imports the stack (the layers contract in pyproject.toml).
"""

from __future__ import annotations

import json
from pathlib import Path

from foundation.layout import Layout
from foundation.settings import StackSettings
from harness.stack import probes
from harness.stack.endpoints import Endpoints
from harness.stack.service import Service
from pipeline.events.settings import EventSinkSettings
from pipeline.llm.sim.settings import SimulatorSettings
from pipeline.relay.settings import RelaySettings
from pipeline.storage.settings import StorageSettings
from pipeline.worker.settings import WorkerSettings

PHASE = 3
GROUP = "pipeline"
#: the supervised workers are worker-0, worker-1, ...
WORKER_PREFIX = "worker-"
#: a deployment's worker fleet, one row (see :func:`fleet_service`)
FLEET = "workers"


def _service(name: str, layout: Layout, args: list[str], host: str, port: int,
             endpoints: Endpoints, *, stop_wait_s: int = 30) -> Service:
    url = f"http://{host}:{port}"
    return Service(
        name=name,
        command=[str(layout.venv / "bin" / "harness"), *args],
        url=url,
        probe=probes.http_ok(f"{url}/health"),
        phase=PHASE,
        env=endpoints.service_env(),
        stop_wait_s=stop_wait_s,
        group=GROUP,
    )


def fleet_file(layout: Layout) -> Path:
    """The worker fleet an experiment asked for (count, concurrency); absent = the settings'."""
    return layout.conf / "fleet.json"


def read_fleet(layout: Layout) -> dict[str, int]:
    try:
        return {k: int(v) for k, v in json.loads(fleet_file(layout).read_text()).items()}
    except FileNotFoundError:
        return {}


def write_fleet(layout: Layout, count: int, concurrency: int) -> bool:
    """Record the fleet for the next `harness up`; True when it changed."""
    wanted = {"count": int(count), "concurrency": int(concurrency)}
    if read_fleet(layout) == wanted:
        return False
    fleet_file(layout).parent.mkdir(parents=True, exist_ok=True)
    fleet_file(layout).write_text(json.dumps(wanted))
    return True


def services(settings: StackSettings, layout: Layout, endpoints: Endpoints) -> list[Service]:
    sim = SimulatorSettings()
    worker = WorkerSettings()
    fleet = read_fleet(layout)
    worker_env = dict(endpoints.service_env())
    if "concurrency" in fleet:
        worker_env["HARNESS_WORKER_CONCURRENCY"] = str(fleet["concurrency"])
    relay, storage, sink = RelaySettings(), StorageSettings(), EventSinkSettings()
    out = [
        _service("llm-simulator", layout, ["sim"], sim.host, sim.port, endpoints, stop_wait_s=10),
        _service("retry-relay", layout, ["relay"], relay.health_host, relay.health_port, endpoints),
        _service("storage", layout, ["storage"], storage.health_host, storage.health_port,
                 endpoints),
        _service("events-sink", layout, ["events-sink"], sink.health_host, sink.health_port,
                 endpoints),
    ]
    for i in range(fleet.get("count", worker.count)):
        service = _service(
            f"{WORKER_PREFIX}{i}", layout, ["worker", "--index", str(i)], worker.health_host,
            worker.health_port + i, endpoints,
            stop_wait_s=int(worker.drain_timeout_s) + 15,  # SIGTERM drains in-flight work
        )
        service.env = worker_env
        out.append(service)
    return out



def fleet_service(endpoints: Endpoints) -> Service:
    """A deployment's LLM workers as one service, probed through their consumer group.

    The deployment scales them (``--scale workers=N``): its replicas share one container port,
    and no host port can be published per replica (a host port range is not portable: podman's
    Docker API refuses it, Compose v2 gives the whole range to the first replica), so the host
    cannot reach them one by one. Every worker is a member of the workers' consumer group, which
    the broker describes to whoever reaches it: healthy when the group has a member, with the
    count in the detail. Not supervised: there is nothing to start (no command).
    """
    from pipeline.kafka.clients import scoped_group_id  # deferred: the Kafka client library
    from pipeline.topics import TopicSettings

    group = scoped_group_id(WorkerSettings().group_id, TopicSettings().prefix)
    bootstrap = endpoints.kafka_bootstrap
    return Service(
        name=FLEET,
        command=[],
        url=f"kafka://{bootstrap} group {group}",
        probe=probes.consumer_group(bootstrap, group),
        phase=PHASE,
        group=GROUP,
    )


def as_deployed(services: list[Service], endpoints: Endpoints) -> list[Service]:
    """SERVICES as a deployment runs them: the supervised workers (worker-0, worker-1, ...)
    replaced, where the first of them was, by the fleet (:func:`fleet_service`); every other
    service as it is, probed at its health address (published by the deployment)."""
    out: list[Service] = []
    for service in services:
        if service.group == GROUP and service.name.startswith(WORKER_PREFIX):
            if not any(s.name == FLEET for s in out):
                out.append(fleet_service(endpoints))
        else:
            out.append(service)
    return out
