"""One record's visit to a worker, with a scripted fake LLM and a fake clock (nothing sleeps)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import pytest

from pipeline.events.emitter import RecordingEmitter
from pipeline.llm.attempt import Completion, LLMAttempt, LLMCallError
from pipeline.messages import (
    Attempt,
    AttemptStatus,
    Envelope,
    ExperimentPolicy,
    TerminalStatus,
)
from pipeline.messages import (
    ErrorClass as MsgErrorClass,
)
from pipeline.retry.clock import FakeClock
from pipeline.retry.errors import ErrorClass, Failure
from pipeline.topics import load_topics
from pipeline.worker.policies import PolicyCache
from pipeline.worker.processor import RecordProcessor
from pipeline.worker.routing import Action, RoutingConfig

TOPICS = load_topics(prefix="")
ROUTING = RoutingConfig(in_worker_max_attempts=3, in_worker_max_delay_s=5.0, max_deferrals=5,
                        max_quota_deferrals=2, quota_delay_s=30.0)
OK = "ok"
Step = str | tuple[ErrorClass, float | None]  # "ok" or (error class, retry-after)


class ScriptedLLM:
    """Each call takes ``latency`` seconds of fake time and follows the script."""

    def __init__(self, clock: FakeClock, script: Iterable[Step], latency: float = 0.5) -> None:
        self.clock, self.script, self.latency = clock, list(script), latency
        self.calls: list[str] = []
        self.params: list[dict] = []

    async def complete(self, prompt: str, *, reference: str | None = None,
                       max_tokens: int | None = None, model: str | None = None,
                       timeout_s: float | None = None, base_url: str | None = None) -> Completion:
        self.calls.append(prompt)
        self.params.append({"max_tokens": max_tokens, "model": model, "timeout_s": timeout_s,
                            "base_url": base_url})
        step = self.script.pop(0)
        start = self.clock()
        self.clock.advance(self.latency)
        if step == OK:
            a = LLMAttempt(start, self.clock(), 200, None, completion_tokens=12)
            return Completion("an answer", "sim-gpt", "stop", a)
        error_class, retry_after = step
        status = {ErrorClass.OVERLOAD: 503, ErrorClass.RATE_LIMITED: 429,
                  ErrorClass.QUOTA_EXHAUSTED: 429, ErrorClass.INVALID_REQUEST: 400,
                  ErrorClass.BAD_COMPLETION: 200}[error_class]
        a = LLMAttempt(start, self.clock(), status, error_class, message=f"{error_class} happened",
                       retry_after_s=retry_after)
        raise LLMCallError(str(error_class), Failure(error_class, retry_after, status), a)


def envelope(retry: dict | None = None, **kw) -> Envelope:
    return Envelope(experiment_id="exp", question_id="q1",
                    question={"title": "Why?", "content": "Tell me."}, reference_answer="Because.",
                    intended_at=1000.0, created_at=1000.0,
                    policy=ExperimentPolicy(retry=retry or {"kind": "fixed", "base_s": 0.25,
                                                           "max_attempts": 6}), **kw)


def run(script: list[Step], env: Envelope, *, clock: FakeClock | None = None):
    clock = clock or FakeClock(1000.0)
    llm = ScriptedLLM(clock, script)
    emitter = RecordingEmitter(stage="worker", clock=clock)
    proc = RecordProcessor(llm, PolicyCache(ROUTING, seed="t"), TOPICS, emitter, concurrency=10,
                           clock=clock, sleep=clock.sleep)
    outcome = asyncio.run(proc.process(env))
    return outcome, llm, emitter, clock


def test_overload_backs_off_in_the_worker_then_answers() -> None:
    outcome, llm, emitter, clock = run([(ErrorClass.OVERLOAD, None)] * 2 + [OK], envelope())
    assert outcome.action is Action.ANSWER and outcome.topic == "qa.answers"
    env = outcome.envelope
    assert env.answer is not None and env.answer.text == "an answer"
    assert [a.number for a in env.attempts] == [1, 2, 3] and env.attempt == 3
    assert [a.delay_s for a in env.attempts] == [0.25, 0.25, None]
    assert clock.sleeps == [0.25, 0.25]  # backoff slept by this task only
    assert [e.attrs["action"] for e in emitter.events] == ["backoff", "backoff", "answer"]
    assert all(e.kind == "llm_attempt" for e in emitter.events)
    assert env.hops[-1].name == "worker.answered"
    assert llm.calls[0] == "Why?\n\nTell me."


def test_overload_beyond_the_in_worker_budget_is_deferred() -> None:
    outcome, _, _, clock = run([(ErrorClass.OVERLOAD, None)] * 3, envelope())
    assert outcome.action is Action.DEFER and outcome.topic == "qa.retry.5s"
    env = outcome.envelope
    assert env.deferrals == 1 and env.due_at == pytest.approx(clock() + 0.25)
    assert env.hops[-1].name == "worker.deferred"


def test_rate_limit_waits_at_least_retry_after_in_a_tier() -> None:
    outcome, _, emitter, clock = run([(ErrorClass.RATE_LIMITED, 12.0)], envelope())
    assert outcome.action is Action.DEFER and outcome.topic == "qa.retry.30s"
    env = outcome.envelope
    assert env.attempts[0].delay_s == 12.0 and env.due_at == pytest.approx(clock() + 12.0)
    assert emitter.events[0].attrs["retry_after_s"] == 12.0
    assert emitter.events[0].attrs["tier"] == "30s"
    assert clock.sleeps == []  # a deferral never sleeps in the worker


def test_quota_is_deferred_then_dead_lettered_after_the_maximum() -> None:
    outcome, *_ = run([(ErrorClass.QUOTA_EXHAUSTED, None)], envelope())
    assert outcome.action is Action.DEFER and outcome.envelope.attempts[0].delay_s == 30.0
    # the same record after two quota deferrals: the third quota failure dead-letters it
    prior = [Attempt(round=0, number=n, status=AttemptStatus.ERROR,
                     error_class=MsgErrorClass.QUOTA_EXHAUSTED, started_at=900.0 + n,
                     ended_at=900.5 + n, delay_s=30.0) for n in (1, 2)]
    env = envelope(attempts=prior, attempt=2, deferrals=2)
    outcome, *_ = run([(ErrorClass.QUOTA_EXHAUSTED, None)], env)
    assert outcome.action is Action.DEAD_LETTER and outcome.topic == "qa.dlq"
    env = outcome.envelope
    assert env.status is TerminalStatus.DEAD_LETTERED
    assert env.dlq_reason == "quota_exhausted: after 2 deferrals"
    assert [a.number for a in env.attempts] == [1, 2, 3]
    assert env.hops[-1].name == "dead_lettered"


def test_invalid_request_is_dead_lettered_without_retry() -> None:
    outcome, llm, _, clock = run([(ErrorClass.INVALID_REQUEST, None)], envelope())
    assert outcome.action is Action.DEAD_LETTER and outcome.envelope.dlq_reason == "invalid_request"
    assert len(llm.calls) == 1 and clock.sleeps == []


def test_bad_completion_is_retried_once_then_dead_lettered() -> None:
    outcome, llm, *_ = run([(ErrorClass.BAD_COMPLETION, None)] * 2, envelope())
    assert len(llm.calls) == 2
    assert outcome.action is Action.DEAD_LETTER
    assert outcome.envelope.dlq_reason.startswith("bad_completion")


def test_policy_limit_counts_attempts_before_a_deferral() -> None:
    prior = [Attempt(round=0, number=1, status=AttemptStatus.ERROR,
                     error_class=MsgErrorClass.RATE_LIMITED, started_at=990.0, ended_at=990.5,
                     delay_s=2.0)]
    env = envelope({"kind": "fixed", "base_s": 0.1, "max_attempts": 2}, attempts=prior, attempt=1,
                   deferrals=1)
    outcome, llm, *_ = run([(ErrorClass.OVERLOAD, None)], env)
    assert len(llm.calls) == 1
    assert outcome.action is Action.DEAD_LETTER
    assert outcome.envelope.dlq_reason.startswith("retries_exhausted")
    assert outcome.envelope.attempts[-1].number == 2


def test_invalid_policy_spec_is_dead_lettered_naming_the_field() -> None:
    outcome, llm, *_ = run([], envelope({"kind": "sometimes"}))
    assert outcome.action is Action.DEAD_LETTER and llm.calls == []
    assert outcome.envelope.dlq_reason == "invalid_policy: kind"


def test_records_of_one_experiment_share_the_policy_guards() -> None:
    cache = PolicyCache(ROUTING)
    a = cache.get("exp", ExperimentPolicy(retry={"kind": "fixed", "max_quota_deferrals": 1}))
    b = cache.get("exp", ExperimentPolicy(retry={"max_quota_deferrals": 1, "kind": "fixed"}))
    c = cache.get("other", ExperimentPolicy(retry={"kind": "fixed", "max_quota_deferrals": 1}))
    assert a is b and a is not c
    assert a.routing.max_quota_deferrals == 1 and a.retry.spec["kind"] == "fixed"


def test_open_circuit_breaker_defers_without_calling() -> None:
    retry = {"kind": "fixed", "base_s": 0.1, "max_attempts": 10, "breaker_failure_threshold": 2,
             "breaker_open_s": 20}
    clock = FakeClock(1000.0)
    outcome, *_ = run([(ErrorClass.OVERLOAD, None)] * 2 + [OK], envelope(retry), clock=clock)
    # two overloads open the breaker; the third call is refused and the record deferred
    assert outcome.action is Action.DEFER
    assert len(outcome.envelope.attempts) == 2
    assert outcome.envelope.due_at - clock() == pytest.approx(20.0, abs=0.5)


def test_the_records_llm_parameters_reach_the_request() -> None:
    env = envelope()
    env.policy.llm = {"model": "llama-3-8b", "max_tokens": 64, "timeout_s": 12,
                      "base_url": "http://vllm.local:9000/v1"}
    _, llm, _, _ = run([OK], env)
    assert llm.params == [{"model": "llama-3-8b", "max_tokens": 64, "timeout_s": 12.0,
                           "base_url": "http://vllm.local:9000/v1"}]
    _, llm, _, _ = run([OK], envelope())  # none given: the worker's settings apply
    assert llm.params == [{"model": None, "max_tokens": None, "timeout_s": None, "base_url": None}]


@pytest.mark.parametrize("llm, field", [({"max_tokens": "many"}, "llm.max_tokens"),
                                        ({"timeout_s": -1}, "llm.timeout_s"),
                                        ({"base_url": "file:///etc/passwd"}, "llm.base_url")])
def test_invalid_llm_parameters_are_dead_lettered_naming_the_field(llm: dict, field: str) -> None:
    env = envelope()
    env.policy.llm = llm
    outcome, scripted, _, _ = run([OK], env)
    assert outcome.action is Action.DEAD_LETTER and outcome.envelope.dlq_reason == f"invalid_policy: {field}"
    assert scripted.calls == []
