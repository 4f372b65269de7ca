"""Sentences generated from the numbers of metrics.json: what a reader runs the experiment to learn."""

from __future__ import annotations

from experiments.metrics.headline import format_seconds
from experiments.metrics.schema import LatencySummary, RunMetrics
from experiments.report.fmt import count, plural, was


def _s(value: float | None) -> str:
    return "n/a" if value is None else format_seconds(value)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _num(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def async_effect(m: RunMetrics) -> list[str]:
    lat, thr = m.latency, m.throughput
    send, e2e = lat.producer_send, lat.e2e
    parts = lat.waterfall.by_part
    empty = LatencySummary()
    mean_e2e = e2e.mean
    llm_mean = parts.get("llm", empty).mean
    out: list[str] = []
    if e2e.count:
        waits = sum(
            parts.get(p, empty).mean or 0.0 for p in ("queue_wait", "backoff", "retry_tier")
        )
        share = llm_mean / mean_e2e if llm_mean is not None and mean_e2e else None
        text = (
            f"Asynchronous design, latency: handing a question to Kafka took the producer {_s(send.p50)} "
            f"at the median (p99 {_s(send.p99)}); that is all a caller waits for before moving on. "
            f"The answer was durable {_s(e2e.p50)} after the intended send time at the median "
            f"(p99 {_s(e2e.p99)}, max {_s(e2e.max)}). On average "
            f"{_s(llm_mean)} of the mean {_s(mean_e2e)} ({_pct(share)}) was spent inside LLM calls and "
            f"{_s(waits)} waiting in queues, backoff and retry tiers."
        )
        out.append(text)
    tput, offered = thr.throughput_qps, thr.offered_qps
    if tput is not None:
        text = (
            f"Asynchronous design, throughput: over the {_num(thr.window_s, 0)} s steady window the "
            f"pipeline answered {_num(tput)}/s against {_num(offered)}/s offered"
        )
        if offered:
            text += f" ({_pct(tput / offered)})"
        text += f", with a goodput of {_num(thr.goodput_qps)} accepted answers/s"
        if thr.goodput_slo_qps is not None:
            text += f" ({_num(thr.goodput_slo_qps)}/s within the {_s(thr.slo_s)} SLO)"
        text += "."
        if llm_mean:
            sync = 1.0 / llm_mean
            text += (
                f" One synchronous caller asking one question at a time would manage about "
                f"{_num(sync)}/s (1 / mean LLM time per question), so decoupling through Kafka "
                f"delivered {_num(tput / sync, 1)}x that."
            )
        out.append(text)
    if thr.drain_s is not None:
        backlog = thr.backlog_at_load_end
        out.append(
            f"When arrivals stopped, {plural(backlog, 'question')} {was(backlog)} still "
            f"unanswered; the backlog drained in {_s(thr.drain_s)}."
        )
    unfinished = m.counts.steady_in_flight
    if unfinished:
        out.append(
            f"Warning: {plural(unfinished, 'steady-state question')} {was(unfinished)} still in "
            "flight when telemetry was collected; their latency is unknown, so the tail "
            "percentiles above are optimistic."
        )
    return out


def _policy(m: RunMetrics) -> str | None:
    """The retry policy's name from the (free-form) spec, if it names one."""
    retry = m.spec.get("retry")
    policy = retry.get("policy") if isinstance(retry, dict) else None
    return str(policy) if policy else None


def retries(m: RunMetrics) -> list[str]:
    r = m.retries
    rec = r.recovery
    tiers = r.retry_tiers
    policy = _policy(m)
    name = f"the {policy} policy" if policy else "the retry policy"
    out: list[str] = []
    n = r.llm_questions
    failed = rec.failed_at_least_once
    if n:
        text = (
            f"Retries: {count(failed)} of {plural(n, 'question')} sent to the LLM "
            f"({_pct(failed / n)}) failed at least once; "
            f"{name} recovered {count(rec.recovered)} of them ({_pct(rec.recovery_rate)}): "
            f"{count(rec.recovered_in_worker)} through in-worker backoff alone and "
            f"{count(rec.recovered_via_retry_tier)} after waiting in a retry tier."
        )
        if rec.by_error_class:
            text += (
                " By error class: "
                + "; ".join(
                    f"{cls} {count(v.recovered)}/{count(v.failed)}"
                    for cls, v in rec.by_error_class.items()
                )
                + "."
            )
        dl = r.dead_letters
        if dl.count:
            reasons = ", ".join(f"{k} {count(v)}" for k, v in dl.by_reason.items())
            text += f" {count(dl.count)} {was(dl.count)} dead-lettered ({reasons})."
        out.append(text)
        qw = m.latency.waterfall.by_part.get("queue_wait", LatencySummary())
        deferred = tiers.wait_of_deferred_questions
        n_deferred = tiers.questions_deferred
        text = f"Waiting: the mean queue wait was {_s(qw.mean)} (p99 {_s(qw.p99)}); "
        if n_deferred:
            text += (
                f"{plural(n_deferred, 'question')} {was(n_deferred)} deferred to retry tiers and "
                f"waited {_s(deferred.mean)} there on average (mean over all LLM questions "
                f"{_s(tiers.mean_wait_per_question_s)})."
            )
        else:
            text += "no question was deferred to a retry tier."
        out.append(text)
        gt = r.ground_truth
        text = (
            f"Amplification: {_num(r.amplification)} LLM calls per question in the steady state "
            f"({_num(r.failed_attempts_per_question)} failed attempts and "
            f"{_num(r.regeneration_calls_per_question)} regeneration calls per question)."
        )
        sim = gt.simulator
        if sim is not None and sim.amplification is not None:
            text += (
                f" Over the whole run the simulator served {_num(sim.requests, 0)} requests "
                f"({_num(sim.amplification)} per question) where the client counted "
                f"{count(gt.client.requests)} ({_num(gt.client.amplification)})."
            )
        out.append(text)
    return out


def threshold(m: RunMetrics) -> list[str]:
    q = m.quality
    ta = q.threshold_analysis
    rows = ta.rows
    current = ta.current
    if not rows:
        return []
    if current is None:
        return [
            "Threshold: no threshold was recorded for this run; the threshold analysis table shows "
            "acceptance and cost for each candidate."
        ]
    at = min(rows, key=lambda r: abs(r.threshold - current))
    text = (
        f"Threshold: the threshold in use, {current:g}, passes {_pct(at.pass_round0)} of first answers. "
        f"With up to {ta.max_rounds} regeneration rounds the model of independent regenerations "
        f"predicts {_pct(at.accepted_final)} accepted at {_num(at.expected_llm_calls)} LLM calls per "
        f"question; the run observed {_pct(q.accepted_share)} accepted at "
        f"{_num(m.retries.amplification)} calls."
    )
    capped = ta.cost_capped_threshold
    if capped is not None:
        text += (
            f" Keeping the expected generations within {ta.generation_budget:g} per question allows "
            f"thresholds up to {capped:g}"
        )
        text += (
            " (the one in use is within it)."
            if current <= capped + 1e-9
            else " (the one in use exceeds it)."
        )
    higher = [r for r in rows if r.threshold > current + 1e-9]
    if higher:
        nxt = higher[min(len(higher) - 1, 3)]
        text += (
            f" Raising it to {nxt.threshold:g} would pass {_pct(nxt.pass_round0)} at round 0 and cost "
            f"{_num(nxt.expected_llm_calls)} calls per question."
        )
    return [text]


def feedback(m: RunMetrics) -> list[str]:
    q = m.quality
    r0, final = q.round0.mean, q.final.mean
    if r0 is None or final is None:
        return []
    gain = q.mean_gain
    raised = gain is not None and gain > 0
    text = (
        f"Feedback loop: {_pct(q.sent_back_share)} of answers were sent back for regeneration. "
        f"The mean score went from {r0:.3f} at round 0 to {final:.3f} at the end "
        f"({'+' if (gain or 0) >= 0 else ''}{_num(gain, 3)} per finished question), "
        f"{'so the loop raised the mean score' if raised else 'so the loop did not raise the mean score'}, "
        f"for {plural(q.extra_llm_calls, 'extra LLM call')} ({_num(q.extra_calls_per_question)} per "
        f"question): {_num(q.gain_per_extra_call, 3)} score per extra call. "
        f"{_pct(q.low_quality_share)} of questions still ended low_quality."
    )
    return [text]


def repeats(m: RunMetrics) -> list[str]:
    rep = m.repeat_stats()
    if rep is None:
        return []
    e2e = rep.metrics.get("e2e_p99_s")
    text = (
        f"Repeats: {plural(rep.n, 'run')} of this spec; headline figures carry the mean and a "
        f"{rep.confidence * 100:.0f}% confidence interval (expanded percentile bootstrap)."
    )
    if e2e is not None and e2e.mean is not None and e2e.ci_low is not None:
        text += f" E.g. end-to-end p99 {_s(e2e.mean)} [{_s(e2e.ci_low)}, {_s(e2e.ci_high)}]."
    return [text]


def load_notes(m: RunMetrics) -> list[str]:
    """How the load ended, if not as scheduled."""
    reason = m.outcome.stopped_early
    if not reason:
        return []
    return [
        f"The load stopped before the end of its schedule: {reason}. Questions sent before the "
        "stop finished as usual; the rates below are over the shortened load window."
    ]


def findings(m: RunMetrics) -> list[str]:
    """All the sentences for one run, in reading order."""
    return [*load_notes(m), *async_effect(m), *retries(m), *threshold(m), *feedback(m), *repeats(m)]
