"""One record's visit to a worker - the retry loop users run - with a scripted fake LLM and one
fake clock for the worker and its policies' guards (nothing sleeps)."""

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
from pipeline.retry.breaker import BreakerState
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
Step = str | tuple[ErrorClass, float | None] | BaseException
""""ok", (error class, retry-after), or an exception the LLM raises as is (a bug)."""


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
        if isinstance(step, BaseException):
            raise step
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
    kw.setdefault("question_id", "q1")
    return Envelope(experiment_id="exp",
                    question={"title": "Why?", "content": "Tell me."}, reference_answer="Because.",
                    intended_at=1000.0, created_at=1000.0,
                    policy=ExperimentPolicy(retry=retry or {"kind": "fixed", "base_s": 0.25,
                                                           "max_attempts": 6}), **kw)


def run(script: list[Step], env: Envelope, *, clock: FakeClock | None = None,
        cache: PolicyCache | None = None, latency: float = 0.5):
    clock = clock or FakeClock(1000.0)
    llm = ScriptedLLM(clock, script, latency)
    emitter = RecordingEmitter(stage="worker", clock=clock)
    cache = cache or PolicyCache(ROUTING, seed="t", clock=clock)
    proc = RecordProcessor(llm, cache, TOPICS, emitter, concurrency=10, clock=clock, sleep=clock.sleep)
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


@pytest.mark.parametrize("retry_after, mode, delay, tier", [
    (12.0, "obey", 40.0, "120s"),   # the policy's delay is longer than the server's hint
    (12.0, "ignore", 0.25, "5s"),   # the hint ignored: the policy's delay alone
    (None, "obey", 0.25, "5s"),     # no hint
])
def test_rate_limit_tier_covers_the_longer_of_policy_delay_and_retry_after(
        retry_after: float | None, mode: str, delay: float, tier: str) -> None:
    base = 40.0 if delay == 40.0 else 0.25
    env = envelope({"kind": "fixed", "base_s": base, "cap_s": 60, "max_attempts": 6,
                    "retry_after": mode})
    outcome, *_ = run([(ErrorClass.RATE_LIMITED, retry_after)], env)
    assert outcome.action is Action.DEFER and outcome.topic == f"qa.retry.{tier}"
    assert outcome.envelope.attempts[0].delay_s == pytest.approx(delay)


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
    assert outcome.envelope.due_at - clock() == pytest.approx(20.0)
    assert outcome.envelope.attempts[-1].delay_s == pytest.approx(20.0)


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


# -- cases carried over from the retired stand-alone retry loop, on the worker's loop -----------

def test_every_attempt_is_recorded_with_its_times() -> None:
    outcome, *_ = run([(ErrorClass.OVERLOAD, None)] * 2 + [OK], envelope())
    times = [(a.started_at, a.ended_at) for a in outcome.envelope.attempts]
    assert times == [pytest.approx((1000.0, 1000.5)), pytest.approx((1000.75, 1001.25)),
                     pytest.approx((1001.5, 1002.0))]  # 0.5 s calls, 0.25 s backoffs between


def test_gives_up_at_max_attempts_with_the_policy_reason() -> None:
    env = envelope({"kind": "fixed", "base_s": 1.0, "max_attempts": 3, "max_elapsed_s": 0,
                    "in_worker_max_attempts": 10})
    outcome, llm, _, clock = run([(ErrorClass.OVERLOAD, None)] * 3, env)
    assert len(llm.calls) == 3 and clock.sleeps == [1.0, 1.0]
    assert outcome.action is Action.DEAD_LETTER
    assert outcome.envelope.dlq_reason == "retries_exhausted: max_attempts (3) reached"


def test_exponential_backoff_sleeps_exactly_in_the_worker() -> None:
    env = envelope({"kind": "exponential", "base_s": 0.5, "multiplier": 3, "cap_s": 5,
                    "max_attempts": 6, "max_elapsed_s": 0, "in_worker_max_attempts": 6})
    outcome, *_, clock = run([(ErrorClass.OVERLOAD, None)] * 4 + [OK], env, latency=0)
    assert outcome.action is Action.ANSWER
    assert clock.sleeps == [0.5, 1.5, 4.5, 5.0]


