"""`harness calibrate` end to end: against the project's simulator with a known profile (no stack
needed), and against the local llama.cpp server of `make local-llm` when it is installed (skipped
with the reason otherwise; CI does not install it, see docs/local-llm.md).

Either way the fitted profile, run on the simulator with the same request plan, must reproduce the
measured median latency within 20%.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from experiments.calibrate import report
from experiments.calibrate.plan import default_plan
from experiments.calibrate.run import calibrate
from foundation.layout import Layout
from foundation.settings import StackSettings
from harness.stack import local_llm, probes
from pipeline.llm.sim.runner import SimulatorThread

TOLERANCE = 0.2
KNOWN = {
    "name": "instant",
    "latency": {"fixed_s": 0.03, "median_s": 0.08, "sigma": 0.3, "per_token_s": 0.004},
    "concurrency": {"limit": 2, "max_queue": 1000},
    "quality": {"min_words": 60, "max_words": 60},  # every answer runs to max_tokens
}


def test_calibrate_recovers_the_simulators_own_profile(tmp_path: Path):
    plan = default_plan(token_levels=(8, 32, 64), repeats=8, burst=16, timeout_s=20)
    with SimulatorThread(KNOWN, seed=11) as sim:
        cal = calibrate(sim.base_url, "sim-gpt", plan, seed=5)
    tokens = cal.distances["tokens"]
    assert tokens.within(TOLERANCE), tokens
    assert cal.fit.concurrency.slots == 2 and cal.fit.concurrency.queueing
    assert cal.fit.overload.verdict == "queues"
    assert cal.fit.tokens.consistent
    assert cal.fit.latency.per_token_s == pytest.approx(0.004, abs=0.0015)
    md = report.write(cal, tmp_path / "sim.yaml", tmp_path / "report")
    assert "KS statistic" in md.read_text()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The local llama.cpp server from the `make local-llm` manifest, on a free loopback port."""
    stack = StackSettings()
    manifest = local_llm.Manifest.read(local_llm.manifest_path(Layout.of(stack)))
    if manifest is None:
        pytest.skip("the local LLM is not installed (make local-llm builds llama.cpp from "
                    "source, see docs/local-llm.md)")
    settings = stack.model_copy(update={"local_llm_port": _free_port(), "bind_host": "127.0.0.1"})
    log = (tmp_path_factory.mktemp("llama") / "server.log").open("wb")
    proc = subprocess.Popen(local_llm.command(manifest, settings), stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        url = local_llm.base_url(settings)
        probes.wait_until("local-llm", probes.http_ok(f"{url}/models"), 120.0)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_calibrate_against_the_local_llama_server(llama_server: str, tmp_path: Path):
    plan = default_plan(token_levels=(8, 16, 32), repeats=5, concurrency_levels=(1, 2, 4),
                        burst=8, timeout_s=120)
    cal = calibrate(llama_server, local_llm.MODEL_ALIAS, plan)
    tokens = cal.distances["tokens"]
    assert tokens.within(TOLERANCE), tokens
    assert cal.fit.tokens.with_usage == cal.fit.tokens.completions
    assert cal.fit.latency.per_token_s > 0
    report.write(cal, tmp_path / "llama.yaml", tmp_path / "report")
