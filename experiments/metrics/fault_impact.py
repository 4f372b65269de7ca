"""What each injected fault did to the run: recovery time, delayed questions, extra LLM calls.

Pure functions over the derived questions (times relative to the start of the load) and the
run's :class:`~experiments.metrics.model.FaultEvent` list. Definitions (docs/metrics.md#faults):

- **Reference time**: the fault's start for a kill or a restart; its end for a pause or an
  outage (the service is back only then).
- **Recovery time** (``recovery_s``): from the reference time until answered throughput is back
  to at least 90 % of the offered load for 5 consecutive seconds. Both series count per whole
  second of the load phase: answered = durable writes of accepted or low_quality questions (cache
  hits included), offered = intended sends (every generator request, whatever the arrival
  process). The recovery ends at the first second ``s >= reference`` whose 5 seconds
  ``[s, s + 5)`` hold ``answered >= 0.9 x offered`` (some load offered), and which itself
  answers at least half the window's mean offered rate: ``recovery_s = s - reference``. Sums
  over 5 s keep Poisson noise from postponing the recovery; the check of the first second keeps
  the backlog drained right after a stall from making up for the silent seconds before it inside
  the sum. None when no such 5 seconds fit before the load ended; ``recovery_note`` says so.
- **Fault window**: from the fault's start to the reference time plus the recovery (to the end of
  the load when it never recovered).
- **Affected questions**: LLM passes (cache hits left out) in the pipeline at some time of the
  fault window: intended before the window ends, and durable at or after it starts (or never).
- **Baseline**: LLM passes durable before the fault started and not affected by an earlier fault.
  At least :data:`MIN_BASELINE` of them are needed, else the two figures below are None.
- **Delayed** (``delayed``): affected questions whose end-to-end latency exceeds the p99 of the
  baseline's answered questions, or that were still in flight at collection.
- **Extra LLM calls** (``extra_llm_calls``): the affected questions' LLM calls (stored attempt
  history; attempts so far for passes in flight) minus what the baseline's amplification (calls
  per terminal pass) predicts for as many questions. Negative when the fault saved calls (e.g.
  questions still in flight). Calls replayed after a crash that the stored history does not keep
  are the audit's "duplicated LLM passes", not counted here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from experiments.metrics.derive import QuestionTimes
from experiments.metrics.histogram import LatencyHistogram
from experiments.metrics.model import FaultEvent

#: answered throughput must reach this share of the offered load ...
RECOVERY_SHARE = 0.9
#: ... for this many consecutive seconds
RECOVERY_HOLD_S = 5
#: the first second of those must answer this share of the window's mean offered rate
FIRST_SECOND_SHARE = 0.5
#: fewest baseline questions for a p99 and an amplification worth comparing against
MIN_BASELINE = 20


def per_second(times: Iterable[float | None], seconds: int) -> list[int]:
    """Counts per whole second ``[i, i + 1)`` for ``i < seconds``; other times are dropped."""
    counts = [0] * max(0, seconds)
    for t in times:
        if t is not None and 0 <= t < seconds:
            counts[int(t)] += 1
    return counts


def recovery_after(
    answered: Sequence[int],
    offered: Sequence[int],
    reference_s: float,
    *,
    share: float = RECOVERY_SHARE,
    hold_s: int = RECOVERY_HOLD_S,
) -> float | None:
    """Seconds from ``reference_s`` to the first whole second ``s`` that starts ``hold_s``
    seconds in which ``sum(answered) >= share x sum(offered) > 0`` and itself answers at least
    :data:`FIRST_SECOND_SHARE` of the window's mean offered rate; None when none fits."""
    n = min(len(answered), len(offered))
    for s in range(max(0, math.ceil(reference_s)), n - hold_s + 1):
        off = sum(offered[s : s + hold_s])
        if (
            off > 0
            and answered[s] >= FIRST_SECOND_SHARE * off / hold_s
            and sum(answered[s : s + hold_s]) >= share * off
        ):
            return max(0.0, s - reference_s)
    return None


