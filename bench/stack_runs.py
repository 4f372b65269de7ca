"""One benchmark experiment on the running pipeline, through the experiment runner's steps (as
the `experiment` DAG takes them: register, start the detached load process, wait for the drain,
finish with the report), with the stack's CPU sampled around it.

The load process (``python -m experiments.loader``) is a child of this script, so its CPU time
comes exactly from ``wait4`` when it exits (after sending the load, before the drain ends). The
stack's CPU is sampled just before the load starts and when the run has drained, before the report
step (whose queries would add to PostgreSQL's share).
"""

from __future__ import annotations

import csv
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import procstat
import stack_sample

from experiments import runner
from experiments import spec as spec_module
from harness import pipeline

LOADER = "load generator"


def bench_spec(name: str, *, profile: str, rate: float, duration_s: float, warmup_s: float = 5.0,
               workers: int = 1, concurrency: int = 64) -> dict[str, Any]:
    """A constant-rate, fresh-questions experiment with the lexical scorer and neither retries
    nor regenerations: every question is one LLM call, so the pipeline's own cost is what is left
    of the end-to-end time. The pool holds one fresh question per arrival."""
    size = int(rate * duration_s) + 1
    spec = spec_module.load(spec_module.SPECS_DIR / "demo.yaml")
    return spec_module.validate(spec_module.apply_overrides(spec, [
        f"name={name}", "arrival.kind=constant", f"arrival.rate={rate}",
        f"arrival.duration_s={duration_s}", f"dataset.size={size}", "dataset.repeat_share=0",
        f"llm.profile={profile}", "retry.max_attempts=1", "scoring.scorer=lexical",
        "scoring.threshold=0", "scoring.max_rounds=0", f"warmup_s={warmup_s}",
        "drain_timeout_s=900", "slo_s=0", f"workers.count={workers}",
        f"workers.concurrency={concurrency}",
    ]))


@dataclass
class Measured:
    """What one run left: its report's figures and, when sampled, the CPU it cost."""

    label: str
    report_dir: Path
    status: str
    metrics: dict[str, Any]
    questions: list[dict[str, str]]
    wall_s: float = 0.0  # from the load's start to the end of the drain
    cpu_s: dict[str, float] = field(default_factory=dict)  # service -> CPU seconds in wall_s

    def latency(self, name: str) -> dict[str, Any]:
        """A latency summary of metrics.json (e2e, producer_send, llm_per_question, ...)."""
        return dict(self.metrics.get("latency", {}).get(name) or {})

    def hop(self, part: str) -> dict[str, Any]:
        """One waterfall part's summary (producer_send, queue_wait, llm, scoring, storage, ...)."""
        parts = self.metrics.get("latency", {}).get("waterfall", {}).get("by_part", {})
        return dict(parts.get(part) or {})

    def answered_pairs(self) -> list[tuple[float, float]]:
        """(e2e_s, llm_s) of every steady question answered through the LLM."""
        return [(float(q["e2e_s"]), float(q["llm_s"])) for q in self.questions
                if q.get("steady") == "True" and q.get("cache_hit") == "False"
                and q.get("state") in ("accepted", "low_quality") and q.get("e2e_s")
                and q.get("llm_s")]

    @property
    def question_count(self) -> int:
        return int(self.metrics.get("counts", {}).get("questions", 0))


def ensure(spec: dict[str, Any]) -> None:
    """The pipeline the spec asks for (topics, services, the worker fleet, the scoring job), as
    `harness run` does first."""
    pipeline.ensure_pipeline(workers=spec["workers"]["count"],
                             concurrency=spec["workers"]["concurrency"])


def _loader_cpu_s(pid: int) -> float | None:
    """Wait for the load process (our child) to exit; its CPU seconds, None if not ours to wait."""
    try:
        _, _, usage = os.wait4(pid, 0)
    except ChildProcessError:
        return None
    return usage.ru_utime + usage.ru_stime


def run(spec: dict[str, Any], *, sample_cpu: bool = False, progress: bool = True) -> Measured:
    """Run SPEC through the runner's steps on the running pipeline and read its report."""
    label = f"{spec['name']}-{uuid.uuid4().hex[:6]}"
    runner.register(spec, label)
    before = stack_sample.find().ticks() if sample_cpu else {}
    started = time.monotonic()
    load = runner.start_load(label)
    loader_s = _loader_cpu_s(int(load["loader_pid"])) if load.get("loader_pid") else None
    verdict = runner.wait_for_run(label, progress=print if progress else None)
    wall = time.monotonic() - started
    cpu: dict[str, float] = {}
    if sample_cpu:
        cpu = procstat.cpu_delta_s(before, stack_sample.find().ticks())
        if loader_s is not None:
            cpu[LOADER] = loader_s
    report = Path(runner.finish(label, verdict.as_dict()))
    row = runner.run_status(label)
    metrics = json.loads((report / "metrics.json").read_text())
    with open(report / "questions.csv", newline="") as f:
        questions = list(csv.DictReader(f))
    return Measured(label, report, row.status if row else "?", metrics, questions, wall, cpu)


def idle_cpu_per_s(seconds: float) -> dict[str, float]:
    """Each service's CPU seconds per second while nothing is sent (SECONDS of measurement)."""
    before = stack_sample.find().ticks()
    t0 = time.monotonic()
    time.sleep(seconds)  # the measurement window itself, not a wait for readiness
    after = stack_sample.find().ticks()
    elapsed = time.monotonic() - t0
    return {k: v / elapsed for k, v in procstat.cpu_delta_s(before, after).items()}


def warm_up(seconds: float, *, rate: float = 150.0, workers: int = 1,
            concurrency: int = 64) -> Measured | None:
    """An unmeasured load of SECONDS at RATE before the measured runs (none when SECONDS is 0).

    A stack just started runs its JVMs' code interpreted until the JIT has compiled it, and the
    first run submits the scoring job: on this 2-core machine the first 300/s load after
    `harness up` answered 19-87/s where the same load on a warm stack answered 178-245/s.
    The warm-up's report stays in reports/ like any run's."""
    if seconds <= 0:
        return None
    spec = bench_spec("bench-warm-up", profile="instant", rate=rate, duration_s=seconds,
                      warmup_s=0, workers=workers, concurrency=concurrency)
    ensure(spec)
    print(f"== warm-up: {rate:g}/s for {seconds:g} s (not measured)", flush=True)
    return run(spec, progress=False)

