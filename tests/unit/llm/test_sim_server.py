"""The simulator's admin faults over HTTP, in-process: the outage and the hold, and the request
count in the profile view. Nothing here depends on how fast the machine is."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import pytest

from pipeline.llm.sim import RunningSimulator, SimulatorAdmin, SimulatorThread, serve_simulator

BODY = {"model": "sim-gpt", "messages": [{"role": "user", "content": "hi"}]}


async def chat(session: aiohttp.ClientSession, sim: RunningSimulator) -> tuple[int, str]:
    async with session.post(f"{sim.base_url}/chat/completions", json=BODY) as resp:
        await resp.read()
        return resp.status, resp.headers["x-sim-outcome"]


async def until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Wait for a condition of the in-process server (never for a fixed time)."""
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.001)


def run(main: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(main())


@pytest.fixture(scope="module")
def thread_sim() -> Iterator[SimulatorThread]:
    with SimulatorThread("instant") as sim:
        yield sim


@pytest.fixture
def admin(thread_sim: SimulatorThread) -> Iterator[SimulatorAdmin]:
    admin = SimulatorAdmin(thread_sim.url)
    admin.set_profile("instant", reset_counters=True)
    yield admin
    admin.set_profile("instant")


def post_chat(url: str) -> int:
    async def main() -> int:
        async with aiohttp.ClientSession() as session, session.post(f"{url}/v1/chat/completions", json=BODY) as resp:
            await resp.read()
            return resp.status

    return run(main)


@pytest.mark.parametrize("status", [503, 529])
def test_admin_outage_until_ended(admin: SimulatorAdmin, thread_sim: SimulatorThread, status: int) -> None:
    assert admin.outage_state() == {"active": False}
    started = admin.outage(status=status)
    assert started["active"] and started["status"] == status and started["duration_s"] is None
    assert [post_chat(thread_sim.url) for _ in range(3)] == [status] * 3
    ended = admin.end_outage()
    assert ended["active"] and ended["status"] == status
    assert post_chat(thread_sim.url) == 200
    assert admin.end_outage() == {"active": False}
    counters = admin.counters()
    assert counters["by_outcome"] == {"outage": 3, "ok": 1} and counters["by_status"][str(status)] == 3


def test_admin_outage_with_a_duration_reports_what_is_left(admin: SimulatorAdmin) -> None:
    state = admin.outage(status=503, duration_s=3600)
    assert state["duration_s"] == 3600 and 3590 < state["remaining_s"] <= 3600


def test_a_profile_switch_ends_an_admin_outage(admin: SimulatorAdmin, thread_sim: SimulatorThread) -> None:
    admin.outage()
    admin.set_profile("instant")
    assert admin.outage_state() == {"active": False} and post_chat(thread_sim.url) == 200


def test_bad_outages_are_refused(admin: SimulatorAdmin) -> None:
    with pytest.raises(ValueError, match="400"):
        admin.outage(status=418)
    with pytest.raises(ValueError, match="400"):
        admin.outage(duration_s=0)
    with pytest.raises(ValueError, match="400"):
        admin._call("POST", "/admin/outage", {"status": 503, "for": 3})
    assert admin.outage_state() == {"active": False}


def test_the_profile_view_counts_requests_since_activation(admin: SimulatorAdmin, thread_sim: SimulatorThread) -> None:
    admin.set_profile({"name": "instant", "errors": [{"status": 503, "window": {"requests": 2}}]})
    assert admin.profile()["requests"] == 0
    assert [post_chat(thread_sim.url) for _ in range(3)] == [503, 503, 200]
    assert admin.profile()["requests"] == 3
    assert admin.set_profile("instant")["requests"] == 0


def test_hold_keeps_requests_in_their_slots_until_released() -> None:
    profile = {"name": "instant", "latency": {"fixed_s": 0.05}, "concurrency": {"limit": 1, "max_queue": 1}}

    async def main() -> None:
        async with serve_simulator(profile) as sim, aiohttp.ClientSession() as session:
            async with session.post(f"{sim.url}/admin/hold") as resp:
                assert await resp.json() == {"held": True, "waiting": 0, "queued": 0}
            held = [asyncio.create_task(chat(session, sim)) for _ in range(2)]
            pool = sim.simulator.pool
            assert pool is not None
            await until(lambda: sim.simulator.waiting == 1 and pool.busy == 2)  # one held, one queued
            assert await chat(session, sim) == (503, "queue_full")  # shed at once, not held
            assert not any(task.done() for task in held)
            async with session.get(f"{sim.url}/admin/hold") as resp:
                assert await resp.json() == {"held": True, "waiting": 1, "queued": 1}
            async with session.delete(f"{sim.url}/admin/hold") as resp:
                assert await resp.json() == {"held": True, "waiting": 1, "queued": 1}
            assert sorted(await asyncio.gather(*held)) == [(200, "ok"), (200, "ok")]
            assert sim.engine.counters.by_outcome == {"ok": 2, "queue_full": 1}
            assert sim.engine.counters.max_in_flight == 3

    run(main)


def test_hold_does_not_delay_front_door_errors_and_a_profile_switch_releases() -> None:
    async def main() -> None:
        async with serve_simulator({"name": "instant", "errors": [{"status": 529, "window": {"requests": 1}}]}) as sim:
            sim.simulator.hold()
            async with aiohttp.ClientSession() as session:
                assert await chat(session, sim) == (529, "http_529")
                task = asyncio.create_task(chat(session, sim))
                await until(lambda: sim.simulator.waiting == 1)
                sim.simulator.activate(sim.engine.profile)
                assert await task == (200, "ok")
                assert not sim.simulator.held

    run(main)


def test_admin_client_hold_and_release(admin: SimulatorAdmin) -> None:
    assert admin.hold() == {"held": True, "waiting": 0, "queued": 0}
    assert admin.hold_state() == {"held": True, "waiting": 0, "queued": 0}
    assert admin.release() == {"held": True, "waiting": 0, "queued": 0}
    assert admin.hold_state() == {"held": False, "waiting": 0, "queued": 0}
