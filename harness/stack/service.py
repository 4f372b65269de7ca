"""One supervised process of the local stack: how it is started, where it answers, how its
readiness is probed. The infrastructure (:mod:`harness.stack.services`) and the pipeline's own
services (:mod:`harness.stack.pipeline_services`) are both lists of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.stack import probes


@dataclass
class Service:
    """One supervised process."""

    name: str
    command: list[str]
    url: str
    probe: probes.Probe
    phase: int  # services start phase by phase; each phase waits for the previous one's readiness
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    directory: Path | None = None
    stop_signal: str = "TERM"
    stop_wait_s: int = 30
    group: str = "infra"
