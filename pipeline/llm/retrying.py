"""LLM completions under a retry policy: ``complete_with_retries``."""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.llm.attempt import Completion
from pipeline.llm.base import ChatClient, Messages
from pipeline.retry.clock import Clock, Sleep, monotonic, real_sleep
from pipeline.retry.policy import RetryPolicy
from pipeline.retry.runner import RetryResult, call_with_retries
from pipeline.retry.state import RetryState


async def complete_with_retries(
    client: ChatClient,
    prompt: str | Messages,
    policy: RetryPolicy,
    *,
    reference: str | None = None,
    max_tokens: int | None = None,
    extra_headers: Mapping[str, str] | None = None,
    clock: Clock = monotonic,
    sleep: Sleep = real_sleep,
    state: RetryState | None = None,
) -> RetryResult[Completion]:
    """Call the LLM until a good completion or the policy gives up.

    Each ``RetryAttempt.detail`` in the result is the client's :class:`LLMAttempt` record.
    """

    async def once() -> Completion:
        return await client.complete(
            prompt, reference=reference, max_tokens=max_tokens, extra_headers=extra_headers
        )

    return await call_with_retries(once, policy, clock=clock, sleep=sleep, state=state)
