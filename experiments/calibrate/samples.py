"""One measured request of a calibration (:class:`Sample`) and how its outcome is named."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from experiments.calibrate.plan import Phase

#: what became of a request: a completion, a status the server answered, or no answer at all
Outcome = Literal["ok", "429", "503", "5xx", "4xx", "bad_completion", "timeout", "connection_error"]
REJECTIONS: tuple[Outcome, ...] = ("429", "503", "5xx")


def outcome_of(status: int | None, ok: bool, message: str = "") -> Outcome:
    """The outcome of one attempt from its HTTP status (None: no response) and whether it
    returned a completion; ``message`` tells a timeout from a refused or dropped connection."""
    if ok:
        return "ok"
    if status is None:
        return "timeout" if message.startswith("timeout") else "connection_error"
    if status == 429:
        return "429"
    if status == 503:
        return "503"
    if status >= 500:
        return "5xx"
    if 200 <= status < 300:
        return "bad_completion"
    return "4xx"


@dataclass(frozen=True)
class Sample:
    """One request of the plan: its step, latency (s) and what the server said about tokens."""

    phase: Phase
    concurrency: int
    max_tokens: int
    latency_s: float
    outcome: Outcome
    status: int | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None
    retry_after_s: float | None = None
    started_at: float = 0.0
    """When the request was sent (epoch seconds; 0 = unknown): a step's wall time, hence its
    throughput."""

    @property
    def ended_at(self) -> float:
        return self.started_at + self.latency_s

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Sample:
        return cls(**data)