def test_an_llm_bug_propagates_and_frees_the_slot_and_the_probe() -> None:
    clock = FakeClock(1000.0)
    cache = PolicyCache(ROUTING, clock=clock)
    spec = {"kind": "fixed", "base_s": 0.1, "breaker_failure_threshold": 1, "breaker_open_s": 10,
            "concurrency": "fixed", "concurrency_limit": 1}
    run([(ErrorClass.OVERLOAD, None)], envelope(spec), clock=clock, cache=cache)  # opens it
    clock.advance(10)  # half-open: the next attempt is the probe
    with pytest.raises(KeyError):
        run([KeyError("bug")], envelope(spec), clock=clock, cache=cache)
    policy = cache.get("exp", ExperimentPolicy(retry=spec)).retry
    assert policy.limiter is not None and policy.limiter.in_flight == 0
    outcome, llm, *_ = run([OK], envelope(spec), clock=clock, cache=cache)  # the probe is free
    assert outcome.action is Action.ANSWER and len(llm.calls) == 1


def test_a_breaker_opened_by_other_records_refuses_without_calling() -> None:
    clock = FakeClock(1000.0)
    cache = PolicyCache(ROUTING, clock=clock)
    spec = {"kind": "fixed", "base_s": 0.1, "breaker_failure_threshold": 2, "breaker_open_s": 30}
    run([(ErrorClass.OVERLOAD, None)] * 2, envelope(spec), clock=clock, cache=cache)
    outcome, llm, emitter, _ = run([OK], envelope(spec), clock=clock, cache=cache)
    assert llm.calls == [] and emitter.events == [] and outcome.envelope.attempts == []
    assert outcome.action is Action.DEFER and outcome.topic == "qa.retry.30s"
    assert outcome.envelope.due_at == pytest.approx(clock() + 30.0)
    # at the deferral limit the refusal dead-letters instead
    outcome, llm, *_ = run([OK], envelope(spec, deferrals=ROUTING.max_deferrals), clock=clock,
                           cache=cache)
    assert llm.calls == [] and outcome.action is Action.DEAD_LETTER
    assert outcome.envelope.dlq_reason == "max_deferrals: circuit breaker open"
    # once it half-opens, a record's attempt is the probe, and its success closes the breaker
    clock.advance(31)
    outcome, llm, *_ = run([OK], envelope(spec), clock=clock, cache=cache)
    assert outcome.action is Action.ANSWER
    breaker = cache.get("exp", ExperimentPolicy(retry=spec)).retry.breaker
    assert breaker is not None and breaker.state is BreakerState.CLOSED


def test_an_open_breaker_does_not_retry_beyond_the_policy() -> None:
    """The failure that opens the breaker is the policy's last allowed attempt: qa.dlq, not a
    deferral until the breaker half-opens."""
    spec = {"kind": "fixed", "base_s": 0.1, "max_attempts": 2, "breaker_failure_threshold": 2,
            "breaker_open_s": 20}
    outcome, llm, *_ = run([(ErrorClass.OVERLOAD, None)] * 2, envelope(spec))
    assert len(llm.calls) == 2 and outcome.action is Action.DEAD_LETTER
    assert outcome.envelope.dlq_reason == "retries_exhausted: max_attempts (2) reached"


def test_the_retry_budget_caps_amplification_across_records() -> None:
    clock = FakeClock(1000.0)
    cache = PolicyCache(ROUTING, clock=clock)
    spec = {"kind": "fixed", "base_s": 0, "max_attempts": 3, "budget_ratio": 0.1,
            "budget_min_retries_per_s": 0}
    calls, reasons = 0, set()
    for _ in range(20):
        outcome, llm, *_ = run([(ErrorClass.OVERLOAD, None)] * 3, envelope(spec), clock=clock,
                               cache=cache, latency=0)
        calls += len(llm.calls)
        reasons.add(outcome.envelope.dlq_reason)
    # 20 records, 10% may be retried: 2 retries in all, not 40.
    assert calls == 22
    assert "retries_exhausted: retry budget exhausted" in reasons


