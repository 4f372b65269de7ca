"""Plausible synthetic runs for tests and demos: ``make_run(seed, backoff=...)``.

Not a pipeline simulation, a generator of telemetry with the right shape and the right cause and
effect: Poisson arrivals, a cache for repeated questions, lognormal LLM latency, overload bursts in
which attempts fail, in-worker exponential backoff with full jitter then deferral to retry tiers,
rate limits deferred to a tier, dead letters for invalid requests, twice-bad completions and
exhausted attempts, Flink scoring with regeneration below the threshold, questions still in
flight when telemetry is collected, and optionally infrastructure faults (``faults=``: an LLM
outage fails every attempt; a kill, restart or pause of any other service stalls durable writes
until it is back). The same seed always gives the same run.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from experiments.metrics.model import (
    LASTING_FAULTS,
    FaultEvent,
    LlmAttempt,
    QuestionOutcome,
    RunData,
    RunMeta,
    TerminalState,
    WindowEvent,
)

T0 = 1_760_000_000.0  # a fixed epoch, so runs are byte-for-byte reproducible


@dataclass(frozen=True)
class SyntheticProfile:
    """Knobs of the synthetic system (defaults make a 60 s run of ~600 questions)."""

    rate: float = 10.0
    duration_s: float = 60.0
    warmup_s: float = 10.0
    backoff_s: float = 0.5
    backoff_cap_s: float = 8.0
    in_worker_attempts: int = 3
    tiers_s: tuple[float, ...] = (5.0, 30.0)
    bursts: tuple[tuple[float, float], ...] = ((22.0, 30.0), (44.0, 48.0))
    p_overload_burst: float = 0.75
    p_overload: float = 0.03
    p_rate_limited: float = 0.02
    p_invalid: float = 0.003
    p_bad_completion: float = 0.01
    llm_median_s: float = 0.8
    llm_sigma: float = 0.5
    threshold: float = 0.35
    max_rounds: int = 2
    question_pool: int = 1500
    slo_s: float = 10.0
    collect_after_s: float = 45.0
    score_mean: float = 0.45
    regen_gain: float = 0.05
    #: ``(at_s, action, target, duration_s)``: faults injected during the run
    faults: tuple[tuple[float, str, str, float], ...] = ()
    #: how long a killed or restarted service takes to come back
    restart_s: float = 3.0
    extra: dict[str, object] = field(default_factory=dict)


class _Gen:
    def __init__(self, seed: int, prof: SyntheticProfile) -> None:
        self.rng = random.Random(seed)
        self.p = prof
        self.attempts: list[LlmAttempt] = []
        self.scored_events: list[tuple[float, float, str]] = []  # (time, score, outcome)
        self.client_only = 0  # connect errors: the simulator never saw the request
        self.timeouts = 0

    def fault_spans(self, llm: bool) -> list[tuple[float, float]]:
        """(start, end) epoch seconds of the LLM outages (``llm``) or of the other faults."""
        spans = []
        for at, action, target, duration in self.p.faults:
            if (target == "llm") == llm:
                lasting = duration if action in LASTING_FAULTS else self.p.restart_s
                spans.append((T0 + at, T0 + at + lasting))
        return spans

    def in_outage(self, t: float) -> bool:
        return any(a <= t < b for a, b in self.fault_spans(llm=True))

    def stalled(self, t: float) -> float:
        """A durable write due at ``t``: after the end of a stall it falls into."""
        for a, b in self.fault_spans(llm=False):
            if a <= t < b:
                t = b + self.rng.uniform(0.05, 0.5)
        return t

    def in_burst(self, t: float) -> bool:
        rel = t - T0
        return any(a <= rel < b for a, b in self.p.bursts)

    def score(self, rnd: int) -> float:
        a = 6.0
        mean = min(0.95, self.p.score_mean + rnd * self.p.regen_gain)
        return self.rng.betavariate(a * mean / (1 - mean), a)

    def error_for(self, t: float) -> str | None:
        if self.p.faults and self.in_outage(t):
            return "overload"
        r = self.rng.random()
        p_over = self.p.p_overload_burst if self.in_burst(t) else self.p.p_overload
        for cls, p in (
            ("overload", p_over),
            ("rate_limited", self.p.p_rate_limited),
            ("invalid_request", self.p.p_invalid),
            ("bad_completion", self.p.p_bad_completion),
        ):
            if r < p:
                return cls
            r -= p
        return None

    def llm_round(
        self, qid: str, rnd: int, start: float
    ) -> tuple[float | None, str | None, int, int]:
        """Attempts of one round from ``start``: (answer time or None, dlq reason, calls, failures)."""
        rng, p = self.rng, self.p
        t, attempt, in_worker, deferrals, bad = start, 0, 0, 0, 0
        delay, tier_wait, tier = 0.0, 0.0, None
        calls = failures = 0
        while True:
            attempt += 1
            in_worker += 1
            t += delay + tier_wait
            err = self.error_for(t)
            if err is None:
                dur = rng.lognormvariate(math.log(p.llm_median_s), p.llm_sigma)
            elif err == "overload" and rng.random() < 0.05:
                dur = 10.0  # client timeout: counted as overload, the server did see it
                self.timeouts += 1
            else:
                dur = rng.uniform(0.02, 0.2)
                if err == "overload" and rng.random() < 0.1:
                    self.client_only += 1  # connection refused: never reached the server
            self.attempts.append(
                LlmAttempt(
                    question_id=qid,
                    round=rnd,
                    attempt=attempt,
                    started_at=t,
                    ended_at=t + dur,
                    status="ok" if err is None else "error",
                    error_class=err,
                    delay_before_s=delay,
                    tier_wait_s=tier_wait,
                    tier=tier,
                )
            )
            calls += 1
            t += dur
            delay, tier_wait, tier = 0.0, 0.0, None
            if err is None:
                return t, None, calls, failures
            failures += 1
            if err == "invalid_request":
                return None, "invalid_request", calls, failures
            if err == "bad_completion":
                bad += 1
                if bad > 1:
                    return None, "bad_completion", calls, failures
                continue
            if err == "rate_limited" or in_worker >= p.in_worker_attempts:
                if deferrals >= len(p.tiers_s):
                    return None, "attempts_exhausted", calls, failures
                base = p.tiers_s[deferrals]
                if err == "rate_limited":
                    base = p.tiers_s[0]
                tier = f"{base:g}s"
                tier_wait = base + rng.expovariate(1 / 0.05)
                deferrals += 1
                in_worker = 0
                continue
            delay = rng.uniform(0.0, min(p.backoff_cap_s, p.backoff_s * 2 ** (in_worker - 1)))

    def question(self, qid: str, intended: float) -> QuestionOutcome:
        rng, p = self.rng, self.p
        sent = intended + rng.lognormvariate(math.log(0.003), 0.6)
        hops: dict[str, list[float | None]] = {"sent": [sent], "answered": [], "scored": []}
        state: TerminalState = "accepted"
        reason: str | None = None
        rounds = 0
        calls = failures = 0
        first_attempt = None
        s0 = final = None
        at = sent
        durable = None
        while True:
            queue = rng.expovariate(1 / 0.05) + (
                rng.expovariate(1 / 0.6) if self.in_burst(at) else 0.0
            )
            start = at + queue
            first_attempt = first_attempt or start
            answered, reason, c, f = self.llm_round(qid, rounds, start)
            calls, failures = calls + c, failures + f
            if answered is None:
                state, durable = (
                    "dead_lettered",
                    self.attempts[-1].ended_at + rng.uniform(0.005, 0.03),
                )
                break
            answered += 0.002
            scored = answered + rng.expovariate(1 / 0.03) + 0.02
            score = self.score(rounds)
            s0 = score if rounds == 0 else s0
            final = score
            hops["answered"].append(answered)
            hops["scored"].append(scored)
            if score < p.threshold and rounds < p.max_rounds:
                self.scored_events.append((scored, score, "sent_back"))
                rounds += 1
                at = scored + rng.uniform(0.005, 0.02)
                hops["sent"].append(at)
                continue
            state = "accepted" if score >= p.threshold else "low_quality"
            self.scored_events.append((scored, score, state))
            result = scored + rng.uniform(0.002, 0.008)
            hops["result"] = [None] * rounds + [result]
            durable = result + rng.expovariate(1 / 0.01) + 0.004
            break
        if p.faults:
            durable = self.stalled(durable)
        if durable > T0 + p.duration_s + p.collect_after_s:
            state, durable, reason = "in_flight", None, None
        return QuestionOutcome(
            question_id=qid,
            intended_at=intended,
            sent_at=sent,
            first_attempt_at=first_attempt,
            durable_at=durable,
            state=state,
            dlq_reason=reason,
            rounds=rounds,
            llm_calls=calls,
            failed_attempts=failures,
            score_round0=s0,
            score_final=final if state in ("accepted", "low_quality") else None,
            hops=hops,
        )


def _windows(events: list[tuple[float, float, str]], width: float = 5.0) -> list[WindowEvent]:
    buckets: dict[int, list[tuple[float, str]]] = {}
    for t, score, outcome in events:
        buckets.setdefault(int((t - T0) // width), []).append((score, outcome))
    out = []
    for i in sorted(buckets):
        items = buckets[i]
        out.append(
            WindowEvent(
                window_start=T0 + i * width,
                window_end=T0 + (i + 1) * width,
                scored=len(items),
                accepted=sum(o == "accepted" for _, o in items),
                sent_back=sum(o == "sent_back" for _, o in items),
                low_quality=sum(o == "low_quality" for _, o in items),
                mean_score=sum(s for s, _ in items) / len(items),
            )
        )
    return out


def _fault_events(prof: SyntheticProfile) -> list[FaultEvent]:
    out = []
    for at, action, target, duration in prof.faults:
        start = T0 + at
        lasting = action in LASTING_FAULTS
        out.append(
            FaultEvent(
                at_s=at,
                action=action,
                target=target,
                duration_s=duration if lasting else 0.0,
                status=503 if action == "outage" else None,
                started_at=start,
                ended_at=start + duration if lasting else start,
                detail=f"synthetic {action} of {target}",
            )
        )
    return out


def make_run(
    seed: int = 0,
    *,
    backoff: float = 0.5,
    run_name: str | None = None,
    profile: SyntheticProfile | None = None,
) -> RunData:
    """A plausible run: ``backoff`` is the exponential backoff base (seconds) of the retry policy."""
    base = profile or SyntheticProfile()
    prof = SyntheticProfile(**{**base.__dict__, "backoff_s": backoff})
    gen = _Gen(seed, prof)
    rng = gen.rng
    questions: list[QuestionOutcome] = []
    answered_at: dict[str, QuestionOutcome] = {}
    in_llm: set[str] = set()
    t = T0
    n = 0
    while True:
        t += rng.expovariate(prof.rate)
        if t > T0 + prof.duration_s:
            break
        n += 1
        # a question asked again is a cache hit once answered; one still in flight is not re-asked
        # (each LLM pass must have its own question_id, see the model's docs)
        for _ in range(20):
            qid = f"q{rng.randrange(prof.question_pool):05d}"
            prior = answered_at.get(qid)
            if qid not in in_llm or (
                prior is not None and prior.durable_at is not None and prior.durable_at < t
            ):
                break
        else:
            qid = f"q{prof.question_pool + n:05d}"  # a fresh question
        prior = answered_at.get(qid)
        if prior is not None and prior.durable_at is not None and prior.durable_at < t:
            prior.access_count += 1
            questions.append(
                QuestionOutcome(
                    question_id=qid,
                    intended_at=t,
                    durable_at=t + rng.uniform(0.004, 0.02),
                    state=prior.state,
                    cache_hit=True,
                    access_count=prior.access_count,
                    score_round0=None,
                    score_final=prior.score_final,
                )
            )
            continue
        q = gen.question(qid, t)
        questions.append(q)
        in_llm.add(qid)
        if q.state in ("accepted", "low_quality"):
            answered_at[qid] = q
    questions.sort(key=lambda q: q.intended_at)
    errors = [a for a in gen.attempts if a.status == "error"]
    sim = {
        "requests": float(len(gen.attempts) - gen.client_only),
        "status_429": float(sum(a.error_class == "rate_limited" for a in errors)),
        "status_5xx": float(
            sum(a.error_class == "overload" for a in errors) - gen.client_only - gen.timeouts
        ),
        "timeouts": float(gen.timeouts),
        "bad_completions": float(sum(a.error_class == "bad_completion" for a in errors)),
    }
    name = run_name or f"synthetic-b{backoff:g}-s{seed}"
    spec = {
        "name": name,
        "dataset": {"source": "yahoo_answers", "slice": "test[:2000]"},
        "arrival": {"kind": "poisson", "rate": prof.rate, "duration_s": prof.duration_s},
        "llm": {
            "backend": "simulator",
            "base_url": "http://127.0.0.1:8400/v1",
            "model": "sim-qa",
            "api_key": "sk-not-for-reports",
            "fault_profile": "bursty-overload",
        },
        "retry": {
            "policy": "exponential_full_jitter",
            "base_s": backoff,
            "cap_s": prof.backoff_cap_s,
            "in_worker_attempts": prof.in_worker_attempts,
            "tiers": [f"{x:g}s" for x in prof.tiers_s],
        },
        "flink": {"threshold": prof.threshold, "max_rounds": prof.max_rounds, "scorer": "minilm"},
        "warmup_s": prof.warmup_s,
        "slo_s": prof.slo_s,
        "seed": seed,
    }
    if prof.faults:
        spec["faults"] = [
            {"at_s": at, "action": action, "target": target, "duration_s": duration}
            for at, action, target, duration in prof.faults
        ]
    return RunData(
        spec=spec,
        meta=RunMeta(
            run_name=name,
            experiment_id=f"exp-{name}",
            seed=seed,
            git_revision="0123456789abcdef",
            component_versions={
                "kafka": "4.1.0",
                "flink": "2.2.1",
                "postgresql": "17",
                "harness": "0.1.0",
            },
            started_at=T0,
            ended_at=T0 + prof.duration_s,
            warmup_s=prof.warmup_s,
            slo_s=prof.slo_s,
            score_threshold=prof.threshold,
            max_rounds=prof.max_rounds,
            collected_at=T0 + prof.duration_s + prof.collect_after_s,
        ),
        questions=questions,
        attempts=sorted(gen.attempts, key=lambda a: a.started_at),
        sim_counters=sim,
        windows=_windows(gen.scored_events),
        faults=_fault_events(prof),
    )
