"""What one LLM call attempt looked like, and the results and errors built around it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from pipeline.retry.errors import ClassifiedError, ErrorClass, Failure


@dataclass(slots=True)
class LLMAttempt:
    """One HTTP attempt: times (epoch seconds), outcome, and the response headers of interest."""

    started_at: float
    ended_at: float
    status: int | None
    """HTTP status; None when no response arrived (connect error, timeout)."""
    error_class: ErrorClass | None
    """None for a good completion."""
    error_code: str | None = None
    error_type: str | None = None
    message: str | None = None
    retry_after_s: float | None = None
    headers: dict[str, str] = field(default_factory=dict)
    request_id: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None

    @property
    def latency_s(self) -> float:
        return self.ended_at - self.started_at

    @property
    def ok(self) -> bool:
        return self.error_class is None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["error_class"] = None if self.error_class is None else str(self.error_class)
        data["latency_s"] = self.latency_s
        return data


@dataclass(slots=True)
class Completion:
    text: str
    model: str | None
    finish_reason: str | None
    attempt: LLMAttempt
    response_id: str | None = None


class LLMCallError(ClassifiedError):
    """A failed attempt, classified; ``attempt`` is its full record."""

    def __init__(self, message: str, failure: Failure, attempt: LLMAttempt) -> None:
        super().__init__(message, failure)
        self.attempt = attempt
