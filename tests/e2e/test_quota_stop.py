"""An experiment whose LLM quota runs out mid-run stops sending early (DESIGN.md §5): the runner's
steps on the real stack (PostgreSQL, Kafka, the simulator with its ``quota_out`` profile, the
workers and the event sink), the stop decided from the workers' telemetry in PostgreSQL."""

from __future__ import annotations

import time
import uuid

from experiments import runner
from experiments import spec as spec_module
from pipeline.llm.settings import LLMSettings
from pipeline.llm.sim.runner import SimulatorAdmin

RATE, DURATION_S, THRESHOLD = 5, 40, 5


def test_quota_errors_stop_the_load_early(endpoints) -> None:
    spec = spec_module.apply_overrides(spec_module.load(spec_module.SPECS_DIR / "demo.yaml"), [
        "name=quota-stop", "arrival.kind=constant", f"arrival.rate={RATE}",
        f"arrival.duration_s={DURATION_S}", "dataset.size=400", "dataset.repeat_share=0",
        "llm.profile=quota_out", f"llm.stop_after_quota_errors={THRESHOLD}",
    ])
    handle = runner.register(spec, label=f"quota-stop-{uuid.uuid4().hex[:8]}")
    try:
        runner.configure_llm(spec)  # quota_out: the quota runs out 10 s after this
        started = time.monotonic()
        runner.generate(handle, spec)
        elapsed = time.monotonic() - started
    finally:
        SimulatorAdmin(LLMSettings().base_url.removesuffix("/v1")).set_profile({"name": "healthy"})
    load = handle.load[0]
    assert load["stopped_early"], load
    assert load["stop_reason"].startswith("quota_exhausted: ") and "stop_after_quota_errors" in load["stop_reason"]
    planned = RATE * DURATION_S
    assert load["sent"] < planned * 0.6, f"sent {load['sent']} of {planned} planned"
    assert elapsed < DURATION_S * 0.75, f"the load ran {elapsed:.0f} s of its {DURATION_S} s"
    count = runner.count_quota_errors_in(runner._db())
    assert count(handle.experiment_ids[0]) >= THRESHOLD
