"""Answer quality: scores at round 0 and at the end, the feedback loop's cost, the threshold analysis."""

from __future__ import annotations

from collections.abc import Sequence
from statistics import fmean, median
from typing import Any

import numpy as np

from experiments.metrics.derive import QuestionTimes
from experiments.metrics.model import LlmAttempt, WindowEvent

SCORE_BINS = 20
#: generations per question the "cost-capped" threshold may spend (see :func:`threshold_analysis`).
DEFAULT_GENERATION_BUDGET = 1.5


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def _dist(values: Sequence[float], edges: np.ndarray) -> dict[str, Any]:
    counts, _ = np.histogram(values, bins=edges)
    return {
        "count": len(values),
        "mean": fmean(values) if values else None,
        "median": median(values) if values else None,
        "counts": [int(c) for c in counts],
    }


def threshold_analysis(
    round0: Sequence[float],
    max_rounds: int,
    calls_per_generation: float,
    current: float | None,
    budget: float = DEFAULT_GENERATION_BUDGET,
) -> dict[str, Any]:
    """How acceptance and LLM cost move with the threshold, from the round-0 scores.

    Model: an answer passes with probability ``p(t)`` = share of round-0 scores >= ``t``, and every
    regeneration is an independent fresh draw from the same distribution. With ``R`` regeneration
    rounds, the expected generations per question are ``sum_{k=0..R} (1-p)^k`` and the final
    acceptance is ``1 - (1-p)^(R+1)``; LLM calls = generations x the observed calls per generation
    (error retries). Regenerations that score better than first answers make this a conservative
    (pessimistic) estimate. ``cost_capped_threshold`` is the highest threshold whose expected
    generations stay within ``budget``.
    """
    if not round0:
        return {"rows": [], "current": current, "cost_capped_threshold": None}
    scores = np.asarray(round0, dtype=float)
    lo, hi = min(0.0, float(scores.min())), max(1.0, float(scores.max()))
    grid = set(np.round(np.linspace(lo, hi, 41), 4).tolist())
    if current is not None:
        grid.add(round(float(current), 4))
    rows = []
    for t in sorted(grid):
        p = float(np.mean(scores >= t))
        q = 1.0 - p
        generations = sum(q**k for k in range(max_rounds + 1))
        rows.append(
            {
                "threshold": t,
                "pass_round0": p,
                "accepted_final": 1.0 - q ** (max_rounds + 1),
                "expected_generations": generations,
                "expected_llm_calls": generations * calls_per_generation,
            }
        )
    within = [r["threshold"] for r in rows if r["expected_generations"] <= budget]
    return {
        "model": "independent regenerations drawn from the round-0 score distribution",
        "max_rounds": max_rounds,
        "calls_per_generation": calls_per_generation,
        "generation_budget": budget,
        "current": current,
        "cost_capped_threshold": max(within) if within else None,
        "rows": rows,
    }


def _windows(windows: Sequence[WindowEvent], t0: float) -> dict[str, Any] | None:
    if not windows:
        return None
    ws = sorted(windows, key=lambda w: w.window_start)
    scored = sum(w.scored for w in ws)
    weighted = sum((w.mean_score or 0.0) * w.scored for w in ws if w.mean_score is not None)
    return {
        "count": len(ws),
        "scored": scored,
        "accepted": sum(w.accepted for w in ws),
        "sent_back": sum(w.sent_back for w in ws),
        "low_quality": sum(w.low_quality for w in ws),
        "mean_score": _ratio(weighted, sum(w.scored for w in ws if w.mean_score is not None)),
        "t": [w.window_start - t0 for w in ws],
        "mean_score_by_window": [w.mean_score for w in ws],
        "scored_by_window": [w.scored for w in ws],
    }


def quality_section(
    steady: Sequence[QuestionTimes],
    steady_attempts: Sequence[LlmAttempt],
    windows: Sequence[WindowEvent],
    t0: float,
    threshold: float | None,
    max_rounds: int | None,
) -> dict[str, Any]:
    llm_q = [q for q in steady if not q.cache_hit]
    scored = [q for q in llm_q if q.score_round0 is not None]
    both = [q for q in scored if q.score_final is not None]
    r0 = [q.score_round0 for q in scored if q.score_round0 is not None]
    r0_both = [q.score_round0 for q in both if q.score_round0 is not None]
    final = [q.score_final for q in both if q.score_final is not None]
    all_scores = r0 + final
    lo = min(0.0, min(all_scores, default=0.0))
    hi = max(1.0, max(all_scores, default=1.0))
    edges = np.linspace(lo, hi, SCORE_BINS + 1)
    if steady_attempts:  # the attempts of steady questions (cache hits have none)
        extra_calls = sum(a.round > 0 for a in steady_attempts)
    else:
        extra_calls = sum(q.rounds for q in llm_q)
    gain = sum(f - s for f, s in zip(final, r0_both, strict=True))
    terminal = [q for q in steady if q.state != "in_flight"]
    generations = sum(q.rounds + 1 for q in llm_q if q.llm_calls > 0)
    calls = sum(q.llm_calls for q in llm_q)
    observed_rounds = max((q.rounds for q in llm_q), default=0)
    rounds = max_rounds if max_rounds is not None else observed_rounds
    return {
        "bin_edges": [float(e) for e in edges],
        "round0": _dist(r0, edges),
        "final": _dist(final, edges),
        "round0_of_finished": {"mean": fmean(r0_both) if r0_both else None},
        "mean_gain": _ratio(gain, len(both)),
        "extra_llm_calls": extra_calls,
        "extra_calls_per_question": _ratio(extra_calls, len(llm_q)),
        "gain_per_extra_call": _ratio(gain, extra_calls) if extra_calls else None,
        "sent_back_share": _ratio(sum(q.rounds > 0 for q in scored), len(scored)),
        "accepted_share": _ratio(sum(q.state == "accepted" for q in terminal), len(terminal)),
        "low_quality_share": _ratio(sum(q.state == "low_quality" for q in terminal), len(terminal)),
        "threshold": threshold,
        "max_rounds": rounds,
        "threshold_analysis": threshold_analysis(
            r0,
            max_rounds=rounds,
            calls_per_generation=_ratio(calls, generations) or 1.0,
            current=threshold,
        ),
        "flink_windows": _windows(windows, t0),
    }
