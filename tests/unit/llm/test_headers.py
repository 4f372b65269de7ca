"""Parsing of Retry-After, retry-after-ms, x-ratelimit-reset-* and "try again in"."""

from __future__ import annotations

import email.utils

import pytest

from pipeline.llm.headers import (
    format_duration,
    headers_of_interest,
    parse_duration,
    parse_ratelimit_reset,
    parse_retry_after,
    parse_try_again,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("6m0s", 360.0),
        ("1s", 1.0),
        ("20ms", 0.02),
        ("8.64s", 8.64),
        ("1m32.5s", 92.5),
        ("1h2m3s", 3723.0),
        ("250us", 0.00025),
        ("0s", 0.0),
        ("2.5", 2.5),
        (" 3s ", 3.0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", [None, "", "soon", "5 s", "1x", "-3", "s", "1s2", "nan"])
def test_parse_duration_rejects_junk(text: str | None) -> None:
    assert parse_duration(text) is None


@pytest.mark.parametrize("seconds", [0.02, 0.999, 1.0, 8.64, 59.5, 60.0, 360.0, 3723.0])
def test_format_duration_round_trips(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds, abs=1e-3)


def test_format_duration_looks_like_openai() -> None:
    assert [format_duration(s) for s in (0.02, 1, 360, 3723)] == ["20ms", "1s", "6m0s", "1h2m3s"]


def test_retry_after_ms_takes_precedence() -> None:
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert parse_retry_after({"retry-after": "9"}) == 9.0
    assert parse_retry_after({"retry-after-ms": "junk", "retry-after": "2"}) == 2.0
    assert parse_retry_after({}) is None
    assert parse_retry_after({"retry-after": "whenever"}) is None


def test_retry_after_http_date() -> None:
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after({"retry-after": date}, now=now) == pytest.approx(30.0)


def test_ratelimit_reset_by_kind() -> None:
    headers = {"x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "6m0s"}
    assert parse_ratelimit_reset(headers, "requests") == 1.0
    assert parse_ratelimit_reset(headers, "tokens") == 360.0
    assert parse_ratelimit_reset(headers) == 360.0
    assert parse_ratelimit_reset({}, "tokens") is None


def test_try_again_in_message() -> None:
    message = "Rate limit reached for gpt-4o on tokens per min (TPM): Limit 30000. Please try again in 1m2.5s. Visit ..."
    assert parse_try_again(message) == 62.5
    assert parse_try_again("Please try again in 20ms.") == 0.02
    assert parse_try_again("no hint here") is None


def test_headers_of_interest_keeps_only_known_names() -> None:
    kept = headers_of_interest({"retry-after": "1", "x-ratelimit-remaining-requests": "0", "set-cookie": "x", "server": "y"})
    assert kept == {"retry-after": "1", "x-ratelimit-remaining-requests": "0"}
