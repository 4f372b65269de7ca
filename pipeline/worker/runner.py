"""Assemble and run one worker process (the ``harness worker`` command)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket

from pipeline.events.emitter import EventEmitter
from pipeline.kafka.aio import AsyncProducer
from pipeline.kafka.clients import make_consumer, make_producer, scoped_group_id
from pipeline.kafka.health import HealthServer, Heartbeat
from pipeline.kafka.settings import KafkaSettings
from pipeline.kafka.signals import install_async_stop_handlers
from pipeline.llm.settings import LLMSettings
from pipeline.topics import TopicCatalog, load_topics
from pipeline.worker.llm_pool import LLMEndpoints, LLMPool
from pipeline.worker.policies import PolicyCache
from pipeline.worker.processor import RecordProcessor
from pipeline.worker.routing import RoutingConfig
from pipeline.worker.service import WorkerService
from pipeline.worker.settings import WorkerSettings

log = logging.getLogger(__name__)


def routing_defaults(settings: WorkerSettings) -> RoutingConfig:
    return RoutingConfig(
        in_worker_max_attempts=settings.in_worker_max_attempts,
        in_worker_max_delay_s=settings.in_worker_max_delay_s,
        max_deferrals=settings.max_deferrals,
        max_quota_deferrals=settings.max_quota_deferrals,
        quota_delay_s=settings.quota_delay_s,
    )


async def serve_worker(
    stop: asyncio.Event, *, index: int = 0, settings: WorkerSettings | None = None,
    kafka: KafkaSettings | None = None, llm: LLMSettings | None = None,
    topics: TopicCatalog | None = None, health_port: int | None = None,
) -> None:
    """Run one worker in the running event loop until ``stop`` is set."""
    settings = settings or WorkerSettings()
    kafka = kafka or KafkaSettings()
    topics = topics or load_topics()
    worker_id = f"{socket.gethostname()}-{index}-{os.getpid()}"
    client_id = f"worker-{index}"
    heartbeat = Heartbeat(f"worker-{index}")
    if health_port is not None:
        port = health_port
    else:
        port = settings.health_port + index if settings.health_port else 0
    group_id = scoped_group_id(settings.group_id, topics.prefix)
    overrides = {}
    if settings.static_membership:
        overrides["group.instance.id"] = f"{group_id}-{index}"
    emitter = EventEmitter.create(kafka, topics.events.name, stage="worker")
    def make_pool(llm_settings: LLMSettings) -> LLMPool:
        return LLMPool.create(llm_settings, concurrency=settings.concurrency,
                              connections_per_client=settings.connections_per_client,
                              http=settings.llm_http)

    async with LLMEndpoints(llm or LLMSettings(), make_pool) as client:
        processor = RecordProcessor(
            client, PolicyCache(routing_defaults(settings), seed=worker_id), topics, emitter,
            concurrency=settings.concurrency, worker_id=worker_id, allowlist=client.allowlist,
        )
        producer = AsyncProducer(make_producer(kafka, client_id)).start()
        consumer = make_consumer(kafka, group_id, client_id, **overrides)
        service = WorkerService(consumer, producer, processor, topics, emitter,
                                settings=settings, heartbeat=heartbeat)
        with HealthServer(heartbeat, host=settings.health_host, port=port):
            await service.run(stop)


def run_worker(index: int = 0, **kwargs: object) -> None:
    """Blocking: a worker with SIGTERM/SIGINT handlers, on uvloop when installed."""

    async def main() -> None:
        stop = asyncio.Event()
        install_async_stop_handlers(stop)
        await serve_worker(stop, index=index, **kwargs)  # type: ignore[arg-type]

    for noisy in ("httpx", "httpx2", "httpcore", "httpcore2"):
        logging.getLogger(noisy).setLevel(logging.WARNING)  # one INFO line per LLM request
    try:
        import uvloop
    except ImportError:  # optional speed-up
        asyncio.run(main())
    else:
        uvloop.run(main())
