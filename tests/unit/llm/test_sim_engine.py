"""The simulator's decisions on a fake clock: rate limits, quota, errors, hangs, completions, counters."""

from __future__ import annotations

import json
import math
import statistics

import pytest

from pipeline.llm.headers import parse_duration
from pipeline.llm.sim import SimEngine, resolve_profile
from pipeline.llm.sim.engine import Reply, SimRequest, parse_request
from pipeline.retry import FakeClock

REQ = SimRequest(model="sim-gpt", prompt_tokens=40, max_tokens=60, reference="the quick brown fox jumps over the lazy dog " * 3)


def engine(spec: dict, clock: FakeClock | None = None) -> SimEngine:
    return SimEngine(resolve_profile({"name": "instant", **spec}), clock=clock or FakeClock())


def error_of(reply: Reply) -> dict:
    return json.loads(reply.body)["error"]


def test_healthy_completion_shape_and_counters() -> None:
    eng = engine({})
    reply = eng.plan(REQ)
    assert (reply.outcome, reply.status, reply.immediate, reply.delay_s) == ("ok", 200, False, 0.0)
    body = json.loads(reply.body)
    assert body["object"] == "chat.completion" and body["model"] == "sim-gpt"
    assert body["choices"][0]["message"]["content"]
    assert body["usage"]["prompt_tokens"] == 40
    assert 0 <= float(reply.headers["x-sim-closeness"]) <= 1
    assert eng.counters.snapshot()["by_outcome"] == {"ok": 1}


def test_request_limit_429_with_openai_body_and_headers() -> None:
    clock = FakeClock()
    eng = engine({"rate_limits": {"requests_per_min": 2}}, clock)
    ok1, ok2, limited = eng.plan(REQ), eng.plan(REQ), eng.plan(REQ)
    assert ok1.status == ok2.status == 200
    assert ok2.headers["x-ratelimit-remaining-requests"] == "0"
    assert limited.status == 429 and limited.immediate
    err = error_of(limited)
    assert err["code"] == "rate_limit_exceeded" and err["type"] == "requests" and err["param"] is None
    assert "requests per min (RPM): Limit 2" in err["message"]
    # Refill is 2/60 per second: one request fits again after 30 s.
    assert limited.headers["retry-after"] == "30"
    assert limited.headers["retry-after-ms"] == "30000"
    assert limited.headers["x-ratelimit-limit-requests"] == "2"
    assert parse_duration(limited.headers["x-ratelimit-reset-requests"]) == pytest.approx(60.0)
    clock.advance(30)
    assert eng.plan(REQ).status == 200
    assert eng.counters.by_outcome["rate_limited_requests"] == 1


def test_token_limit_429() -> None:
    clock = FakeClock()
    eng = engine({"rate_limits": {"tokens_per_min": 250, "retry_after": "ms"}}, clock)
    assert eng.plan(REQ).status == 200  # charges 40 + 60 = 100
    assert eng.plan(REQ).status == 200
    limited = eng.plan(REQ)
    err = error_of(limited)
    assert limited.status == 429 and err["type"] == "tokens" and err["code"] == "rate_limit_exceeded"
    assert "retry-after" not in limited.headers
    assert int(limited.headers["retry-after-ms"]) == pytest.approx(50 / (250 / 60) * 1000, abs=1)
    assert limited.headers["x-ratelimit-limit-tokens"] == "250"


def test_request_larger_than_the_token_limit_never_fits() -> None:
    eng = engine({"rate_limits": {"tokens_per_min": 50}})
    reply = eng.plan(REQ)
    assert reply.status == 429 and "Request too large" in error_of(reply)["message"]
    assert "retry-after" not in reply.headers


def test_quota_windows() -> None:
    clock = FakeClock()
    eng = engine({"quota_windows": [{"start_s": 10, "duration_s": 5, "every_s": 20}]}, clock)
    assert eng.plan(REQ).status == 200
    clock.advance(10)
    reply = eng.plan(REQ)
    err = error_of(reply)
    assert reply.status == 429 and err["code"] == "insufficient_quota" and err["type"] == "insufficient_quota"
    clock.advance(5)
    assert eng.plan(REQ).status == 200
    clock.advance(15)  # t = 30: the window repeats
    assert eng.plan(REQ).status == 429


@pytest.mark.parametrize("status", [500, 502, 503, 504, 529])
def test_overload_errors(status: int) -> None:
    eng = engine({"errors": [{"status": status, "retry_after_s": 1.2}]})
    reply = eng.plan(REQ)
    assert reply.status == status and reply.outcome == f"http_{status}" and reply.immediate
    assert reply.headers["retry-after"] == "2"
    assert error_of(reply)["type"] in ("server_error", "overloaded_error")


