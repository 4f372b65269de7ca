"""An experiment with ``llm.backend: openai`` calls the endpoint its spec names, through the
running workers (no restart): here a second simulator process stands in for a real
OpenAI-compatible server. Its ground-truth counters see every call, the stack's own simulator
none, and the stored answers carry the spec's model."""

from __future__ import annotations

import uuid

from experiments import runner
from experiments import spec as spec_module
from harness.pipeline import ensure_pipeline
from pipeline.llm.settings import LLMSettings
from pipeline.llm.sim import SimulatorAdmin, SimulatorProcess

QUESTIONS = 30
#: the stand-in server's port: tests/conftest.py puts it on the workers' allowlist
#: (HARNESS_LLM_ALLOWED_BASE_URLS) before the test session starts the stack
OPENAI_STANDIN_PORT = 18001


def test_the_spec_endpoint_and_model_reach_the_workers(endpoints) -> None:
    own = SimulatorAdmin(LLMSettings().base_url.removesuffix("/v1"))
    with SimulatorProcess(profile="instant", port=OPENAI_STANDIN_PORT) as other:
        spec = spec_module.apply_overrides(spec_module.load(spec_module.SPECS_DIR / "demo.yaml"), [
            "name=openai-backend", "arrival.kind=constant", "arrival.rate=10",
            f"arrival.duration_s={QUESTIONS / 10}", f"dataset.size={QUESTIONS}",
            "dataset.repeat_share=0", "llm.backend=openai", f"llm.base_url={other.base_url}",
            "llm.model=llama-3-8b-instruct",
        ])
        # the runner's first step: topics, services and the scoring job, whatever ran before
        ensure_pipeline(workers=spec["workers"]["count"], concurrency=spec["workers"]["concurrency"])
        handle = runner.register(spec, label=f"openai-backend-{uuid.uuid4().hex[:8]}")
        assert runner.configure_llm(spec) == {}  # a real backend: no simulator to configure
        before = own.counters()["total"]
        runner.generate(handle, spec)
        experiment_id = handle.experiment_ids[0]
        runner.wait_until_drained(handle, experiment_id, timeout_s=120)
        served = SimulatorAdmin(other.url).counters()
    assert served["total"] >= QUESTIONS and served["by_outcome"].get("ok", 0) >= QUESTIONS
    assert own.counters()["total"] == before
    with runner._db() as db, db.conn().cursor() as cur:
        cur.execute("SELECT DISTINCT model FROM answers WHERE experiment_id = %s", (experiment_id,))
        assert [row[0] for row in cur.fetchall()] == ["llama-3-8b-instruct"]