def is_affected(q: QuestionTimes, start_s: float, end_s: float) -> bool:
    """An LLM pass in the pipeline at some time of ``[start_s, end_s]``."""
    if q.cache_hit or q.intended_s > end_s:
        return False
    return q.durable_s is None or q.durable_s >= start_s


def _p99(values: Sequence[float]) -> float | None:
    return LatencyHistogram.of(values).percentiles([99.0])[99.0]


def _baseline(
    questions: Sequence[QuestionTimes], start_s: float, earlier: Sequence[tuple[float, float]]
) -> list[QuestionTimes]:
    """LLM passes durable before ``start_s`` and untouched by the ``earlier`` fault windows."""
    return [
        q
        for q in questions
        if not q.cache_hit
        and q.durable_s is not None
        and q.durable_s < start_s
        and not any(is_affected(q, a, b) for a, b in earlier)
    ]


def fault_impact(
    fault: FaultEvent,
    questions: Sequence[QuestionTimes],
    answered: Sequence[int],
    offered: Sequence[int],
    t0: float,
    load_s: float,
    earlier: Sequence[tuple[float, float]] = (),
) -> dict[str, Any]:
    """One fault's figures (a :class:`~experiments.metrics.schema.FaultImpact` as a dict).

    ``answered`` and ``offered`` are the per-second series of the load phase (``load_s`` long),
    ``earlier`` the windows ``(start_s, end_s)`` of the faults before this one."""
    start_s = fault.started_at - t0
    end_s = fault.end_at - t0
    reference = end_s if fault.lasts else start_s
    recovery = recovery_after(answered, offered, reference)
    note = None
    if recovery is None:
        note = (
            f"answered throughput was not back to {RECOVERY_SHARE:.0%} of the offered load for "
            f"{RECOVERY_HOLD_S} s before the load ended ({load_s:.0f} s)"
        )
    window_end = reference + recovery if recovery is not None else max(load_s, reference)
    affected = [q for q in questions if is_affected(q, start_s, window_end)]
    base = _baseline(questions, start_s, earlier)
    base_answered = [q.e2e_s for q in base if q.answered and q.e2e_s is not None]
    base_terminal = [q for q in base if q.state != "in_flight"]
    threshold = _p99(base_answered) if len(base_answered) >= MIN_BASELINE else None
    amplification = (
        sum(q.llm_calls for q in base_terminal) / len(base_terminal)
        if len(base_terminal) >= MIN_BASELINE
        else None
    )
    calls = sum(q.llm_calls for q in affected)
    expected = amplification * len(affected) if amplification is not None else None
    delayed = None
    if threshold is not None:
        delayed = sum(
            q.state == "in_flight" or (q.e2e_s is not None and q.e2e_s > threshold)
            for q in affected
        )
    return {
        "label": fault.label,
        "action": fault.action,
        "target": fault.target,
        "at_s": fault.at_s,
        "start_s": start_s,
        "end_s": end_s,
        "duration_s": fault.duration_s,
        "detail": fault.detail,
        "error": fault.error,
        "recovery_from": "end" if fault.lasts else "start",
        "recovery_s": recovery,
        "recovery_note": note,
        "window_end_s": window_end,
        "affected": len(affected),
        "baseline_questions": len(base),
        "delay_threshold_s": threshold,
        "delayed": delayed,
        "llm_calls": calls,
        "baseline_amplification": amplification,
        "expected_llm_calls": expected,
        "extra_llm_calls": None if expected is None else calls - expected,
    }


def faults_section(
    questions: Sequence[QuestionTimes], faults: Sequence[FaultEvent], t0: float, load_s: float
) -> list[dict[str, Any]]:
    """Every fault's figures, in the order the faults started (see the module docstring)."""
    if not faults:
        return []
    seconds = max(0, math.ceil(load_s))
    answered = per_second((q.durable_s for q in questions if q.answered), seconds)
    offered = per_second((q.intended_s for q in questions), seconds)
    out: list[dict[str, Any]] = []
    windows: list[tuple[float, float]] = []
    for fault in sorted(faults, key=lambda f: f.started_at):
        item = fault_impact(fault, questions, answered, offered, t0, load_s, windows)
        windows.append((item["start_s"], item["window_end_s"]))
        out.append(item)
    return out
