"""A simulator child whose start fails is stopped: no process outlives a failed start."""

from __future__ import annotations

import pytest

from pipeline.llm.sim import runner
from pipeline.llm.sim.runner import SimulatorProcess

pytestmark = pytest.mark.unit


def test_a_child_that_announced_but_never_got_healthy_is_stopped(monkeypatch, tmp_path) -> None:
    def never_healthy(url: str, timeout_s: float) -> dict:
        raise RuntimeError(f"{url} not healthy within {timeout_s}s")

    monkeypatch.setattr(runner, "wait_for_health", never_healthy)
    sim = SimulatorProcess("instant", startup_timeout_s=60, log_path=tmp_path / "sim.log")
    with pytest.raises(RuntimeError, match="not healthy"):
        sim.start()
    assert sim.proc is not None and sim.proc.poll() is not None  # the child was ended
