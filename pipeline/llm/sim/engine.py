"""The simulator's decisions, free of HTTP and of waiting: what each request gets, and after how long.

Order of checks, as a real provider's front door would do them: an admin-started outage ->
quota -> rate limits -> overload errors -> hang -> (the server then queues for a concurrency
slot) -> latency -> completion (empty / malformed / an answer from the quality model).

Fault windows are open by time since activation or by the request's number since activation
(:mod:`pipeline.llm.sim.profiles`); every planned request takes the next number, whatever its
outcome.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.llm.sim.counters import Counters
from pipeline.llm.sim.outage import Outage
from pipeline.llm.sim.profiles import ErrorStatus, Profile, window_active
from pipeline.llm.sim.quality import compose_answer, draw_closeness, words_to_tokens
from pipeline.llm.sim.ratelimit import RateLimiter
from pipeline.retry.clock import Clock

_ERROR_TEXT: dict[int, tuple[str, str]] = {
    500: ("The server had an error while processing your request. Sorry about that!", "server_error"),
    502: ("Bad gateway.", "server_error"),
    503: ("The server is overloaded or not ready yet.", "server_error"),
    504: ("Gateway timeout: the upstream did not answer in time.", "server_error"),
    529: ("Overloaded", "overloaded_error"),
}


def error_body(message: str, error_type: str, code: str | None = None, param: str | None = None) -> bytes:
    """The OpenAI error envelope."""
    return json.dumps(
        {"error": {"message": message, "type": error_type, "param": param, "code": code}}
    ).encode()


@dataclass(slots=True)
class SimRequest:
    model: str
    prompt_tokens: int
    max_tokens: int | None
    reference: str | None


@dataclass(slots=True)
class Reply:
    """An HTTP answer, to be sent after ``delay_s`` (while holding a concurrency slot)."""

    outcome: str
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    immediate: bool = True
    """True for front-door rejections, which skip the concurrency queue."""


def parse_request(payload: Any, reference: str | None) -> SimRequest | Reply:
    """Validate a chat-completions body as OpenAI would (the parts the simulator cares about)."""
    if not isinstance(payload, Mapping):
        return invalid_request("The request body must be a JSON object.")
    model = payload.get("model")
    if not isinstance(model, str) or not model:
        return invalid_request("you must provide a model parameter", param="model")
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages:
        return invalid_request("[] is too short - 'messages'", param="messages", code="invalid_value")
    if payload.get("stream"):
        return invalid_request("stream=true is not supported by the simulator", param="stream")
    chars = 0
    for message in messages:
        if not isinstance(message, Mapping) or "role" not in message:
            return invalid_request("Each message needs a 'role'.", param="messages")
        content = message.get("content")
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            chars += sum(len(str(part.get("text", ""))) for part in content if isinstance(part, Mapping))
    max_tokens = payload.get("max_completion_tokens") or payload.get("max_tokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        return invalid_request("max_tokens must be a positive integer", param="max_tokens")
    return SimRequest(
        model=model,
        prompt_tokens=max(1, (chars + 3) // 4) + 4 * len(messages),
        max_tokens=max_tokens,
        reference=reference,
    )


def invalid_request(message: str, *, param: str | None = None, code: str | None = None) -> Reply:
    return Reply("invalid_request", 400, error_body(message, "invalid_request_error", code, param))


class SimEngine:
    """Holds the active profile, its RNG, rate-limit buckets and the ground-truth counters."""

    def __init__(self, profile: Profile, *, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self.counters = Counters()
        self._seq = 0
        self.activate(profile)

    def activate(self, profile: Profile) -> None:
        """Switch profile: windows restart at 0 s and at request 0, the RNG is reseeded, buckets
        start full, and an admin-started outage ends."""
        self.profile = profile
        self.activated_at = self.clock()
        self.planned = 0  # requests planned since activation: the next one's number in request windows
        self.outage: Outage | None = None
        self.rng = random.Random(profile.seed)
        limits = profile.rate_limits
        if limits.requests_per_min or limits.tokens_per_min:
            frozen_at = self.activated_at
            clock = self.clock if limits.refill else (lambda: frozen_at)
            self.limiter: RateLimiter | None = RateLimiter(limits, clock)
        else:
            self.limiter = None

    def start_outage(self, status: ErrorStatus = 503, duration_s: float | None = None) -> Outage:
        """From now on, answer every request ``status`` (for ``duration_s``, or until ended)."""
        self.outage = Outage(status, self.clock(), duration_s)
        return self.outage

    def end_outage(self) -> Outage | None:
        """End the admin-started outage; return it (None if there was none)."""
        outage, self.outage = self.outage, None
        return outage

    def outage_view(self) -> dict[str, Any]:
        if self.outage is None:
            return {"active": False}
        return self.outage.view(self.clock())

    @property
    def elapsed_s(self) -> float:
        return self.clock() - self.activated_at

    def _next_id(self) -> int:
        self._seq += 1
        return self._seq

    def _base_headers(self, n: int) -> dict[str, str]:
        headers = {"x-request-id": f"req_sim_{n}"}
        if self.limiter is not None:
            headers.update(self.limiter.headers())
        return headers

    def _reject(self, n: int, outcome: str, status: int, body: bytes, extra: Mapping[str, str] | None = None) -> Reply:
        headers = self._base_headers(n)
        if extra:
            headers.update(extra)
        headers["x-sim-outcome"] = outcome
        self.counters.record(outcome, status)
        return Reply(outcome, status, body, headers)

    def record_invalid(self, reply: Reply) -> Reply:
        reply.headers["x-sim-outcome"] = reply.outcome
        self.counters.record(reply.outcome, reply.status)
        return reply

    def queue_full(self) -> Reply:
        status = self.profile.concurrency.reject_status
        message, error_type = _ERROR_TEXT[status]
        return self._reject(self._next_id(), "queue_full", status, error_body(message, error_type))

    def plan(self, request: SimRequest) -> Reply:
        """Decide this request's fate. Counted in the ground truth at once."""
        n = self._next_id()
        k = self.planned
        self.planned += 1
        profile = self.profile
        rng = self.rng
        t = self.elapsed_s

        outage = self.outage
        if outage is not None and outage.active(self.clock()):
            message, error_type = _ERROR_TEXT[outage.status]
            return self._reject(n, "outage", outage.status, error_body(message, error_type))

        for window in profile.quota_windows:
            if window_active(window, t, k):
                body = error_body(
                    "You exceeded your current quota, please check your plan and billing details. "
                    "For more information on this error, read the docs: "
                    "https://platform.openai.com/docs/guides/error-codes/api-errors.",
                    "insufficient_quota",
                    "insufficient_quota",
                )
                return self._reject(n, "insufficient_quota", 429, body)

        if self.limiter is not None:
            max_tokens = request.max_tokens or profile.rate_limits.default_max_tokens
            verdict = self.limiter.check(request.prompt_tokens + max_tokens, request.model)
            if verdict is not None:
                body = error_body(verdict.message, verdict.kind, "rate_limit_exceeded")
                extra = self.limiter.retry_after_headers(verdict.retry_after_s)
                return self._reject(n, f"rate_limited_{verdict.kind}", 429, body, extra)

        for rule in profile.errors:
            if window_active(rule.window, t, k) and rng.random() < rule.probability:
                message, error_type = _ERROR_TEXT[rule.status]
                extra = {} if rule.retry_after_s is None else {"retry-after": str(math.ceil(rule.retry_after_s))}
                return self._reject(n, f"http_{rule.status}", rule.status, error_body(message, error_type), extra)

        hang = profile.hang
        if hang.probability > 0 and window_active(hang.window, t, k) and rng.random() < hang.probability:
            message, error_type = _ERROR_TEXT[504]
            reply = self._reject(n, "hang", 504, error_body(message, error_type))
            reply.delay_s, reply.immediate = hang.duration_s, False
            return reply

        return self._complete(n, request)

    def _latency(self, completion_tokens: int) -> float:
        lat = self.profile.latency
        delay = lat.fixed_s + lat.per_token_s * completion_tokens
        if lat.median_s > 0:
            delay += self.rng.lognormvariate(math.log(lat.median_s), lat.sigma) if lat.sigma > 0 else lat.median_s
        return delay

    def _complete(self, n: int, request: SimRequest) -> Reply:
        profile = self.profile
        rng = self.rng
        headers = self._base_headers(n)
        roll = rng.random()
        if roll < profile.empty_probability:
            outcome, text, closeness, finish = "empty", "", None, "stop"
            completion_tokens = 0
        elif roll < profile.empty_probability + profile.malformed_probability:
            outcome, text, closeness, finish = "malformed", "", None, "stop"
            completion_tokens = 0
        else:
            closeness = draw_closeness(profile.quality, rng)
            words = compose_answer(request.reference, closeness, profile.quality, rng)
            completion_tokens = words_to_tokens(len(words))
            finish = "stop"
            if request.max_tokens is not None and completion_tokens > request.max_tokens:
                words = words[: max(1, request.max_tokens * 3 // 4)]
                completion_tokens = min(request.max_tokens, words_to_tokens(len(words)))
                finish = "length"
            text = " ".join(words)
            outcome = "ok"
        delay = self._latency(completion_tokens)
        headers["openai-processing-ms"] = str(round(delay * 1000))
        headers["x-sim-outcome"] = outcome
        if closeness is not None:
            headers["x-sim-closeness"] = f"{closeness:.4f}"
        self.counters.record(outcome, 200)
        self.counters.prompt_tokens += request.prompt_tokens
        self.counters.completion_tokens += completion_tokens
        if outcome == "malformed":
            body = (
                b'{"id": "chatcmpl-sim-' + str(n).encode() + b'", "object": "chat.completion", '
                b'"choices": [{"index": 0, "message": {"role": "assist'
            )
            return Reply(outcome, 200, body, headers, delay, immediate=False)
        payload = {
            "id": f"chatcmpl-sim-{n}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.model,
            "system_fingerprint": "fp_harness_sim",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": finish,
                }
            ],
            "usage": {
                "prompt_tokens": request.prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": request.prompt_tokens + completion_tokens,
            },
        }
        return Reply(outcome, 200, json.dumps(payload).encode(), headers, delay, immediate=False)
