"""The banners a report opens with when its figures cannot be read at face value: the run did
not finish (a partial report), or other runs shared the pipeline with it (their load may be in
its figures). The same sentences serve run reports, comparisons (one per run) and the index."""

from __future__ import annotations

from experiments.metrics.schema import Outcome
from experiments.report.fmt import plural, was

_VERB = {"failed": "failed", "stopped": "was stopped"}


def _questions(n: int) -> str:
    return f"{plural(n, 'question')} {was(n)}"


def partial_banner(outcome: Outcome) -> str | None:
    """ "Partial report: the run failed: <why>. N questions were still in flight ..." or None
    when the run finished."""
    if not outcome.partial:
        return None
    text = f"Partial report: the run {_VERB.get(outcome.status, outcome.status)}"
    text += f": {outcome.failure.rstrip('.')}." if outcome.failure else "."
    if outcome.in_flight_at_collection is not None:
        text += (
            f" {_questions(outcome.in_flight_at_collection)} still in flight when it was collected."
        )
    return text


def overlap_banner(outcome: Outcome) -> str | None:
    """ "Runs overlapped: <ids> had questions in the pipeline during this run; ..." or None."""
    if not outcome.overlapping_runs:
        return None
    ids = ", ".join(outcome.overlapping_runs)
    return (
        f"Runs overlapped: {ids} had questions in the pipeline during this run; its figures may "
        "include their load."
    )


def banners(outcome: Outcome) -> list[str]:
    """Every banner of a run, partial first."""
    return [b for b in (partial_banner(outcome), overlap_banner(outcome)) if b]


def status_reason(outcome: Outcome) -> str:
    """One short cell for the index: why the run did not finish or whom it overlapped; '' if
    neither."""
    parts = []
    if outcome.partial:
        parts.append(outcome.failure or outcome.status)
    elif outcome.stopped_early:
        parts.append(f"load stopped early: {outcome.stopped_early}")
    if outcome.overlapping_runs:
        parts.append("overlapped " + ", ".join(outcome.overlapping_runs))
    return "; ".join(parts)
