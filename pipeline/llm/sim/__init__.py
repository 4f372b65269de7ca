"""An OpenAI-compatible chat-completions simulator with fault profiles and ground-truth counters.

See ``server.py`` for the HTTP surface, ``profiles.py`` for the fault model, ``runner.py`` for
starting it from tests (in-loop, thread, subprocess) and ``harness sim`` for the CLI.
"""

from pipeline.llm.sim.engine import SimEngine
from pipeline.llm.sim.outage import Outage
from pipeline.llm.sim.profiles import (
    NAMED_PROFILES,
    Concurrency,
    ErrorRule,
    Hang,
    Latency,
    Profile,
    Quality,
    RateLimits,
    RequestWindow,
    UnknownProfileError,
    Window,
    resolve_profile,
)
from pipeline.llm.sim.runner import (
    RunningSimulator,
    SimulatorAdmin,
    SimulatorProcess,
    SimulatorStartError,
    SimulatorThread,
    serve_simulator,
    start_simulator,
    wait_for_health,
)
from pipeline.llm.sim.settings import SimulatorSettings

__all__ = [
    "NAMED_PROFILES",
    "Concurrency",
    "ErrorRule",
    "Hang",
    "Latency",
    "Outage",
    "Profile",
    "Quality",
    "RateLimits",
    "RequestWindow",
    "RunningSimulator",
    "SimEngine",
    "SimulatorAdmin",
    "SimulatorProcess",
    "SimulatorSettings",
    "SimulatorStartError",
    "SimulatorThread",
    "UnknownProfileError",
    "Window",
    "resolve_profile",
    "serve_simulator",
    "start_simulator",
    "wait_for_health",
]
