"""Retry policies built from the specs records carry, cached per experiment and spec.

A record names its experiment's retry policy inline (``Envelope.policy.retry``), so workers need
no restart between experiments. Records of one experiment share one built policy in a process,
so its guards (retry budget, throttle, circuit breaker, concurrency limiter, client rate limit)
see every call of that experiment, as they are meant to.

The spec may also carry the worker's routing knobs (:class:`RoutingConfig` field names, e.g.
``max_quota_deferrals``); they are taken out before the rest goes to ``build_policy``.
"""

from __future__ import annotations

import json
import random
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from pipeline.messages import ExperimentPolicy
from pipeline.retry.clock import Clock, monotonic
from pipeline.retry.policy import RetryPolicy
from pipeline.retry.spec import build_policy
from pipeline.worker.routing import RoutingConfig


@dataclass(frozen=True)
class ResolvedPolicy:
    retry: RetryPolicy
    routing: RoutingConfig

    @property
    def obey_retry_after(self) -> bool:
        spec = self.retry.spec or {}
        return spec.get("retry_after", "obey") != "ignore"


def split_spec(spec: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(retry-policy spec, routing overrides)."""
    keys = RoutingConfig.keys()
    return ({k: v for k, v in spec.items() if k not in keys},
            {k: v for k, v in spec.items() if k in keys})


class PolicyCache:
    """LRU of built policies keyed by (experiment, canonical spec)."""

    def __init__(self, defaults: RoutingConfig, *, seed: str = "", max_entries: int = 128,
                 clock: Clock = monotonic) -> None:
        self.defaults = defaults
        self.clock = clock
        """The clock of the policies' guards (breaker, budget, rate limit); injected by tests."""
        self.seed = seed
        self.max_entries = max_entries
        self._cache: OrderedDict[tuple[str, str], ResolvedPolicy] = OrderedDict()

    def get(self, experiment_id: str, policy: ExperimentPolicy) -> ResolvedPolicy:
        """The policy of a record; raises ``PolicySpecError`` / ``ValueError`` for a bad spec."""
        key = (experiment_id, json.dumps(policy.retry, sort_keys=True, default=str))
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        retry_spec, routing = split_spec(policy.retry)
        resolved = ResolvedPolicy(
            build_policy(retry_spec, rng=random.Random(f"{experiment_id}:{self.seed}"),
                         clock=self.clock),
            self.defaults.with_overrides(routing),
        )
        self._cache[key] = resolved
        if len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)
        return resolved
