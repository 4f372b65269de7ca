"""The calibration's distance, its measuring loop (on a fake transport), a whole calibration
against a known simulator profile (the measuring side replaced), and what it writes."""

from __future__ import annotations

import asyncio
import json
import math
import random
from pathlib import Path
from typing import Any

import pytest

from experiments import spec as spec_module
from experiments.calibrate import report
from experiments.calibrate.distance import distance, ks_statistic
from experiments.calibrate.fit import fit_all
from experiments.calibrate.measure import NO_KEY, client_settings, run_plan
from experiments.calibrate.plan import Plan, Step, default_plan
from experiments.calibrate.run import Calibration, calibrate, compare, latencies
from experiments.calibrate.samples import Sample
from pipeline.llm.attempt import Completion
from pipeline.llm.base import ChatClient


def test_ks_statistic():
    assert ks_statistic([1, 2, 3], [1, 2, 3]) == 0.0
    assert ks_statistic([1, 2], [3, 4]) == 1.0
    assert ks_statistic([1, 2, 3, 4], [3, 4, 5, 6]) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        ks_statistic([], [1.0])


def test_distance_median_ratio():
    d = distance([1.0, 2.0, 3.0], [1.1, 2.2, 3.3])
    assert d.median_ratio == pytest.approx(1.1)
    assert d.within(0.2) and not d.within(0.05)
    assert (d.measured, d.simulated) == (3, 3)


class FakeServer(ChatClient):
    """Answers ``slots`` requests at once; the rest queue (counted, never slept for)."""

    def __init__(self, *, fail_every: int = 0) -> None:
        super().__init__(client_settings("http://127.0.0.1:9/v1", "fake", Plan(steps=())))
        self.in_flight = self.max_in_flight = self.calls = 0
        self.fail_every = fail_every

    async def _exchange(self, body: dict[str, Any], headers: dict[str, str],
                        timeout_s: float | None) -> Completion:
        self.calls += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        timer = self._start()
        for _ in range(3):  # let the other lanes start
            await asyncio.sleep(0)
        self.in_flight -= 1
        if self.fail_every and self.calls % self.fail_every == 0:
            raise self._status_failure(timer.record(503, {}), {}, code=None, error_type=None,
                                       message="overloaded")
        tokens = body["max_tokens"]
        parsed = {"choices": [{"message": {"content": "an answer"}, "finish_reason": "length"}],
                  "usage": {"prompt_tokens": 9, "completion_tokens": tokens}}
        return self._completion(timer.record(200, {}), parsed)


def test_run_plan_keeps_each_step_in_flight_and_classifies_outcomes():
    plan = Plan(steps=(Step("tokens", 1, 8, 3), Step("concurrency", 4, 16, 8),
                       Step("burst", 6, 4, 6)), warmup=1)
    server = FakeServer(fail_every=5)
    samples = asyncio.run(run_plan(server, plan))
    assert server.calls == plan.total_requests == 18
    assert server.max_in_flight == 6  # the burst, all at once
    assert [s.phase for s in samples].count("concurrency") == 8
    ok = [s for s in samples if s.ok]
    assert all(s.completion_tokens == s.max_tokens and s.prompt_tokens == 9 for s in ok)
    assert {s.outcome for s in samples} == {"ok", "503"}


def test_the_api_key_goes_only_to_allowed_urls(monkeypatch):
    monkeypatch.setenv("HARNESS_LLM_API_KEY", "sk-secret")
    monkeypatch.setenv("HARNESS_LLM_ALLOWED_BASE_URLS", "https://api.example.com/v1")
    plan = default_plan()
    allowed = client_settings("https://api.example.com/v1", "m", plan)
    assert allowed.api_key.get_secret_value() == "sk-secret"
    local = client_settings("http://127.0.0.1:8088/v1", "m", plan)
    assert local.api_key.get_secret_value() == NO_KEY
    assert local.max_connections == 32 and not local.send_reference


