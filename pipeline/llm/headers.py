"""Parsing of the retry hints that OpenAI-compatible servers send.

* ``retry-after-ms``: milliseconds (float);
* ``retry-after``: seconds, or an HTTP date (RFC 9110 §10.2.3);
* ``x-ratelimit-reset-requests`` / ``x-ratelimit-reset-tokens``: a Go-style duration such as
  ``"6m0s"``, ``"1s"``, ``"20ms"``, ``"1h2m3.5s"`` (time until the limit is fully replenished);
* the error message's "Please try again in 20s." as a last resort.
"""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Mapping

HEADERS_OF_INTEREST: tuple[str, ...] = (
    "retry-after",
    "retry-after-ms",
    "x-ratelimit-limit-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-requests",
    "x-ratelimit-reset-tokens",
    "x-request-id",
    "openai-processing-ms",
    "x-sim-outcome",
    "x-sim-closeness",
)

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_TRY_AGAIN = re.compile(r"try again in\s+([0-9.]+(?:ns|us|µs|ms|s|m|h)(?:[0-9.]+(?:ns|us|µs|ms|s|m|h))*)", re.I)


def parse_duration(text: str | None) -> float | None:
    """Seconds in a Go-style duration (``"6m0s"``, ``"20ms"``, ``"1.5s"``); a bare number is seconds.

    Returns None for anything unparseable.
    """
    if text is None:
        return None
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        return value if math.isfinite(value) and value >= 0 else None
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            return None
        total += float(match.group(1)) * _UNIT_S[match.group(2)]
        pos = match.end()
    return total if pos == len(text) else None


def format_duration(seconds: float) -> str:
    """The inverse, in OpenAI's style: ``"20ms"``, ``"1.5s"``, ``"6m0s"``, ``"1h0m0s"``."""
    seconds = max(0.0, seconds)
    if seconds < 1.0:
        return f"{round(seconds * 1000)}ms"
    if seconds < 60.0:
        return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"
    hours, rest = divmod(seconds, 3600.0)
    minutes, secs = divmod(rest, 60.0)
    sec_text = f"{secs:.3f}".rstrip("0").rstrip(".")
    if hours:
        return f"{int(hours)}h{int(minutes)}m{sec_text}s"
    return f"{int(minutes)}m{sec_text}s"


def _get(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = headers.get(name.title())
    return value


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """The Retry-After hint in seconds: ``retry-after-ms`` first, then ``retry-after``."""
    ms = _get(headers, "retry-after-ms")
    if ms is not None:
        try:
            value = float(ms) / 1000.0
        except ValueError:
            value = math.nan
        if math.isfinite(value) and value >= 0:
            return value
    raw = _get(headers, "retry-after")
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        return max(0.0, parsed.timestamp() - (time.time() if now is None else now))
    return value if math.isfinite(value) and value >= 0 else None


def parse_ratelimit_reset(headers: Mapping[str, str], kind: str | None = None) -> float | None:
    """Seconds until the ``kind`` (``requests`` / ``tokens``) limit resets; both kinds -> the max."""
    kinds = [kind] if kind in ("requests", "tokens") else ["requests", "tokens"]
    values = [parse_duration(_get(headers, f"x-ratelimit-reset-{k}")) for k in kinds]
    present = [v for v in values if v is not None]
    return max(present) if present else None


def parse_try_again(message: str | None) -> float | None:
    """Seconds from a message like "... Please try again in 6m0s. ..."."""
    if not message:
        return None
    match = _TRY_AGAIN.search(message)
    return parse_duration(match.group(1)) if match else None


def headers_of_interest(headers: Mapping[str, str]) -> dict[str, str]:
    """The subset of response headers an attempt record keeps."""
    out = {}
    for name in HEADERS_OF_INTEREST:
        value = _get(headers, name)
        if value is not None:
            out[name] = value
    return out
