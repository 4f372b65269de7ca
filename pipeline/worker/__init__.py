"""The asynchronous LLM worker: qa.questions -> the LLM (with the record's retry policy) ->
qa.answers, a retry tier, or qa.dlq (docs/errors-and-retries.md#routing)."""

from pipeline.worker.routing import Action, Route, RoutingConfig, route_failure
from pipeline.worker.settings import WorkerSettings

__all__ = ["Action", "Route", "RoutingConfig", "WorkerSettings", "route_failure"]
