"""The official openai client against the simulator over HTTP: one test per fault kind,
asserting status, error code and headers, and the simulator's ground-truth counters. Each
fault is then classified by the harness's LLM client, once per transport (the SDK, and the
direct aiohttp client the workers use by default): both must classify it the same way.

No assertion here depends on how fast the machine is: faults are switched on and off by request
count or by an admin call, rate-limit buckets do not refill (``refill: false``), and requests are
kept in flight by holding them (``/admin/hold``), never by a latency that might run out first."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest

from pipeline.llm import (
    REFERENCE_HEADER,
    ErrorClass,
    LLMCallError,
    LLMSettings,
    encode_reference,
    make_llm_client,
)
from pipeline.llm.headers import parse_duration
from pipeline.llm.sim import SimulatorAdmin, SimulatorProcess
from pipeline.waiting import wait_until

MESSAGES = [{"role": "user", "content": "Why is the sky blue?"}]
REFERENCE = "Sunlight is scattered by air molecules and blue light is scattered much more than red light"


def create(oai: openai.OpenAI, **kwargs: Any) -> Any:
    return oai.chat.completions.with_raw_response.create(model="sim-gpt", messages=MESSAGES, **kwargs)


def status_error(oai: openai.OpenAI, **kwargs: Any) -> openai.APIStatusError:
    with pytest.raises(openai.APIStatusError) as info:
        create(oai, **kwargs)
    return info.value


@pytest.fixture(params=["openai", "direct"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def classify(simulator: SimulatorProcess, transport: str, **settings: Any) -> LLMCallError:
    async def main() -> LLMCallError:
        llm = LLMSettings(base_url=simulator.base_url, transport=transport, **settings)
        async with make_llm_client(llm) as client:
            with pytest.raises(LLMCallError) as info:
                await client.complete("Why is the sky blue?")
            return info.value

    return asyncio.run(main())


def test_healthy_completion_and_quality_model(oai: openai.OpenAI, admin: SimulatorAdmin) -> None:
    admin.set_profile({"name": "instant", "quality": {"mean": 1.0, "spread": 0.0, "min_words": 1}})
    raw = create(oai, max_tokens=200, extra_headers={REFERENCE_HEADER: encode_reference(REFERENCE)})
    assert raw.status_code == 200
    assert raw.headers["x-request-id"].startswith("req_sim_")
    assert raw.headers["x-sim-closeness"] == "1.0000"
    completion = raw.parse()
    assert completion.choices[0].message.content == REFERENCE  # closeness 1 = the reference itself
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.completion_tokens > 0 and completion.usage.prompt_tokens > 0
    assert admin.counters()["by_outcome"] == {"ok": 1}


def test_fixed_latency(oai: openai.OpenAI, admin: SimulatorAdmin) -> None:
    admin.set_profile({"name": "instant", "latency": {"fixed_s": 0.3}})
    t0 = time.perf_counter()
    raw = create(oai)
    assert time.perf_counter() - t0 >= 0.3
    assert raw.headers["openai-processing-ms"] == "300"


def test_concurrency_limit_queues_then_rejects(oai: openai.OpenAI, admin: SimulatorAdmin) -> None:
    admin.set_profile(
        {"name": "instant", "latency": {"fixed_s": 0.3}, "concurrency": {"limit": 1, "max_queue": 1, "reject_status": 503}}
    )
    admin.hold()  # the one in service waits in its slot until released: the two surely overlap

    def one() -> tuple[int, float]:
        try:
            status = create(oai).status_code
        except openai.APIStatusError as exc:
            status = exc.status_code
        return status, time.perf_counter()

    with ThreadPoolExecutor(2) as pool:
        held = [pool.submit(one), pool.submit(one)]  # one in service, one queued
        wait_until(lambda: admin.hold_state() == {"held": True, "waiting": 1, "queued": 1}, 60,
                   pause_s=0.01, max_pause_s=0.1, error=AssertionError,
                   what="the two requests never reached the simulator")
        status, _ = one()  # slot busy and queue full: shed at once, while the other two are held
        assert status == 503 and not any(f.done() for f in held)
        released_at = time.perf_counter()
        admin.release()
        results = sorted(f.result() for f in held)
    assert [s for s, _ in results] == [200, 200]
    # the queued one got the slot only after the first had run its 0.3 s, then ran its own 0.3 s
    assert results[1][1] - released_at >= 0.55
    counters = admin.counters()
    assert counters["by_outcome"] == {"ok": 2, "queue_full": 1}
    assert counters["max_in_flight"] == 3


def test_request_rate_limit(oai: openai.OpenAI, admin: SimulatorAdmin, simulator: SimulatorProcess, transport: str) -> None:
    # a bucket of 2 requests that does not refill: the hints are those at activation, exactly
    admin.set_profile({"name": "instant", "rate_limits": {"requests_per_min": 2, "refill": False}})
    ok = create(oai)
    assert ok.headers["x-ratelimit-limit-requests"] == "2"
    assert ok.headers["x-ratelimit-remaining-requests"] == "1"
    create(oai)
    exc = status_error(oai)
    assert isinstance(exc, openai.RateLimitError) and exc.status_code == 429
    assert exc.code == "rate_limit_exceeded" and exc.type == "requests" and exc.param is None
    headers = exc.response.headers
    assert headers["retry-after"] == "30" and headers["retry-after-ms"] == "30000"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert parse_duration(headers["x-ratelimit-reset-requests"]) == 60
    assert admin.counters()["by_outcome"] == {"ok": 2, "rate_limited_requests": 1}
    failure = classify(simulator, transport)
    assert failure.error_class is ErrorClass.RATE_LIMITED and failure.retry_after_s == 30


def test_token_rate_limit(oai: openai.OpenAI, admin: SimulatorAdmin) -> None:
    admin.set_profile({"name": "instant", "rate_limits": {"tokens_per_min": 600, "retry_after": "ms", "refill": False}})
    create(oai, max_tokens=250)
    create(oai, max_tokens=250)
    exc = status_error(oai, max_tokens=250)
    assert exc.status_code == 429 and exc.code == "rate_limit_exceeded" and exc.type == "tokens"
    headers = exc.response.headers
    assert "retry-after" not in headers and int(headers["retry-after-ms"]) > 0
    assert headers["x-ratelimit-limit-tokens"] == "600"
    assert "tokens per min (TPM): Limit 600" in exc.message


def test_quota_window(oai: openai.OpenAI, admin: SimulatorAdmin, simulator: SimulatorProcess, transport: str) -> None:
    admin.set_profile({"name": "instant", "quota_windows": [{"start_s": 0}]})
    exc = status_error(oai)
    assert isinstance(exc, openai.RateLimitError) and exc.status_code == 429
    assert exc.code == "insufficient_quota" and exc.type == "insufficient_quota"
    assert classify(simulator, transport).error_class is ErrorClass.QUOTA_EXHAUSTED
    assert admin.counters()["by_outcome"] == {"insufficient_quota": 2}


def test_quota_runs_out_after_n_requests(oai: openai.OpenAI, admin: SimulatorAdmin) -> None:
    admin.set_profile({"name": "instant", "quota_windows": [{"after_requests": 2}]})
    assert [create(oai).status_code for _ in range(2)] == [200, 200]
    for _ in range(2):
        exc = status_error(oai)
        assert exc.status_code == 429 and exc.code == "insufficient_quota"
    assert admin.counters()["by_outcome"] == {"ok": 2, "insufficient_quota": 2}


@pytest.mark.parametrize("status", [500, 502, 503, 504, 529])
def test_overload_status(status: int, oai: openai.OpenAI, admin: SimulatorAdmin, simulator: SimulatorProcess, transport: str) -> None:
    admin.set_profile({"name": "instant", "errors": [{"status": status, "probability": 1.0, "retry_after_s": 3}]})
    exc = status_error(oai)
    assert isinstance(exc, openai.InternalServerError) and exc.status_code == status
    assert exc.response.headers["retry-after"] == "3"
    assert exc.type in ("server_error", "overloaded_error")
    failure = classify(simulator, transport)
    assert failure.error_class is ErrorClass.OVERLOAD and failure.retry_after_s == 3.0
    assert admin.counters()["by_status"] == {str(status): 2}


def test_outage_window_of_n_requests_ends(oai: openai.OpenAI, admin: SimulatorAdmin) -> None:
    admin.set_profile({"name": "instant", "errors": [{"status": 503, "window": {"requests": 2}}]})
    assert [status_error(oai).status_code for _ in range(2)] == [503, 503]
    assert create(oai).status_code == 200
    assert admin.counters()["by_outcome"] == {"http_503": 2, "ok": 1}


@pytest.mark.parametrize("status", [503, 529])
def test_admin_outage_until_ended(
    status: int, oai: openai.OpenAI, admin: SimulatorAdmin, simulator: SimulatorProcess, transport: str
) -> None:
    assert create(oai).status_code == 200
    admin.outage(status=status)
    exc = status_error(oai)
    assert isinstance(exc, openai.InternalServerError) and exc.status_code == status
    assert exc.response.headers["x-sim-outcome"] == "outage"
    failure = classify(simulator, transport)
    assert failure.error_class is ErrorClass.OVERLOAD and failure.attempt.status == status
    assert admin.end_outage()["status"] == status
    assert create(oai).status_code == 200
    assert admin.counters()["by_outcome"] == {"ok": 2, "outage": 2}


def test_hang_past_the_client_deadline(oai: openai.OpenAI, admin: SimulatorAdmin, simulator: SimulatorProcess, transport: str) -> None:
    admin.set_profile({"name": "instant", "hang": {"probability": 1, "duration_s": 30}})
    held = admin.counters()["in_flight"]  # hangs of an earlier parametrization may still be held
    t0 = time.perf_counter()
    with pytest.raises(openai.APITimeoutError):
        oai.with_options(timeout=0.3).chat.completions.create(model="sim-gpt", messages=MESSAGES)
    assert time.perf_counter() - t0 < 10  # the client's 0.3 s deadline, not the server's 30 s hang
    failure = classify(simulator, transport, timeout_s=0.3)
    assert failure.error_class is ErrorClass.OVERLOAD and failure.attempt.status is None
    counters = admin.counters()
    assert counters["by_outcome"] == {"hang": 2} and counters["in_flight"] == held + 2  # still held by the server


def test_empty_completion(oai: openai.OpenAI, admin: SimulatorAdmin, simulator: SimulatorProcess, transport: str) -> None:
    admin.set_profile({"name": "instant", "empty_probability": 1})
    raw = create(oai)
    assert raw.status_code == 200 and raw.parse().choices[0].message.content == ""
    assert raw.headers["x-sim-outcome"] == "empty"
    assert classify(simulator, transport).error_class is ErrorClass.BAD_COMPLETION


def test_malformed_completion(oai: openai.OpenAI, admin: SimulatorAdmin, simulator: SimulatorProcess, transport: str) -> None:
    admin.set_profile({"name": "instant", "malformed_probability": 1})
    raw = create(oai)
    assert raw.status_code == 200 and raw.headers["x-sim-outcome"] == "malformed"
    with pytest.raises(ValueError):
        raw.parse()
    failure = classify(simulator, transport)
    assert failure.error_class is ErrorClass.BAD_COMPLETION and failure.attempt.status == 200


def test_invalid_request(oai: openai.OpenAI, admin: SimulatorAdmin) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        oai.chat.completions.create(model="sim-gpt", messages=[])
    assert info.value.status_code == 400 and info.value.type == "invalid_request_error"
    assert info.value.param == "messages"
    assert admin.counters()["by_outcome"] == {"invalid_request": 1}


def test_flaky_profile_rate_matches_ground_truth(oai: openai.OpenAI, admin: SimulatorAdmin) -> None:
    admin.set_profile({"name": "flaky", "latency": {"fixed_s": 0, "median_s": 0}, "seed": 3}, reset_counters=True)
    failures = 0
    for _ in range(300):
        try:
            create(oai)
        except openai.InternalServerError as exc:
            assert exc.status_code == 503
            failures += 1
    counters = admin.counters()
    assert counters["total"] == 300 and counters["by_status"].get("503", 0) == failures
    assert 5 <= failures <= 30  # about 5%
