"""A whole calibration: measure an endpoint, fit the simulator to it, run the same plan against
the simulator with the fitted profile (in-process, :class:`SimulatorThread`), and compare.

:func:`calibrate` returns a :class:`Calibration`; :mod:`experiments.calibrate.report` writes it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from experiments.calibrate.distance import Distance, distance
from experiments.calibrate.fit import CalibrationFit, fit_all
from experiments.calibrate.measure import Progress, measure
from experiments.calibrate.plan import Phase, Plan
from experiments.calibrate.samples import Sample
from experiments.spec import simulator_profile
from pipeline.llm.allowlist import redact
from pipeline.llm.sim.profiles import Profile
from pipeline.llm.sim.runner import SimulatorThread

log = logging.getLogger(__name__)

#: the named profile the fitted overrides apply to (no faults, no latency of its own)
BASE_PROFILE = "instant"
#: the phases whose latencies are compared (a burst's are, too, when every request was answered)
COMPARED: tuple[Phase, ...] = ("tokens", "concurrency", "burst")

Measure = Callable[[str, str, Plan], list[Sample]]


@dataclass
class Calibration:
    base_url: str
    """Redacted: scheme, host, port and path only."""
    model: str
    plan: Plan
    measured: list[Sample]
    fit: CalibrationFit
    simulated: list[Sample] = field(default_factory=list)
    distances: dict[str, Distance] = field(default_factory=dict)
    measured_s: float = 0.0
    simulated_s: float = 0.0
    started_at: float = field(default_factory=time.time)

    @property
    def overrides(self) -> dict[str, Any]:
        return self.fit.overrides()

    @property
    def profile(self) -> Profile:
        return simulator_profile(BASE_PROFILE, self.overrides)


def latencies(samples: Sequence[Sample], phase: Phase | None = None) -> list[float]:
    """Latencies of the completions of ``phase`` (all phases: None)."""
    return [s.latency_s for s in samples if s.ok and (phase is None or s.phase == phase)]


def compare(measured: Sequence[Sample], simulated: Sequence[Sample]) -> dict[str, Distance]:
    """A :class:`Distance` per phase that both sides completed requests in."""
    out: dict[str, Distance] = {}
    for phase in COMPARED:
        a, b = latencies(measured, phase), latencies(simulated, phase)
        if a and b:
            out[phase] = distance(a, b)
    return out


def simulate(overrides: Mapping[str, Any], plan: Plan, *, seed: int = 0,
             progress: Progress | None = None) -> list[Sample]:
    """The plan against the simulator with the fitted profile, in a thread of this process."""
    profile = simulator_profile(BASE_PROFILE, overrides).model_copy(update={"seed": seed})
    with SimulatorThread(profile) as sim:
        return measure(sim.base_url, "sim-gpt", plan, progress=progress)


def calibrate(base_url: str, model: str, plan: Plan, *, seed: int = 0,
              progress: Progress | None = None, measure_fn: Measure | None = None) -> Calibration:
    """Measure ``base_url``, fit, simulate and compare. ``measure_fn`` replaces the measuring
    client (a unit test's seam); the simulated side always runs the real simulator."""
    say = progress or (lambda _line: None)
    say(f"measuring {redact(base_url)} (model {model}): {plan.total_requests} requests")
    t0 = time.monotonic()
    measured = (measure_fn or (lambda u, m, p: measure(u, m, p, progress=say)))(base_url, model, plan)
    measured_s = time.monotonic() - t0
    fit = fit_all(measured)
    result = Calibration(redact(base_url), model, plan, measured, fit, measured_s=measured_s)
    say(f"fitted: {fit.overrides()}; running the same plan against the simulator")
    t0 = time.monotonic()
    result.simulated = simulate(result.overrides, plan, seed=seed, progress=say)
    result.simulated_s = time.monotonic() - t0
    result.distances = compare(measured, result.simulated)
    return result
