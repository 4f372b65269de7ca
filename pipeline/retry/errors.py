"""The error vocabulary of the LLM client, retry policies and workers (docs/errors-and-retries.md).

Every failed call is reduced to a :class:`Failure`: an :class:`ErrorClass` plus the server's
retry hint, if it sent one. Exceptions that carry a ``Failure`` derive from :class:`ClassifiedError`,
so generic code (the worker's retry loop) can act on them without knowing where they came from.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.messages import ErrorClass as _MessageErrorClass

# One vocabulary, defined by the message contract (docs/errors-and-retries.md#error-classes):
# overload, rate_limited, quota_exhausted, invalid_request, bad_completion.
ErrorClass = _MessageErrorClass


@dataclass(frozen=True, slots=True)
class Failure:
    """A classified failure of one attempt."""

    error_class: ErrorClass
    retry_after_s: float | None = None
    """The server's own hint (Retry-After, retry-after-ms, x-ratelimit-reset-*), in seconds."""
    status: int | None = None
    """HTTP status, or None when no response arrived (connect error, timeout)."""
    code: str | None = None
    """Provider error code, e.g. ``rate_limit_exceeded`` or ``insufficient_quota``."""


class ClassifiedError(Exception):
    """An exception that knows its :class:`Failure`."""

    def __init__(self, message: str, failure: Failure) -> None:
        super().__init__(message)
        self.failure = failure

    @property
    def error_class(self) -> ErrorClass:
        return self.failure.error_class

    @property
    def retry_after_s(self) -> float | None:
        return self.failure.retry_after_s

