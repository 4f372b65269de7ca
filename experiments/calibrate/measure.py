"""The measuring side of a calibration: run a :class:`Plan` against an OpenAI-compatible endpoint
through the project's own LLM client (:mod:`pipeline.llm`, one attempt per request, no retries)
and keep one :class:`Sample` per request.

The same function measures a real server and the simulator, so both go through the same client
code, connection pool and timing.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Iterator

from pydantic import SecretStr

from experiments.calibrate.plan import Plan, Step
from experiments.calibrate.samples import Sample, outcome_of
from pipeline.llm import LLMCallError
from pipeline.llm.base import ChatClient
from pipeline.llm.client import make_llm_client
from pipeline.llm.settings import LLMSettings

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


#: what goes as the bearer token to an endpoint the API key is not allowed to reach
NO_KEY = "sk-no-key"


def client_settings(base_url: str, model: str, plan: Plan) -> LLMSettings:
    """The client's settings for a calibration: no reference header (a real server ignores it and
    the simulator should answer without one too), a pool as large as the largest step.

    ``HARNESS_LLM_API_KEY`` goes only to a base URL its allowlist covers (``HARNESS_LLM_BASE_URL``
    and ``HARNESS_LLM_ALLOWED_BASE_URLS``, as for the workers); any other endpoint (a local
    llama.cpp server needs none) gets a placeholder."""
    env = LLMSettings()
    pool = max((s.concurrency for s in plan.steps), default=1)
    return LLMSettings(
        base_url=base_url, model=model, timeout_s=plan.timeout_s, send_reference=False,
        max_connections=max(pool, 1),
        api_key=env.api_key if env.allowlist().allows(base_url) else SecretStr(NO_KEY),
    )


async def _one(client: ChatClient, step: Step, prompt: str, timeout_s: float) -> Sample:
    try:
        completion = await client.complete(prompt, max_tokens=step.max_tokens, timeout_s=timeout_s)
    except LLMCallError as exc:
        attempt = exc.attempt
        return Sample(step.phase, step.concurrency, step.max_tokens, attempt.latency_s,
                      outcome_of(attempt.status, False, attempt.message or ""), attempt.status,
                      attempt.prompt_tokens, attempt.completion_tokens, None, attempt.retry_after_s,
                      attempt.started_at)
    attempt = completion.attempt
    return Sample(step.phase, step.concurrency, step.max_tokens, attempt.latency_s, "ok",
                  attempt.status, attempt.prompt_tokens, attempt.completion_tokens,
                  completion.finish_reason, started_at=attempt.started_at)


async def run_step(client: ChatClient, step: Step, prompts: Iterator[str], timeout_s: float) -> list[Sample]:
    """``step.requests`` requests, ``step.concurrency`` in flight (a closed loop)."""
    queue = [next(prompts) for _ in range(step.requests)]
    out: list[Sample] = []

    async def lane() -> None:
        while queue:
            out.append(await _one(client, step, queue.pop(), timeout_s))

    await asyncio.gather(*(lane() for _ in range(min(step.concurrency, step.requests))))
    return out


async def run_plan(client: ChatClient, plan: Plan, progress: Progress | None = None) -> list[Sample]:
    """Every step of ``plan`` in order, after ``plan.warmup`` unmeasured requests."""
    prompts = itertools.cycle(plan.prompts)
    if plan.warmup:
        await run_step(client, Step("tokens", 1, 8, plan.warmup), prompts, plan.timeout_s)
    samples: list[Sample] = []
    for step in plan.steps:
        got = await run_step(client, step, prompts, plan.timeout_s)
        samples += got
        if progress is not None:
            ok = [s.latency_s for s in got if s.ok]
            median = sorted(ok)[len(ok) // 2] if ok else float("nan")
            progress(f"{step.phase}: {step.requests} x max_tokens {step.max_tokens}, "
                     f"{step.concurrency} in flight: {len(ok)} ok, median {median:.3f} s")
    return samples


def measure(base_url: str, model: str, plan: Plan, *, progress: Progress | None = None) -> list[Sample]:
    """Run ``plan`` against ``base_url`` (blocking)."""

    async def main() -> list[Sample]:
        async with make_llm_client(client_settings(base_url, model, plan)) as client:
            return await run_plan(client, plan, progress)

    return asyncio.run(main())
