"""OpenAI-style rate limits: token buckets on requests/min and tokens/min, their 429 bodies and
the x-ratelimit-* headers.

Header meanings follow OpenAI's documentation: ``x-ratelimit-limit-*`` the per-minute limit,
``x-ratelimit-remaining-*`` what is left now, ``x-ratelimit-reset-*`` the time until the bucket
is full again, as a duration like ``"6m0s"`` or ``"20ms"``. A 429 carries ``retry-after`` (whole
seconds, rounded up) and/or ``retry-after-ms``: the time until the request would fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pipeline.llm.headers import format_duration
from pipeline.llm.sim.profiles import RateLimits
from pipeline.retry.clock import Clock
from pipeline.retry.token_bucket import TokenBucket

ORG = "org-harness-sim"
RATE_LIMIT_DOCS = "Visit https://platform.openai.com/account/rate-limits to learn more."


@dataclass(frozen=True, slots=True)
class RateLimitVerdict:
    kind: str
    """"requests" or "tokens" (the error body's ``type``)."""
    retry_after_s: float
    """inf when the request can never fit (larger than the whole bucket)."""
    message: str


class RateLimiter:
    def __init__(self, config: RateLimits, clock: Clock) -> None:
        self.config = config
        self.requests = (
            TokenBucket(config.requests_per_min, config.requests_per_min / 60.0, clock=clock)
            if config.requests_per_min
            else None
        )
        self.tokens = (
            TokenBucket(config.tokens_per_min, config.tokens_per_min / 60.0, clock=clock)
            if config.tokens_per_min
            else None
        )

    def check(self, tokens: int, model: str) -> RateLimitVerdict | None:
        """None (and both buckets charged) if the request fits; else why not."""
        if self.requests is not None:
            wait = self.requests.wait_time(1)
            if wait > 0:
                limit = self.config.requests_per_min
                used = limit - int(self.requests.available)
                return RateLimitVerdict(
                    "requests",
                    wait,
                    f"Rate limit reached for {model} in organization {ORG} on requests per min (RPM): "
                    f"Limit {limit}, Used {used}, Requested 1. Please try again in "
                    f"{format_duration(wait)}. {RATE_LIMIT_DOCS}",
                )
        if self.tokens is not None:
            limit = self.config.tokens_per_min
            if tokens > limit:
                return RateLimitVerdict(
                    "tokens",
                    math.inf,
                    f"Request too large for {model} in organization {ORG} on tokens per min (TPM): "
                    f"Limit {limit}, Requested {tokens}. The input or output tokens must be reduced "
                    f"in order to run successfully. {RATE_LIMIT_DOCS}",
                )
            wait = self.tokens.wait_time(tokens)
            if wait > 0:
                used = limit - int(self.tokens.available)
                return RateLimitVerdict(
                    "tokens",
                    wait,
                    f"Rate limit reached for {model} in organization {ORG} on tokens per min (TPM): "
                    f"Limit {limit}, Used {used}, Requested {tokens}. Please try again in "
                    f"{format_duration(wait)}. {RATE_LIMIT_DOCS}",
                )
        if self.requests is not None:
            self.requests.try_take(1)
        if self.tokens is not None:
            self.tokens.try_take(tokens)
        return None

    def headers(self) -> dict[str, str]:
        if not self.config.headers:
            return {}
        out: dict[str, str] = {}
        for kind, bucket, limit in (
            ("requests", self.requests, self.config.requests_per_min),
            ("tokens", self.tokens, self.config.tokens_per_min),
        ):
            if bucket is None:
                continue
            out[f"x-ratelimit-limit-{kind}"] = str(limit)
            out[f"x-ratelimit-remaining-{kind}"] = str(max(0, int(bucket.available)))
            out[f"x-ratelimit-reset-{kind}"] = format_duration(bucket.time_until_full())
        return out

    def retry_after_headers(self, retry_after_s: float) -> dict[str, str]:
        if not math.isfinite(retry_after_s):
            return {}
        mode = self.config.retry_after
        out: dict[str, str] = {}
        if mode in ("both", "seconds"):
            out["retry-after"] = str(max(1, math.ceil(retry_after_s)))
        if mode in ("both", "ms"):
            out["retry-after-ms"] = str(max(1, math.ceil(retry_after_s * 1000)))
        return out
