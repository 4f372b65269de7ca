"""Sentences generated from the numbers of metrics.json: what a reader runs the experiment to learn."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from experiments.metrics.headline import dig, format_seconds

Metrics = Mapping[str, Any]


def _s(value: float | None) -> str:
    return "n/a" if value is None else format_seconds(value)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _num(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def async_effect(m: Metrics) -> list[str]:
    lat, thr = m.get("latency", {}), m.get("throughput", {})
    send, e2e = lat.get("producer_send", {}), lat.get("e2e", {})
    parts = dig(lat, ("waterfall", "by_part")) or {}
    mean_e2e = e2e.get("mean")
    llm_mean = (parts.get("llm") or {}).get("mean")
    out: list[str] = []
    if e2e.get("count"):
        waits = sum(
            (parts.get(p) or {}).get("mean") or 0.0 for p in ("queue_wait", "backoff", "retry_tier")
        )
        share = llm_mean / mean_e2e if llm_mean is not None and mean_e2e else None
        text = (
            f"Asynchronous design, latency: handing a question to Kafka took the producer {_s(send.get('p50'))} "
            f"at the median (p99 {_s(send.get('p99'))}); that is all a caller waits for before moving on. "
            f"The answer was durable {_s(e2e.get('p50'))} after the intended send time at the median "
            f"(p99 {_s(e2e.get('p99'))}, max {_s(e2e.get('max'))}). On average "
            f"{_s(llm_mean)} of the mean {_s(mean_e2e)} ({_pct(share)}) was spent inside LLM calls and "
            f"{_s(waits)} waiting in queues, backoff and retry tiers."
        )
        out.append(text)
    tput, offered = thr.get("throughput_qps"), thr.get("offered_qps")
    if tput is not None:
        text = (
            f"Asynchronous design, throughput: over the {_num(thr.get('window_s'), 0)} s steady window the "
            f"pipeline answered {_num(tput)}/s against {_num(offered)}/s offered"
        )
        if offered:
            text += f" ({_pct(tput / offered)})"
        text += f", with a goodput of {_num(thr.get('goodput_qps'))} accepted answers/s"
        if thr.get("goodput_slo_qps") is not None:
            text += f" ({_num(thr.get('goodput_slo_qps'))}/s within the {_s(thr.get('slo_s'))} SLO)"
        text += "."
        if llm_mean:
            sync = 1.0 / llm_mean
            text += (
                f" One synchronous caller asking one question at a time would manage about "
                f"{_num(sync)}/s (1 / mean LLM time per question), so decoupling through Kafka "
                f"delivered {_num(tput / sync, 1)}x that."
            )
        out.append(text)
    if thr.get("drain_s") is not None:
        out.append(
            f"When arrivals stopped, {thr.get('backlog_at_load_end', 0)} questions were still unanswered; "
            f"the backlog drained in {_s(thr.get('drain_s'))}."
        )
    unfinished = dig(m, ("counts", "steady_in_flight"))
    if unfinished:
        out.append(
            f"Warning: {unfinished} steady-state questions were still in flight when telemetry was "
            "collected; their latency is unknown, so the tail percentiles above are optimistic."
        )
    return out


def retries(m: Metrics) -> list[str]:
    r = m.get("retries", {})
    rec = r.get("recovery", {})
    tiers = r.get("retry_tiers", {})
    policy = dig(m, ("spec", "retry", "policy"))
    name = f"the {policy} policy" if policy else "the retry policy"
    out: list[str] = []
    n = r.get("llm_questions") or 0
    failed = rec.get("failed_at_least_once", 0)
    if n:
        text = (
            f"Retries: {failed} of {n} questions sent to the LLM ({_pct(failed / n)}) failed at least once; "
            f"{name} recovered {rec.get('recovered', 0)} of them ({_pct(rec.get('recovery_rate'))}): "
            f"{rec.get('recovered_in_worker', 0)} through in-worker backoff alone and "
            f"{rec.get('recovered_via_retry_tier', 0)} after waiting in a retry tier."
        )
        by_class = rec.get("by_error_class") or {}
        if by_class:
            text += (
                " By error class: "
                + "; ".join(f"{cls} {v['recovered']}/{v['failed']}" for cls, v in by_class.items())
                + "."
            )
        dl = r.get("dead_letters", {})
        if dl.get("count"):
            reasons = ", ".join(f"{k} {v}" for k, v in (dl.get("by_reason") or {}).items())
            text += f" {dl['count']} were dead-lettered ({reasons})."
        out.append(text)
        qw = dig(m, ("latency", "waterfall", "by_part", "queue_wait")) or {}
        deferred = tiers.get("wait_of_deferred_questions") or {}
        text = (
            f"Waiting: the mean queue wait was {_s(qw.get('mean'))} (p99 {_s(qw.get('p99'))}); "
            f"{tiers.get('questions_deferred', 0)} questions were deferred to retry tiers and waited "
            f"{_s(deferred.get('mean'))} there on average (mean over all LLM questions "
            f"{_s(tiers.get('mean_wait_per_question_s'))})."
        )
        out.append(text)
        gt = r.get("ground_truth", {})
        sim = gt.get("simulator") or {}
        text = (
            f"Amplification: {_num(r.get('amplification'))} LLM calls per question in the steady state "
            f"({_num(r.get('failed_attempts_per_question'))} failed attempts and "
            f"{_num(r.get('regeneration_calls_per_question'))} regeneration calls per question)."
        )
        if sim.get("amplification") is not None:
            text += (
                f" Over the whole run the simulator served {_num(sim.get('requests'), 0)} requests "
                f"({_num(sim.get('amplification'))} per question) where the client counted "
                f"{gt.get('client', {}).get('requests')} ({_num(gt.get('client', {}).get('amplification'))})."
            )
        out.append(text)
    return out


def threshold(m: Metrics) -> list[str]:
    q = m.get("quality", {})
    ta = q.get("threshold_analysis") or {}
    rows = ta.get("rows") or []
    current = ta.get("current")
    if not rows:
        return []
    if current is None:
        return [
            "Threshold: no threshold was recorded for this run; the threshold analysis table shows "
            "acceptance and cost for each candidate."
        ]
    at = min(rows, key=lambda r: abs(r["threshold"] - current))
    text = (
        f"Threshold: the threshold in use, {current:g}, passes {_pct(at['pass_round0'])} of first answers. "
        f"With up to {ta.get('max_rounds')} regeneration rounds the model of independent regenerations "
        f"predicts {_pct(at['accepted_final'])} accepted at {_num(at['expected_llm_calls'])} LLM calls per "
        f"question; the run observed {_pct(q.get('accepted_share'))} accepted at "
        f"{_num(dig(m, ('retries', 'amplification')))} calls."
    )
    capped = ta.get("cost_capped_threshold")
    if capped is not None:
        text += (
            f" Keeping the expected generations within {ta.get('generation_budget'):g} per question allows "
            f"thresholds up to {capped:g}"
        )
        text += (
            " (the one in use is within it)."
            if current <= capped + 1e-9
            else " (the one in use exceeds it)."
        )
    higher = [r for r in rows if r["threshold"] > current + 1e-9]
    if higher:
        nxt = higher[min(len(higher) - 1, 3)]
        text += (
            f" Raising it to {nxt['threshold']:g} would pass {_pct(nxt['pass_round0'])} at round 0 and cost "
            f"{_num(nxt['expected_llm_calls'])} calls per question."
        )
    return [text]


def feedback(m: Metrics) -> list[str]:
    q = m.get("quality", {})
    r0, final = (q.get("round0") or {}).get("mean"), (q.get("final") or {}).get("mean")
    if r0 is None or final is None:
        return []
    gain = q.get("mean_gain")
    raised = gain is not None and gain > 0
    text = (
        f"Feedback loop: {_pct(q.get('sent_back_share'))} of answers were sent back for regeneration. "
        f"The mean score went from {r0:.3f} at round 0 to {final:.3f} at the end "
        f"({'+' if (gain or 0) >= 0 else ''}{_num(gain, 3)} per finished question), "
        f"{'so the loop raised the mean score' if raised else 'so the loop did not raise the mean score'}, "
        f"for {q.get('extra_llm_calls', 0)} extra LLM calls ({_num(q.get('extra_calls_per_question'))} per "
        f"question): {_num(q.get('gain_per_extra_call'), 3)} score per extra call. "
        f"{_pct(q.get('low_quality_share'))} of questions still ended low_quality."
    )
    return [text]


def repeats(m: Metrics) -> list[str]:
    rep = m.get("repeats")
    if not rep or rep.get("n", 0) < 2:
        return []
    e2e = rep.get("metrics", {}).get("e2e_p99_s") or {}
    text = (
        f"Repeats: {rep['n']} runs of this spec; headline figures carry the mean and a "
        f"{rep.get('confidence', 0.95) * 100:.0f}% confidence interval (expanded percentile bootstrap)."
    )
    if e2e.get("mean") is not None and e2e.get("ci_low") is not None:
        text += (
            f" E.g. end-to-end p99 {_s(e2e['mean'])} [{_s(e2e['ci_low'])}, {_s(e2e['ci_high'])}]."
        )
    return [text]


def load_notes(m: Metrics) -> list[str]:
    """How the load ended, if not as scheduled."""
    reason = dig(m, ("run", "stopped_early"))
    if not reason:
        return []
    return [
        f"The load stopped before the end of its schedule: {reason}. Questions sent before the "
        "stop finished as usual; the rates below are over the shortened load window."
    ]


def findings(m: Metrics) -> list[str]:
    """All the sentences for one run, in reading order."""
    return [*load_notes(m), *async_effect(m), *retries(m), *threshold(m), *feedback(m), *repeats(m)]
