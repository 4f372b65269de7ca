"""docs/errors-and-retries.md#error-classes: every failure maps to exactly one error class."""

from __future__ import annotations

import pytest

from pipeline.llm.classify import classify_response, classify_status
from pipeline.retry.errors import ErrorClass

OVL, RATE, QUOTA, INVALID = (
    ErrorClass.OVERLOAD,
    ErrorClass.RATE_LIMITED,
    ErrorClass.QUOTA_EXHAUSTED,
    ErrorClass.INVALID_REQUEST,
)


@pytest.mark.parametrize(
    ("status", "code", "error_type", "message", "expected"),
    [
        (None, None, None, None, OVL),  # connect error / timeout
        (500, None, "server_error", None, OVL),
        (502, None, None, None, OVL),
        (503, None, "server_error", None, OVL),
        (504, None, None, None, OVL),
        (529, None, "overloaded_error", "Overloaded", OVL),
        (408, None, None, None, OVL),
        (429, "rate_limit_exceeded", "requests", None, RATE),
        (429, "rate_limit_exceeded", "tokens", None, RATE),
        (429, "slow_down", None, None, RATE),
        (503, "slow_down", None, None, RATE),
        (429, None, None, None, RATE),
        (429, "insufficient_quota", "insufficient_quota", None, QUOTA),
        (429, None, "insufficient_quota", None, QUOTA),
        (400, None, "invalid_request_error", None, INVALID),
        (401, "invalid_api_key", "invalid_request_error", None, INVALID),
        (403, None, None, None, INVALID),
        (404, "model_not_found", None, None, INVALID),
        (422, None, None, None, INVALID),
        (413, None, None, None, INVALID),
        (400, None, None, "The engine is currently overloaded", OVL),
    ],
)
def test_classify_status(status, code, error_type, message, expected) -> None:
    assert classify_status(status, code=code, error_type=error_type, message=message) is expected


def test_rate_limit_hint_prefers_retry_after_then_matching_reset_header() -> None:
    headers = {"x-ratelimit-reset-requests": "2s", "x-ratelimit-reset-tokens": "6m0s"}
    assert classify_response(429, headers, code="rate_limit_exceeded", error_type="requests").retry_after_s == 2.0
    assert classify_response(429, headers, code="rate_limit_exceeded", error_type="tokens").retry_after_s == 360.0
    with_hint = {**headers, "retry-after-ms": "250"}
    failure = classify_response(429, with_hint, code="rate_limit_exceeded", error_type="tokens")
    assert failure.retry_after_s == 0.25 and failure.status == 429 and failure.code == "rate_limit_exceeded"


def test_hint_from_message_as_last_resort() -> None:
    failure = classify_response(429, {}, code="rate_limit_exceeded", message="Please try again in 20s.")
    assert failure.retry_after_s == 20.0


def test_overload_hint_only_from_retry_after() -> None:
    assert classify_response(503, {"retry-after": "3"}).retry_after_s == 3.0
    assert classify_response(503, {"x-ratelimit-reset-requests": "3s"}).retry_after_s is None
