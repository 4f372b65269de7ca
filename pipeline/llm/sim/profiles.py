"""Fault profiles of the LLM simulator: plain data (pydantic), JSON in and out, with a seed.

A fault's window is counted either in seconds (:class:`Window`) or in requests
(:class:`RequestWindow`), both from the moment the profile was activated (server start or
``PUT /admin/profile``). A time window with ``every_s > 0`` repeats with that period;
``duration_s`` None means "until the profile changes". A request window covers the requests
numbered ``[after_requests, after_requests + requests)`` (0-based, counting every request the
engine plans, whatever its outcome); ``requests`` None means "from then on". Request windows
behave the same on a fast and on a slow machine, which is what tests need; time windows model
experiments' wall-clock scenarios.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ErrorStatus = Literal[500, 502, 503, 504, 529]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Window(_Model):
    """``[start_s, start_s + duration_s)`` after activation, repeating every ``every_s`` if > 0."""

    start_s: float = Field(default=0.0, ge=0)
    duration_s: float | None = Field(default=None, gt=0)
    every_s: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _period_covers_duration(self) -> Window:
        if self.every_s > 0 and (self.duration_s is None or self.duration_s > self.every_s):
            raise ValueError("a repeating window needs duration_s <= every_s")
        return self

    def active(self, t: float) -> bool:
        if t < self.start_s:
            return False
        offset = t - self.start_s
        if self.every_s > 0:
            offset %= self.every_s
        return self.duration_s is None or offset < self.duration_s


class RequestWindow(_Model):
    """Requests number ``[after_requests, after_requests + requests)`` since activation (0-based).

    ``{"requests": 3}`` is "the next 3 requests"; ``{"after_requests": 20}`` is "every request
    after the first 20".
    """

    after_requests: int = Field(default=0, ge=0, description="Requests let through before the window opens.")
    requests: int | None = Field(default=None, gt=0, description="Requests the window covers; None = all later ones.")

    def active(self, n: int) -> bool:
        """Whether request number ``n`` (0-based since activation) falls in the window."""
        if n < self.after_requests:
            return False
        return self.requests is None or n < self.after_requests + self.requests


#: A window in seconds or in requests. ``{}`` is a time window (always active); a dict with
#: ``after_requests`` or ``requests`` is a request window (extra fields are forbidden, so the
#: first model that accepts a dict is the only one that can).
AnyWindow = Annotated[Window | RequestWindow, Field(union_mode="left_to_right")]


def window_active(window: Window | RequestWindow | None, t: float, n: int) -> bool:
    """Whether ``window`` is open at ``t`` seconds / request ``n`` since activation (None: always)."""
    if window is None:
        return True
    if isinstance(window, RequestWindow):
        return window.active(n)
    return window.active(t)


class Latency(_Model):
    """``fixed_s + lognormal(median_s, sigma) + per_token_s * completion_tokens``."""

    fixed_s: float = Field(default=0.0, ge=0)
    median_s: float = Field(default=0.0, ge=0, description="Median of the lognormal part; 0 = none.")
    sigma: float = Field(default=0.0, ge=0, le=5)
    per_token_s: float = Field(default=0.0, ge=0)


class Concurrency(_Model):
    limit: int = Field(default=0, ge=0, description="Requests processed at once; 0 = unlimited.")
    max_queue: int = Field(default=1000, ge=0, description="Requests waiting for a slot before rejection.")
    reject_status: ErrorStatus = 503


class RateLimits(_Model):
    """Token buckets, as OpenAI's: capacity = the per-minute limit, refilled continuously."""

    requests_per_min: int = Field(default=0, ge=0, description="0 = no request limit.")
    tokens_per_min: int = Field(default=0, ge=0, description="0 = no token limit.")
    retry_after: Literal["both", "seconds", "ms", "none"] = "both"
    headers: bool = Field(default=True, description="Send x-ratelimit-* headers on every response.")
    refill: bool = Field(
        default=True,
        description=(
            "False: the buckets never refill, so they hold exactly requests_per_min requests and "
            "tokens_per_min tokens until the profile changes; Retry-After and x-ratelimit-* are "
            "then those of a bucket at activation time (the same on any machine, for tests)."
        ),
    )
    default_max_tokens: int = Field(
        default=256, ge=1, description="Completion tokens charged when a request gives no max_tokens."
    )


class ErrorRule(_Model):
    """Answer ``status`` with ``probability`` (while ``window`` is active, if given)."""

    status: ErrorStatus = 503
    probability: float = Field(default=1.0, ge=0, le=1)
    window: AnyWindow | None = None
    retry_after_s: float | None = Field(default=None, ge=0, description="Send Retry-After with the error.")


class Hang(_Model):
    """Hold the request ``duration_s`` (past any sane client deadline), then answer 504."""

    probability: float = Field(default=0.0, ge=0, le=1)
    duration_s: float = Field(default=120.0, gt=0)
    window: AnyWindow | None = None


