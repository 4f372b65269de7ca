"""Classifying LLM call outcomes by status, code and headers (docs/errors-and-retries.md#error-classes).

| class           | detected from                                                           |
|-----------------|-------------------------------------------------------------------------|
| overload        | 5xx (500/502/503/504/529...), 408/409, "overloaded", connect errors, timeouts |
| rate_limited    | 429 with code rate_limit_exceeded / slow_down (or any other 429), 503 slow_down |
| quota_exhausted | 429 with code or type insufficient_quota                                |
| invalid_request | 400, 401, 403, 404, 422 and any other 4xx                               |
| bad_completion  | 2xx with an empty or unparseable completion                             |

The retry hint: ``retry-after-ms`` / ``retry-after`` first; for rate limits without one, the
matching ``x-ratelimit-reset-*`` header, then the message's "try again in ...".
"""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.llm.headers import parse_ratelimit_reset, parse_retry_after, parse_try_again
from pipeline.retry.errors import ErrorClass, Failure

QUOTA_CODES = frozenset({"insufficient_quota"})
RATE_LIMIT_CODES = frozenset({"rate_limit_exceeded", "slow_down"})
OVERLOAD_STATUSES = frozenset({408, 409})


def classify_status(
    status: int | None,
    *,
    code: str | None = None,
    error_type: str | None = None,
    message: str | None = None,
) -> ErrorClass:
    """The class of a failed response (``status`` None = no response: connect error or timeout)."""
    if status is None:
        return ErrorClass.OVERLOAD
    code_l = (code or "").lower()
    type_l = (error_type or "").lower()
    if status == 429:
        if code_l in QUOTA_CODES or type_l in QUOTA_CODES:
            return ErrorClass.QUOTA_EXHAUSTED
        return ErrorClass.RATE_LIMITED
    if code_l == "slow_down":
        return ErrorClass.RATE_LIMITED
    if status >= 500 or status in OVERLOAD_STATUSES:
        return ErrorClass.OVERLOAD
    if "overloaded" in type_l or "overloaded" in (message or "").lower():
        return ErrorClass.OVERLOAD
    if 400 <= status < 500:
        return ErrorClass.INVALID_REQUEST
    # A 1xx/3xx that reached us as a failure: the body could not be a completion.
    return ErrorClass.BAD_COMPLETION


def retry_hint(
    error_class: ErrorClass,
    headers: Mapping[str, str],
    *,
    error_type: str | None = None,
    message: str | None = None,
) -> float | None:
    """Seconds the server asked us to wait, if it said so."""
    hint = parse_retry_after(headers)
    if hint is not None:
        return hint
    if error_class is ErrorClass.RATE_LIMITED:
        kind = error_type if error_type in ("requests", "tokens") else None
        hint = parse_ratelimit_reset(headers, kind)
        if hint is not None:
            return hint
    if error_class in (ErrorClass.RATE_LIMITED, ErrorClass.QUOTA_EXHAUSTED):
        return parse_try_again(message)
    return None


def classify_response(
    status: int | None,
    headers: Mapping[str, str] | None = None,
    *,
    code: str | None = None,
    error_type: str | None = None,
    message: str | None = None,
) -> Failure:
    """Class and retry hint of a failed response, as a :class:`Failure`."""
    error_class = classify_status(status, code=code, error_type=error_type, message=message)
    hint = retry_hint(error_class, headers or {}, error_type=error_type, message=message)
    return Failure(error_class, retry_after_s=hint, status=status, code=code)
