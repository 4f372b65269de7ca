"""The simulator's ground-truth counters for one run: a snapshot before, one after, the delta.

``GET /admin/counters`` returns totals since the simulator started (or since its counters were
last reset)::

    {"since": 1718000000.0, "total": 120, "by_outcome": {"ok": 100, "rate_limited": 20},
     "by_status": {"200": 100, "429": 20}, "prompt_tokens": ..., "completion_tokens": ...,
     "in_flight": 0, "max_in_flight": 12, "profile": "flaky"}

:func:`counter_delta` flattens two snapshots to the names the metrics read (``requests``,
``status_429``, ``status_5xx``, ``status_<code>``, ``outcome_<name>``, ``prompt_tokens``,
``completion_tokens``) and subtracts. The gauges (``in_flight``, ``max_in_flight``) are not
run deltas and are left out.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.llm.sim.runner import SimulatorAdmin

log = logging.getLogger(__name__)


def snapshot_sim_counters(base_url: str, *, timeout_s: float = 5.0,
                          admin: SimulatorAdmin | None = None) -> dict[str, Any]:
    """The simulator's counters now (``base_url`` with or without ``/v1``)."""
    if admin is None:
        from pipeline.llm.sim.runner import SimulatorAdmin  # aiohttp: only when asked

        admin = SimulatorAdmin(base_url, timeout_s=timeout_s)
    return admin.counters()


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def flatten_counters(snapshot: Mapping[str, Any]) -> dict[str, float]:
    """A counters snapshot -> flat cumulative counts under the metrics' names."""
    out: dict[str, float] = {"requests": _number(snapshot.get("total"))}
    by_status = snapshot.get("by_status") or {}
    status_5xx = 0.0
    for code, n in by_status.items():
        out[f"status_{code}"] = _number(n)
        if str(code).startswith("5"):
            status_5xx += _number(n)
    out.setdefault("status_429", 0.0)
    out["status_5xx"] = status_5xx
    for outcome, n in (snapshot.get("by_outcome") or {}).items():
        out[f"outcome_{outcome}"] = _number(n)
    for key in ("prompt_tokens", "completion_tokens"):
        if key in snapshot:
            out[key] = _number(snapshot[key])
    return out


def counter_delta(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> dict[str, float]:
    """What the simulator counted between two snapshots (``RunData.sim_counters``).

    With no ``before``, or when the counters were reset in between (``since`` moved), the delta is
    everything ``after`` counted since that reset (a warning says so when it was a reset).
    """
    end = flatten_counters(after)
    if before is None:
        return end
    if before.get("since") != after.get("since"):
        log.warning("the simulator's counters were reset during the run (since %s -> %s); "
                    "the delta counts from the reset", before.get("since"), after.get("since"))
        return end
    start = flatten_counters(before)
    return {key: value - start.get(key, 0.0) for key, value in end.items()}
