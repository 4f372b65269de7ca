"""An outage started by an admin call (``POST /admin/outage``), as opposed to a profile's windows.

While it lasts, every chat-completions request is answered at once with its status (503, 529,
...), before any of the profile's checks. It lasts until ``DELETE /admin/outage``, until
``duration_s`` has passed on the engine's clock, or until the profile is switched (a profile
switch starts everything afresh).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pipeline.llm.sim.profiles import ErrorStatus


class OutageRequest(BaseModel):
    """The body of ``POST /admin/outage``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: ErrorStatus = 503
    duration_s: float | None = Field(default=None, gt=0, description="None: until ended.")


@dataclass(frozen=True, slots=True)
class Outage:
    status: ErrorStatus
    started_at: float
    """On the engine's clock (monotonic seconds)."""
    duration_s: float | None = None
    """None: until ended by an admin call or a profile switch."""

    def __post_init__(self) -> None:
        if self.duration_s is not None and self.duration_s <= 0:
            raise ValueError("duration_s must be > 0 (or None for 'until ended')")

    def active(self, now: float) -> bool:
        return self.duration_s is None or now - self.started_at < self.duration_s

    def view(self, now: float) -> dict[str, Any]:
        """What the admin endpoints report: status, duration and what is left of it."""
        remaining = None if self.duration_s is None else max(0.0, self.started_at + self.duration_s - now)
        return {
            "active": self.active(now),
            "status": self.status,
            "duration_s": self.duration_s,
            "elapsed_s": now - self.started_at,
            "remaining_s": remaining,
        }