def synthetic_measured(plan: Plan, *, fixed: float, median: float, sigma: float,
                       per_token: float, slots: int, seed: int = 3) -> list[Sample]:
    """What the simulator's own model would measure: tokens to max_tokens, ``slots`` at once."""
    rng = random.Random(seed)
    out = []
    for step in plan.steps:
        waves = math.ceil(min(step.concurrency, step.requests) / slots)
        for _ in range(step.requests):
            one = fixed + rng.lognormvariate(math.log(median), sigma) + per_token * step.max_tokens
            out.append(Sample(step.phase, step.concurrency, step.max_tokens, one * waves, "ok", 200,
                              9, step.max_tokens, "length"))
    return out


def small_plan() -> Plan:
    return default_plan(token_levels=(8, 32), repeats=8, concurrency_levels=(1, 2, 4), burst=8,
                        timeout_s=10)


def test_calibrate_fits_and_simulates_the_same_plan():
    plan = small_plan()
    measured = synthetic_measured(plan, fixed=0.005, median=0.02, sigma=0.2, per_token=0.0005,
                                  slots=2)
    cal = calibrate("http://user:pw@127.0.0.1:9/v1", "fake", plan,
                    measure_fn=lambda _u, _m, _p: measured)
    assert cal.base_url == "http://127.0.0.1:9/v1"  # redacted
    assert cal.fit.concurrency.slots == 2
    assert len(cal.simulated) == len(measured)
    assert set(cal.distances) == {"tokens", "concurrency", "burst"}
    # The simulation runs in real time, so a busy machine only adds latency to it (KS 0.81 with
    # the simulated median 0.107 s against 0.037 s under a load of 12): the fit must not be faster
    # than what was measured. The closeness of the two distributions is checked against the
    # simulator server in tests/integration (a known profile recovered within 20 %).
    tokens = cal.distances["tokens"]
    assert tokens.median_simulated_s >= 0.8 * tokens.median_measured_s, tokens
    assert cal.profile.concurrency.limit == 2


def fake_calibration() -> Calibration:
    plan = small_plan()
    measured = synthetic_measured(plan, fixed=0.1, median=0.3, sigma=0.3, per_token=0.01, slots=1)
    simulated = synthetic_measured(plan, fixed=0.1, median=0.3, sigma=0.3, per_token=0.01, slots=1,
                                   seed=4)
    cal = Calibration("http://127.0.0.1:8088/v1", "SmolLM2-135M-Instruct.Q4_1.gguf", plan,
                      measured, fit_all(measured), simulated, measured_s=12.0, simulated_s=11.0)
    cal.distances = compare(measured, simulated)
    return cal


def test_profile_name():
    assert report.profile_name("SmolLM2-135M-Instruct.Q4_1.gguf") == "smollm2-135m-instruct-q4-1"
    assert report.profile_name("org/Model") == "model"
    assert report.profile_name("///") == "endpoint"


def test_write_profile_and_report(tmp_path: Path):
    cal = fake_calibration()
    md = report.write(cal, tmp_path / "profiles" / "smol.yaml", tmp_path / "report")
    spec = spec_module.load(tmp_path / "profiles" / "smol.yaml")  # a spec over demo
    assert spec["llm"]["backend"] == "simulator"
    assert spec["llm"]["profile"] == "instant"
    assert spec["llm"]["profile_overrides"] == cal.overrides
    assert spec["arrival"] == spec_module.load(spec_module_demo())["arrival"]
    text = md.read_text()
    assert "KS statistic" in text and f"{cal.distances['tokens'].ks:.3f}" in text
    assert "1 parallel slot" in text and "queues" in text
    assert (tmp_path / "report" / "latency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((tmp_path / "report" / "calibration.json").read_text())
    assert len(data["measured"]) == len(cal.measured)
    assert Sample.from_dict(data["simulated"][0]) == cal.simulated[0]
    assert data["distances"]["tokens"]["median_ratio"] == pytest.approx(cal.distances["tokens"].median_ratio)
    assert latencies(cal.measured, "tokens")


def spec_module_demo() -> Path:
    from foundation.repo import REPO_ROOT

    return REPO_ROOT / "experiments" / "specs" / "demo.yaml"


def test_paths_inside_the_repository_are_shown_relative(tmp_path: Path):
    from foundation.repo import REPO_ROOT

    assert report.shown(REPO_ROOT / "experiments" / "profiles" / "x.yaml") == "experiments/profiles/x.yaml"
    assert report.shown(tmp_path / "x.yaml") == str(tmp_path / "x.yaml")
