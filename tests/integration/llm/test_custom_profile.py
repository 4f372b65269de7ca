"""A custom simulator profile from the experiment spec (`llm.profile_overrides`), sent by the
runner's configure_llm, shapes the running simulator as the spec says.

60 requests/min is a token bucket holding 60 requests, refilled at 1 request/s. The test first
empties the bucket with a burst (about 60 admitted, then 429s), then sends 3 requests/s for 20 s:
the bucket admits what it refilled meanwhile (about 1 per second of the paced phase, so about 20)
and refuses the rest with 429. Counts are taken per request over the whole phase and compared
with the refill over the phase's measured length, so the tolerance comes from the bucket (a
fraction of a token left over from the burst, one refill's worth of scheduling slack at each end),
not from short wall-clock windows.
"""

from __future__ import annotations

import time
from collections import Counter

import openai
import pytest

from experiments import spec as spec_module
from experiments.runner import configure_llm
from pipeline.llm.sim import SimulatorAdmin, SimulatorProcess

MESSAGES = [{"role": "user", "content": "Why is the sky blue?"}]
RPM = 60
PACED_RATE = 3.0  # requests/s
PACED_S = 20.0


def _status(oai: openai.OpenAI) -> int:
    try:
        oai.chat.completions.create(model="sim-gpt", messages=MESSAGES, max_tokens=16)
    except openai.APIStatusError as exc:
        return exc.status_code
    return 200


def test_a_profile_override_of_60_requests_per_min_limits_the_simulator(
    simulator: SimulatorProcess, admin: SimulatorAdmin, oai: openai.OpenAI,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    full = spec_module.validate({
        "name": "custom-profile",
        "llm": {"profile": "instant", "profile_overrides": {"rate_limits": {"requests_per_min": RPM}}},
    })
    assert full["llm"]["profile_overrides"] == {"rate_limits": {"requests_per_min": RPM}}

    # configure_llm talks to the simulator the workers use: this test's simulator
    monkeypatch.setenv("HARNESS_LLM_BASE_URL", simulator.base_url)
    configure_llm(full)
    active = admin.profile()["profile"]
    assert active["rate_limits"]["requests_per_min"] == RPM
    assert active["seed"] == full["seed"] and active["name"] == "instant"
    admin.reset_counters()

    # 1. the burst: the full bucket admits about RPM requests, then refuses
    burst: Counter[int] = Counter()
    started = time.monotonic()
    while burst[429] == 0 and sum(burst.values()) < 3 * RPM:
        burst[_status(oai)] += 1
    burst_s = time.monotonic() - started
    assert burst[429] == 1
    assert RPM <= burst[200] <= RPM + burst_s * RPM / 60.0 + 1

    # 2. the paced phase: 3 requests/s for 20 s, on their intended schedule
    paced: Counter[int] = Counter()
    started = time.monotonic()
    for i in range(int(PACED_RATE * PACED_S)):
        due = started + i / PACED_RATE
        if (wait := due - time.monotonic()) > 0:
            time.sleep(wait)  # the load's schedule, not a readiness wait
        paced[_status(oai)] += 1
    paced_s = time.monotonic() - started

    sent = int(PACED_RATE * PACED_S)
    refill = paced_s * RPM / 60.0  # tokens the bucket gained during the phase
    assert set(paced) <= {200, 429}, paced
    assert paced[200] + paced[429] == sent
    # admitted = the refill, give or take the token fraction left by the burst and one request's
    # worth of refill at each end of the phase
    assert refill - 2 <= paced[200] <= refill + 2, (paced, paced_s)
    assert paced[429] >= sent - refill - 2  # about 40 of the 60 refused

    # the simulator counted the same
    by_status = admin.counters()["by_status"]
    assert by_status.get("200", 0) == burst[200] + paced[200]
    assert by_status.get("429", 0) == burst[429] + paced[429]
