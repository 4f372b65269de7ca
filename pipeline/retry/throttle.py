"""gRPC retry throttling (gRFC A6, "retryThrottling"): a token count shared by all calls.

``token_count`` starts at ``max_tokens``; each failed attempt takes 1 token, each success gives
back ``token_ratio``; retries are allowed only while ``token_count > max_tokens / 2``. When a
dependency fails most calls, retries stop on their own, and come back as successes refill it.
"""

from __future__ import annotations


class RetryThrottle:
    def __init__(self, max_tokens: float, token_ratio: float) -> None:
        if max_tokens <= 0:
            raise ValueError("max_tokens must be > 0")
        if token_ratio <= 0:
            raise ValueError("token_ratio must be > 0")
        self.max_tokens = float(max_tokens)
        self.token_ratio = float(token_ratio)
        self.token_count = float(max_tokens)

    def record_failure(self) -> None:
        self.token_count = max(0.0, self.token_count - 1.0)

    def record_success(self) -> None:
        self.token_count = min(self.max_tokens, self.token_count + self.token_ratio)

    def allows_retry(self) -> bool:
        return self.token_count > self.max_tokens / 2.0