def test_a_deferred_record_does_not_deposit_into_the_budget_again() -> None:
    clock = FakeClock(1000.0)
    cache = PolicyCache(ROUTING, clock=clock)
    spec = {"kind": "fixed", "base_s": 0.1, "budget_ratio": 0.5, "budget_min_retries_per_s": 0,
            "breaker_failure_threshold": 1, "breaker_open_s": 5}
    run([(ErrorClass.RATE_LIMITED, None)], envelope(spec), clock=clock, cache=cache)
    budget = cache.get("exp", ExperimentPolicy(retry=spec)).retry.budget
    assert budget is not None and budget.allowance == pytest.approx(0.5)
    run([(ErrorClass.OVERLOAD, None)], envelope(spec, question_id="q2"), clock=clock, cache=cache)
    # refused by the open breaker twice: no attempt made, nothing deposited
    for _ in range(2):
        run([OK], envelope(spec, question_id="q3"), clock=clock, cache=cache)
    assert budget.allowance == pytest.approx(1.0)


def test_the_client_rate_limit_spaces_attempts() -> None:
    env = envelope({"kind": "fixed", "base_s": 0, "rate_limit_per_s": 2, "rate_limit_burst": 1})
    outcome, *_, clock = run([(ErrorClass.OVERLOAD, None)] * 2 + [OK], env, latency=0)
    assert outcome.action is Action.ANSWER
    assert clock.sleeps == [0.0, 0.5, 0.0, 0.5]  # backoff 0, then the wait for a token


def test_aimd_limit_shrinks_on_pushback() -> None:
    clock = FakeClock(1000.0)
    cache = PolicyCache(ROUTING, clock=clock)
    spec = {"kind": "fixed", "base_s": 0, "concurrency": "aimd", "concurrency_limit": 8}
    outcome, *_ = run([(ErrorClass.RATE_LIMITED, None)], envelope(spec), clock=clock, cache=cache)
    outcome, *_ = run([(ErrorClass.OVERLOAD, None), OK], envelope(spec), clock=clock, cache=cache)
    # 8 -> 4 (429) -> 2 (503) -> 3: the success used 1 of 2 slots, enough to grow additively.
    limiter = cache.get("exp", ExperimentPolicy(retry=spec)).retry.limiter
    assert outcome.action is Action.ANSWER and limiter is not None and limiter.limit == 3


def test_a_concurrency_limit_queues_records_and_lets_them_all_through() -> None:
    clock = FakeClock(1000.0)
    spec = {"kind": "fixed", "concurrency": "fixed", "concurrency_limit": 2}
    llm = ScriptedLLM(clock, [OK] * 5, latency=0)
    peak = 0
    inner = llm.complete

    async def complete(prompt: str, **kw: object) -> Completion:
        nonlocal peak
        policy = cache.get("exp", ExperimentPolicy(retry=spec)).retry
        assert policy.limiter is not None
        peak = max(peak, policy.limiter.in_flight)
        await asyncio.sleep(0)  # let the other records queue up behind the limit
        return await inner(prompt, **kw)  # type: ignore[arg-type]

    llm.complete = complete  # type: ignore[method-assign]
    cache = PolicyCache(ROUTING, clock=clock)
    proc = RecordProcessor(llm, cache, TOPICS, RecordingEmitter(stage="worker", clock=clock),
                           concurrency=10, clock=clock, sleep=clock.sleep)

    async def main() -> list:
        return await asyncio.gather(*(proc.process(envelope(spec, question_id=f"q{i}"))
                                      for i in range(5)))

    outcomes = asyncio.run(main())
    assert [o.action for o in outcomes] == [Action.ANSWER] * 5 and peak == 2
