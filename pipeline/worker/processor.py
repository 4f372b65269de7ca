"""One record's visit to a worker: LLM attempts under its retry policy until it is answered,
deferred to a retry tier or dead-lettered. No Kafka here: the caller sends the outcome.

Every attempt is appended to the envelope's history (``Attempt``, with the wait chosen after it)
and emitted as an ``llm_attempt`` event. In-worker backoffs sleep in this task only: the worker's
other records keep flowing, and the partition's later records too.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from pipeline.events import hops as H
from pipeline.events.emitter import EventEmitter
from pipeline.llm.allowlist import BaseUrlAllowlist, BaseUrlNotAllowed, redact
from pipeline.llm.attempt import Completion, LLMAttempt, LLMCallError
from pipeline.messages import (
    Answer,
    Attempt,
    AttemptStatus,
    Envelope,
    EventKind,
    TerminalStatus,
)
from pipeline.messages import (
    ErrorClass as MsgErrorClass,
)
from pipeline.retry.admission import Admission, Gate, Ticket
from pipeline.retry.errors import ErrorClass
from pipeline.retry.policy import RetryPolicy
from pipeline.retry.spec import PolicySpecError
from pipeline.retry.state import RetryState
from pipeline.topics import TopicCatalog
from pipeline.worker.policies import PolicyCache, ResolvedPolicy
from pipeline.worker.routing import (
    Action,
    Route,
    quota_failures_in_round,
    rebuild_state,
    route_failure,
)

log = logging.getLogger(__name__)

_DETAIL_MAX = 500

# The error classes whose retry the policy decides; quota_exhausted and invalid_request follow the
# worker's own rules (routing.py).
POLICY_DECIDES: frozenset[ErrorClass] = frozenset(
    {ErrorClass.OVERLOAD, ErrorClass.RATE_LIMITED, ErrorClass.BAD_COMPLETION}
)


class LLM(Protocol):
    async def complete(self, prompt: str, *, reference: str | None = None,
                       max_tokens: int | None = None, model: str | None = None,
                       timeout_s: float | None = None, base_url: str | None = None) -> Completion: ...


def llm_request_params(llm: dict[str, Any]) -> dict[str, Any]:
    """The per-record request parameters a record's policy carries (``policy.llm``): base_url,
    model, max_tokens, timeout_s. Absent, empty or zero values fall back to the worker's LLM
    settings. Raises :class:`PolicySpecError` naming ``llm.<name>`` for an invalid one."""
    params: dict[str, Any] = {}
    base_url = llm.get("base_url")
    if base_url:
        parts = urlsplit(str(base_url))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PolicySpecError("llm.base_url", f"not an http(s) URL: {redact(str(base_url))}")
        params["base_url"] = str(base_url)
    for name, kind in (("model", str), ("max_tokens", int), ("timeout_s", float)):
        value = llm.get(name)
        if not value:
            continue
        try:
            params[name] = kind(value)
        except (TypeError, ValueError):
            raise PolicySpecError(f"llm.{name}", f"not a {kind.__name__}: {value!r}") from None
        if kind is not str and params[name] <= 0:
            raise PolicySpecError(f"llm.{name}", f"must be positive, got {value!r}")
    return params


@dataclass
class Outcome:
    action: Action  # ANSWER, DEFER or DEAD_LETTER
    topic: str
    envelope: Envelope
    route: Route | None = None


def prompt_of(env: Envelope) -> str:
    q = env.question
    return f"{q.title}\n\n{q.content}" if q.content.strip() else q.title


class RecordProcessor:
    def __init__(
        self,
        llm: LLM,
        policies: PolicyCache,
        topics: TopicCatalog,
        emitter: EventEmitter,
        *,
        concurrency: int,
        worker_id: str = "worker",
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        allowlist: BaseUrlAllowlist | None = None,
    ) -> None:
        """``allowlist``: the base URLs a record may name (``policy.llm.base_url``); a record
        naming another is dead-lettered before any attempt. None leaves the check to the LLM
        (:class:`~pipeline.worker.llm_pool.LLMEndpoints` refuses such a URL too)."""
        self.llm = llm
        self.allowlist = allowlist
        self.policies = policies
        self.topics = topics
        self.emitter = emitter
        self.worker_id = worker_id
        self.clock = clock
        self.sleep = sleep
        self.slots = asyncio.Semaphore(concurrency)
        self.in_flight = 0

    # -- outcomes -----------------------------------------------------------------------------
    def dead_letter(self, env: Envelope, reason: str) -> Outcome:
        env.status = TerminalStatus.DEAD_LETTERED
        env.dlq_reason = reason[:500]
        env.due_at = None
        env.record_hop(H.DEAD_LETTERED, self.clock())
        return Outcome(Action.DEAD_LETTER, self.topics.dlq.name, env, Route.dead(reason))

    def _defer(self, env: Envelope, route: Route) -> Outcome:
        now = self.clock()
        env.deferrals += 1
        env.due_at = now + route.delay_s
        env.record_hop(H.WORKER_DEFERRED, now)
        assert route.tier is not None
        return Outcome(Action.DEFER, self.topics.tier(route.tier).topic.name, env, route)

    def _answer(self, env: Envelope, completion: Completion) -> Outcome:
        a = completion.attempt
        env.answer = Answer(
            text=completion.text, model=completion.model or "unknown",
            prompt_tokens=a.prompt_tokens, completion_tokens=a.completion_tokens,
            finish_reason=completion.finish_reason,
        )
        env.record_hop(H.WORKER_ANSWERED, self.clock())
        return Outcome(Action.ANSWER, self.topics.answers.name, env)

    # -- the visit ----------------------------------------------------------------------------
    async def process(self, env: Envelope) -> Outcome:
        """The retry loop: admit, attempt, record, decide, route; until an outcome.

        Per attempt: the policy admits it (an open breaker refuses: the record is deferred until
        it half-opens; a client rate limit or a concurrency limit waits here), one LLM call, its
        outcome recorded to the policy. A failure is routed (:func:`route_failure`): backoff in
        this task, a retry tier, or qa.dlq; a retry while the breaker is open is deferred until
        it half-opens (at least), since the next admission would refuse it.
        """
        try:
            resolved = self.policies.get(env.experiment_id, env.policy)
            params = llm_request_params(env.policy.llm)
            if self.allowlist is not None and "base_url" in params:
                self.allowlist.check(params["base_url"])
        except BaseUrlNotAllowed as exc:  # exc holds the URL redacted, never the key
            log.warning("%s/%s names an LLM endpoint off the allowlist (%s): dead letter",
                        env.experiment_id, env.question_id, exc.url)
            return self.dead_letter(env, f"invalid_policy: {exc}")
        except (PolicySpecError, ValueError, TypeError) as exc:
            field = getattr(exc, "field", None) or type(exc).__name__
            log.warning("invalid retry policy in %s/%s: %s", env.experiment_id, env.question_id, exc)
            return self.dead_letter(env, f"invalid_policy: {field}")
        policy = resolved.retry
        state = rebuild_state(env)
        visit_attempts = 0
        while True:
            ticket = Ticket(first=state is None)
            admission = await self._admit(policy, ticket)
            if not admission.go:
                return self._finish(env, self._breaker_hold(env, resolved, admission.delay_s))
            result = await self._call(env, policy, ticket, params)
            visit_attempts += 1
            if isinstance(result, Completion):
                self._record(env, result.attempt, None, None)
                return self._answer(env, result)
            failure = result.failure
            state = (RetryState.first_failure(failure, started_at=result.attempt.started_at,
                                              now=result.attempt.ended_at)
                     if state is None else
                     state.after_failure(failure, now=result.attempt.ended_at,
                                         delay_s=self._last_delay(env)))
            decision = policy.decide(state) if failure.error_class in POLICY_DECIDES else None
            route = route_failure(
                failure.error_class, decision=decision, retry_after_s=failure.retry_after_s,
                obey_retry_after=resolved.obey_retry_after, deferrals=env.deferrals,
                quota_failures=quota_failures_in_round(env)
                + (failure.error_class is ErrorClass.QUOTA_EXHAUSTED),
                visit_attempts=visit_attempts, config=resolved.routing,
                tier_for=lambda d: self.topics.tier_for(d).tier,
            )
            open_for = policy.breaker_open_for_s()
            if open_for > 0 and route.action in (Action.BACKOFF, Action.DEFER):
                route = self._breaker_hold(env, resolved, max(route.delay_s, open_for))
            self._record(env, result.attempt, route, failure.retry_after_s)
            if route.action is Action.BACKOFF:
                await self.sleep(route.delay_s)
                continue
            return self._finish(env, route)

    def _finish(self, env: Envelope, route: Route) -> Outcome:
        if route.action is Action.DEFER:
            return self._defer(env, route)
        return self.dead_letter(env, route.reason or "unknown")

    def _breaker_hold(self, env: Envelope, resolved: ResolvedPolicy, wait_s: float) -> Route:
        """The circuit breaker is open: defer until it half-opens (counts as a deferral)."""
        if env.deferrals >= resolved.routing.max_deferrals:
            return Route.dead("max_deferrals: circuit breaker open")
        wait_s = max(wait_s, 0.001)
        return Route(Action.DEFER, delay_s=wait_s, tier=self.topics.tier_for(wait_s).tier,
                     reason="circuit breaker open")

    @staticmethod
    def _last_delay(env: Envelope) -> float | None:
        for a in reversed(env.attempts):
            if a.round == env.round:
                return a.delay_s
        return None

    async def _admit(self, policy: RetryPolicy, ticket: Ticket) -> Admission:
        """Ask the policy until it admits the attempt (GO) or refuses it (REFUSE), waiting in this
        task for a rate-limit token (the injected sleep) or a concurrency slot."""
        try:
            while True:
                admission = policy.admit(ticket)
                if admission.gate is Gate.WAIT:
                    await self.sleep(admission.delay_s)
                elif admission.gate is Gate.QUEUE:
                    await policy.wait_turn(ticket)
                else:
                    return admission
        except BaseException:
            policy.release(ticket)
            raise

    async def _call(self, env: Envelope, policy: RetryPolicy, ticket: Ticket,
                    params: dict[str, Any]) -> Completion | LLMCallError:
        """One LLM attempt under one of the worker's own slots; its outcome goes to the policy."""
        try:
            async with self.slots:
                self.in_flight += 1
                try:
                    completion = await self.llm.complete(
                        prompt_of(env), reference=env.reference_answer or None, **params
                    )
                finally:
                    self.in_flight -= 1
        except LLMCallError as exc:
            policy.record(ticket, exc.error_class)
            return exc
        except BaseException:
            policy.release(ticket)
            raise
        policy.record(ticket, None)
        return completion

    def _record(self, env: Envelope, a: LLMAttempt, route: Route | None,
                retry_after_s: float | None) -> None:
        """Append the attempt to the history and emit its ``llm_attempt`` event."""
        delay = route.delay_s if route is not None and route.action in (Action.BACKOFF, Action.DEFER) else None
        status = a.status if a.status is not None and 100 <= a.status <= 599 else None
        attempt = Attempt(
            round=env.round, number=env.attempt + 1,
            status=AttemptStatus.OK if a.error_class is None else AttemptStatus.ERROR,
            error_class=None if a.error_class is None else MsgErrorClass(a.error_class.value),
            http_status=status, delay_s=delay, started_at=a.started_at,
            ended_at=max(a.ended_at, a.started_at),
            detail=None if a.message is None else a.message[:_DETAIL_MAX],
        )
        env.record_attempt(attempt)
        self.emitter.about(
            env, EventKind.LLM_ATTEMPT, ts=attempt.ended_at, latency_s=attempt.latency_s,
            started_at=attempt.started_at, status=attempt.status.value,
            error_class=attempt.error_class.value if attempt.error_class else None,
            http_status=status, delay_s=delay, retry_after_s=retry_after_s,
            action=route.action.value if route else Action.ANSWER.value,
            tier=route.tier if route else None, worker=self.worker_id,
        )