def test_error_probability_is_seeded_and_close_to_the_knob() -> None:
    def outcomes(seed: int) -> list[int]:
        eng = engine({"seed": seed, "errors": [{"status": 503, "probability": 0.05}]})
        return [eng.plan(REQ).status for _ in range(4000)]

    first = outcomes(1)
    assert first == outcomes(1)
    assert first.count(503) / 4000 == pytest.approx(0.05, abs=0.012)


def test_brownout_window_switches_errors_on_and_off() -> None:
    clock = FakeClock()
    eng = engine({"errors": [{"status": 529, "window": {"start_s": 5, "duration_s": 5}}]}, clock)
    assert eng.plan(REQ).status == 200
    clock.advance(5)
    assert eng.plan(REQ).status == 529
    clock.advance(5)
    assert eng.plan(REQ).status == 200


def test_activation_restarts_windows() -> None:
    clock = FakeClock()
    eng = engine({"errors": [{"status": 503, "window": {"start_s": 5, "duration_s": 5}}]}, clock)
    clock.advance(6)
    assert eng.plan(REQ).status == 503
    eng.activate(eng.profile)
    assert eng.elapsed_s == 0 and eng.plan(REQ).status == 200


def test_hang_plans_a_late_504() -> None:
    eng = engine({"hang": {"probability": 1, "duration_s": 90}})
    reply = eng.plan(REQ)
    assert (reply.outcome, reply.status, reply.delay_s, reply.immediate) == ("hang", 504, 90, False)


def test_empty_and_malformed_completions() -> None:
    empty = engine({"empty_probability": 1}).plan(REQ)
    assert empty.status == 200 and json.loads(empty.body)["choices"][0]["message"]["content"] == ""
    malformed = engine({"malformed_probability": 1}).plan(REQ)
    assert malformed.status == 200 and malformed.outcome == "malformed"
    with pytest.raises(json.JSONDecodeError):
        json.loads(malformed.body)


def test_latency_model() -> None:
    fixed = engine({"latency": {"fixed_s": 0.3, "per_token_s": 0.01}}).plan(REQ)
    tokens = json.loads(fixed.body)["usage"]["completion_tokens"]
    assert fixed.delay_s == pytest.approx(0.3 + 0.01 * tokens)
    eng = engine({"latency": {"median_s": 0.2, "sigma": 0.5}})
    delays = [eng.plan(REQ).delay_s for _ in range(2000)]
    assert statistics.median(delays) == pytest.approx(0.2, rel=0.08)
    assert max(delays) > 2 * 0.2  # a real tail
    assert statistics.fmean(delays) == pytest.approx(0.2 * math.exp(0.5**2 / 2), rel=0.08)


def test_max_tokens_truncates_with_finish_reason_length() -> None:
    reply = engine({"quality": {"min_words": 100, "max_words": 100}}).plan(
        SimRequest("sim-gpt", 10, max_tokens=20, reference=None)
    )
    body = json.loads(reply.body)
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] <= 20


def test_queue_full_reply_uses_the_profiles_status() -> None:
    eng = engine({"concurrency": {"limit": 1, "max_queue": 0, "reject_status": 529}})
    reply = eng.queue_full()
    assert reply.status == 529 and reply.outcome == "queue_full"
    assert eng.counters.by_status[529] == 1


@pytest.mark.parametrize(
    ("payload", "param"),
    [
        ([], None),
        ({"messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": "m", "messages": []}, "messages"),
        ({"model": "m", "messages": [{"content": "x"}]}, "messages"),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": True}, "stream"),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0}, "max_tokens"),
    ],
)
def test_invalid_requests_get_400(payload: object, param: str | None) -> None:
    reply = parse_request(payload, None)
    assert isinstance(reply, Reply) and reply.status == 400
    err = error_of(reply)
    assert err["type"] == "invalid_request_error" and err["param"] == param


def test_parse_request_estimates_prompt_tokens() -> None:
    req = parse_request({"model": "m", "messages": [{"role": "user", "content": "x" * 400}], "max_completion_tokens": 9}, "ref")
    assert isinstance(req, SimRequest)
    assert (req.prompt_tokens, req.max_tokens, req.reference) == (104, 9, "ref")


# -- faults counted in requests, and the admin-started outage: no clock involved ---------------


def test_an_outage_of_the_next_n_requests() -> None:
    eng = engine({"errors": [{"status": 503, "window": {"requests": 3}}]})
    assert [eng.plan(REQ).status for _ in range(5)] == [503, 503, 503, 200, 200]


def test_a_request_window_after_some_requests_and_for_some() -> None:
    eng = engine({"errors": [{"status": 529, "window": {"after_requests": 2, "requests": 2}}]})
    assert [eng.plan(REQ).status for _ in range(6)] == [200, 200, 529, 529, 200, 200]