class Quality(_Model):
    """Closeness to the reference drawn from ``clip(normal(mean, spread), 0, 1)`` per answer."""

    mean: float = Field(default=0.7, ge=0, le=1)
    spread: float = Field(default=0.15, ge=0, le=1)
    min_words: int = Field(default=20, ge=1)
    max_words: int = Field(default=120, ge=1)

    @model_validator(mode="after")
    def _words(self) -> Quality:
        if self.min_words > self.max_words:
            raise ValueError("min_words must be <= max_words")
        return self


class Profile(_Model):
    name: str = "custom"
    description: str = ""
    seed: int = 0
    latency: Latency = Latency()
    concurrency: Concurrency = Concurrency()
    rate_limits: RateLimits = RateLimits()
    quota_windows: list[AnyWindow] = Field(
        default_factory=list, description="While any is active: 429 insufficient_quota."
    )
    errors: list[ErrorRule] = Field(default_factory=list, description="Checked in order; first hit wins.")
    hang: Hang = Hang()
    empty_probability: float = Field(default=0.0, ge=0, le=1)
    malformed_probability: float = Field(default=0.0, ge=0, le=1)
    quality: Quality = Quality()


_HEALTHY: dict[str, Any] = {
    "description": "No faults; realistic latency (lognormal, median 200 ms).",
    "latency": {"fixed_s": 0.02, "median_s": 0.2, "sigma": 0.5},
}

NAMED_PROFILES: dict[str, dict[str, Any]] = {
    "healthy": _HEALTHY,
    "instant": {"description": "No faults and zero latency (benchmarks, tests)."},
    "flaky": {
        **_HEALTHY,
        "description": "About 5% of requests fail with 503.",
        "errors": [{"status": 503, "probability": 0.05}],
    },
    "rate_limited": {
        **_HEALTHY,
        "description": "300 requests/min and 150k tokens/min token buckets; 429s with Retry-After.",
        "rate_limits": {"requests_per_min": 300, "tokens_per_min": 150_000},
    },
    "quota_window": {
        **_HEALTHY,
        "description": "Quota exhausted (429 insufficient_quota) for 15 s of every 60 s, from t=30 s.",
        "quota_windows": [{"start_s": 30, "duration_s": 15, "every_s": 60}],
    },
    "quota_out": {
        **_HEALTHY,
        "description": "The account's quota runs out at t=10 s and does not come back (429 insufficient_quota).",
        "quota_windows": [{"start_s": 10}],
    },
    "brownout": {
        **_HEALTHY,
        "description": "For 20 s of every 60 s (from t=20 s): 30% 503, 10% 529, slow tail; 1% 500 always.",
        "errors": [
            {"status": 503, "probability": 0.3, "window": {"start_s": 20, "duration_s": 20, "every_s": 60}},
            {"status": 529, "probability": 0.15, "window": {"start_s": 20, "duration_s": 20, "every_s": 60}},
            {"status": 500, "probability": 0.01},
        ],
        "hang": {"probability": 0.02, "duration_s": 120, "window": {"start_s": 20, "duration_s": 20, "every_s": 60}},
    },
    "slow": {
        **_HEALTHY,
        "description": "No faults, every answer takes about 2 minutes (long drains; set the "
        "attempt timeout, llm.timeout_s, above 150 s).",
        "latency": {"fixed_s": 120.0, "median_s": 2.0, "sigma": 0.3},
    },
    "outage": {
        **_HEALTHY,
        "description": "Total outage (every request 503) for 30 s of every 120 s, from t=15 s.",
        "errors": [
            {"status": 503, "probability": 1.0, "window": {"start_s": 15, "duration_s": 30, "every_s": 120}}
        ],
    },
}


def _deep_merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


class UnknownProfileError(ValueError):
    pass


#: keys that name or label a profile without shaping it
_LABELS = frozenset({"name", "seed", "description"})


def resolve_profile(spec: str | Mapping[str, Any] | Profile) -> Profile:
    """A profile from a name, or from a dict whose ``name`` (if it names a shipped profile) is the
    base and whose other keys override it (nested objects merge; lists replace).

    ``{"name": "healthy", "latency": {"median_s": 0}}`` is "healthy without the lognormal part".
    Raises :class:`UnknownProfileError` or pydantic's ``ValidationError``.
    """
    if isinstance(spec, Profile):
        return spec
    if isinstance(spec, str):
        spec = {"name": spec}
        if spec["name"] not in NAMED_PROFILES:
            raise UnknownProfileError(f"unknown profile {spec['name']!r}; known: {sorted(NAMED_PROFILES)}")
    name = spec.get("name", "custom")
    if name not in NAMED_PROFILES and not set(spec) - _LABELS:
        # {"name": "quota_ot"} would otherwise be a custom profile with no faults at all.
        raise UnknownProfileError(
            f"unknown profile {name!r}; known: {sorted(NAMED_PROFILES)} "
            "(a custom profile sets at least one fault or latency field)"
        )
    base = NAMED_PROFILES.get(name, {})
    return Profile.model_validate(_deep_merge({**base, "name": name}, spec))
