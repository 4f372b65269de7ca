"""A run whose LLM quota runs out stops sending early (docs/errors-and-retries.md#quota-exhaustion): the runner's
steps on the real stack (PostgreSQL, Kafka, the simulator with its ``quota_out`` profile, the
workers and the event sink), the stop decided from the workers' telemetry in PostgreSQL.

Nothing here depends on how fast the machine is: the quota runs out after a number of requests
(not seconds), and the planned load is long enough that a slow stop still ends it well before
half of it was sent.
"""

from __future__ import annotations

import time
import uuid

from experiments import runner
from experiments import spec as spec_module
from pipeline.llm.settings import LLMSettings
from pipeline.llm.sim.runner import SimulatorAdmin

RATE, DURATION_S, THRESHOLD = 5, 120, 5
QUOTA_REQUESTS = 20
"""The simulator answers this many requests, then only 429 insufficient_quota (about 4 s of load)."""


def test_quota_errors_stop_the_load_early(endpoints) -> None:
    planned = RATE * DURATION_S
    spec = spec_module.apply_overrides(spec_module.load(spec_module.SPECS_DIR / "demo.yaml"), [
        "name=quota-stop", "arrival.kind=constant", f"arrival.rate={RATE}",
        f"arrival.duration_s={DURATION_S}", f"dataset.size={planned}", "dataset.repeat_share=0",
        "llm.profile=quota_out", f"llm.stop_after_quota_errors={THRESHOLD}",
    ])
    admin = SimulatorAdmin(LLMSettings().base_url.removesuffix("/v1"))
    handle = runner.register(spec, label=f"quota-stop-{uuid.uuid4().hex[:8]}")
    try:
        runner.configure_llm(spec)  # the runner's step: the seeded quota_out profile
        # ... whose quota then runs out after QUOTA_REQUESTS requests rather than after 10 s
        admin.set_profile({"name": "quota_out", "seed": int(spec["seed"]),
                           "quota_windows": [{"after_requests": QUOTA_REQUESTS}]})
        before = admin.counters()["by_outcome"]
        started = time.monotonic()
        runner.generate(handle, spec)
        elapsed = time.monotonic() - started
        after = admin.counters()["by_outcome"]
    finally:
        admin.set_profile({"name": "healthy"})
    load = handle.load[0]
    assert load["stopped_early"], load
    assert load["stop_reason"].startswith("quota_exhausted: ") and "stop_after_quota_errors" in load["stop_reason"]
    assert load["sent"] < planned * 0.5, f"sent {load['sent']} of {planned} planned"
    assert elapsed < DURATION_S * 0.5, f"the load ran {elapsed:.0f} s of its {DURATION_S} s"
    # the simulator's ground truth: at most QUOTA_REQUESTS answers, then quota errors
    assert after.get("ok", 0) - before.get("ok", 0) <= QUOTA_REQUESTS
    assert after.get("insufficient_quota", 0) - before.get("insufficient_quota", 0) >= THRESHOLD
    count = runner.count_quota_errors_in(runner._db())
    assert count(handle.experiment_ids[0]) >= THRESHOLD