def test_quota_that_runs_out_after_n_requests_does_not_come_back_with_time() -> None:
    clock = FakeClock()
    eng = engine({"quota_windows": [{"after_requests": 2}]}, clock)
    assert [eng.plan(REQ).status for _ in range(2)] == [200, 200]
    clock.advance(3600)
    replies = [eng.plan(REQ) for _ in range(3)]
    assert [r.status for r in replies] == [429] * 3
    assert error_of(replies[0])["code"] == "insufficient_quota"


def test_every_planned_request_takes_a_number_whatever_its_outcome() -> None:
    # request 0 is refused by the quota window, yet it counts: the outage covers requests 1 and 2
    eng = engine({
        "quota_windows": [{"requests": 1}],
        "errors": [{"status": 503, "window": {"after_requests": 1, "requests": 2}}],
    })
    assert [eng.plan(REQ).status for _ in range(4)] == [429, 503, 503, 200]


def test_hang_in_a_request_window() -> None:
    eng = engine({"hang": {"probability": 1, "duration_s": 60, "window": {"requests": 1}}})
    assert [eng.plan(REQ).outcome for _ in range(2)] == ["hang", "ok"]


def test_activation_restarts_request_windows() -> None:
    eng = engine({"errors": [{"status": 503, "window": {"requests": 1}}]})
    assert [eng.plan(REQ).status for _ in range(2)] == [503, 200]
    eng.activate(eng.profile)
    assert eng.planned == 0
    assert [eng.plan(REQ).status for _ in range(2)] == [503, 200]


def test_a_bucket_that_does_not_refill_is_a_budget_with_fixed_hints() -> None:
    clock = FakeClock()
    eng = engine({"rate_limits": {"requests_per_min": 2, "refill": False}}, clock)
    clock.advance(5)
    first = eng.plan(REQ)
    assert first.headers["x-ratelimit-remaining-requests"] == "1"
    clock.advance(7)
    assert eng.plan(REQ).status == 200
    for _ in range(3):
        clock.advance(3600)  # however long between requests: no refill, the same hints
        limited = eng.plan(REQ)
        assert limited.status == 429 and error_of(limited)["type"] == "requests"
        assert limited.headers["retry-after"] == "30" and limited.headers["retry-after-ms"] == "30000"
        assert parse_duration(limited.headers["x-ratelimit-reset-requests"]) == 60.0
    eng.activate(eng.profile)  # a profile switch refills
    assert eng.plan(REQ).status == 200


def test_a_token_budget_that_does_not_refill() -> None:
    clock = FakeClock()
    eng = engine({"rate_limits": {"tokens_per_min": 250, "refill": False, "retry_after": "ms"}}, clock)
    assert [eng.plan(REQ).status for _ in range(2)] == [200, 200]  # 100 tokens each
    clock.advance(3600)
    limited = eng.plan(REQ)
    assert limited.status == 429 and error_of(limited)["type"] == "tokens"
    assert limited.headers["retry-after-ms"] == str(math.ceil(50 / (250 / 60) * 1000))


@pytest.mark.parametrize("status", [503, 529])
def test_admin_outage_until_ended(status: int) -> None:
    clock = FakeClock()
    eng = engine({}, clock)
    assert eng.plan(REQ).status == 200
    eng.start_outage(status)
    clock.advance(1e6)
    replies = [eng.plan(REQ) for _ in range(3)]
    assert {(r.status, r.outcome, r.immediate) for r in replies} == {(status, "outage", True)}
    assert error_of(replies[0])["type"] in ("server_error", "overloaded_error")
    assert eng.outage_view()["active"] and eng.outage_view()["remaining_s"] is None
    ended = eng.end_outage()
    assert ended is not None and ended.status == status
    assert eng.plan(REQ).status == 200 and eng.outage_view() == {"active": False}
    assert eng.end_outage() is None
    assert eng.counters.by_outcome == {"ok": 2, "outage": 3}


def test_admin_outage_with_a_duration_on_the_engines_clock() -> None:
    clock = FakeClock()
    eng = engine({}, clock)
    eng.start_outage(503, duration_s=10)
    clock.advance(9.5)
    assert eng.plan(REQ).status == 503
    assert eng.outage_view()["remaining_s"] == pytest.approx(0.5)
    clock.advance(0.5)
    assert eng.plan(REQ).status == 200 and eng.outage_view()["active"] is False


def test_admin_outage_comes_before_the_profiles_checks_and_ends_with_a_profile_switch() -> None:
    eng = engine({"quota_windows": [{}]})
    eng.start_outage(529)
    assert eng.plan(REQ).status == 529
    eng.activate(resolve_profile("instant"))
    assert eng.outage is None and eng.plan(REQ).status == 200


def test_outage_duration_must_be_positive() -> None:
    with pytest.raises(ValueError, match="duration_s"):
        engine({}).start_outage(503, duration_s=0)
