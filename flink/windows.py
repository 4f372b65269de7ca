"""Live metrics of the scoring job: per experiment, per tumbling window, what the feedback loop
did (pure aggregation logic; the job applies it in a keyed processing-time window).

Each scored (or dead-lettered) answer adds its decision and score to the window of its
experiment; when the window closes, one ``flink_window`` event goes to qa.events::

    attrs = {window_start, window_end, window_s,            # epoch seconds
             scored, accepted, sent_back, low_quality, no_reference, dead_lettered,
             mean_score, min_score, max_score, accept_rate}

``scored`` counts every answer that got a score (accepted + sent_back + low_quality +
no_reference); ``dead_lettered`` the answers that could not be scored; ``mean_score`` is over
the scored ones (None if there were none). ``accept_rate`` = accepted / scored.

Why processing time: the metric answers "what is the scorer doing now" for a live view of the
loop, and that is wall-clock by nature. Event time (by ``intended_at`` or the answer's hop)
would need watermarks across six partitions fed by many workers with retries of up to minutes:
windows would close late or drop late answers, and an experiment's last window would never
close once its traffic stops (idle partitions hold the watermark). Reports get exact
per-question times from the envelopes anyway. The cost: after a restart, replayed answers are
counted again, in the window they are replayed in (the window events are at-least-once, like
everything the job writes); the event id is stable per experiment and window, so a window
emitted twice is recognisable.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace

from flink.routing import Decision
from pipeline.messages import Event, EventKind, Stage

__all__ = ["WindowStats", "window_event"]


@dataclass(frozen=True)
class WindowStats:
    """The accumulator of one experiment's window (immutable: ``add`` and ``merge`` return new
    values, which is what Flink's AggregateFunction expects of a pickled accumulator)."""

    scored: int = 0
    accepted: int = 0
    sent_back: int = 0
    low_quality: int = 0
    no_reference: int = 0
    dead_lettered: int = 0
    score_sum: float = 0.0
    min_score: float = math.inf
    max_score: float = -math.inf

    def add(self, decision: Decision | str, score: float | None) -> WindowStats:
        decision = Decision(decision)
        if decision is Decision.DEAD_LETTERED or score is None:
            return replace(self, dead_lettered=self.dead_lettered + 1)
        counter = {
            Decision.ACCEPTED: "accepted",
            Decision.REGENERATE: "sent_back",
            Decision.LOW_QUALITY: "low_quality",
            Decision.NO_REFERENCE: "no_reference",
        }[decision]
        return replace(
            self,
            scored=self.scored + 1,
            score_sum=self.score_sum + score,
            min_score=min(self.min_score, score),
            max_score=max(self.max_score, score),
            **{counter: getattr(self, counter) + 1},
        )

    def merge(self, other: WindowStats) -> WindowStats:
        return WindowStats(
            scored=self.scored + other.scored,
            accepted=self.accepted + other.accepted,
            sent_back=self.sent_back + other.sent_back,
            low_quality=self.low_quality + other.low_quality,
            no_reference=self.no_reference + other.no_reference,
            dead_lettered=self.dead_lettered + other.dead_lettered,
            score_sum=self.score_sum + other.score_sum,
            min_score=min(self.min_score, other.min_score),
            max_score=max(self.max_score, other.max_score),
        )

    @property
    def mean_score(self) -> float | None:
        return self.score_sum / self.scored if self.scored else None

    def attrs(self) -> dict[str, float | int | None]:
        scored = self.scored
        return {
            "scored": scored,
            "accepted": self.accepted,
            "sent_back": self.sent_back,
            "low_quality": self.low_quality,
            "no_reference": self.no_reference,
            "dead_lettered": self.dead_lettered,
            "mean_score": self.mean_score,
            "min_score": self.min_score if scored else None,
            "max_score": self.max_score if scored else None,
            "accept_rate": self.accepted / scored if scored else None,
        }


def window_event(
    experiment_id: str, stats: WindowStats, *, start: float, end: float, now: float
) -> Event:
    """The ``flink_window`` event of one experiment's window [start, end) (epoch seconds)."""
    digest = hashlib.sha256(
        f"{EventKind.FLINK_WINDOW.value}\x1f{experiment_id}\x1f{start!r}\x1f{end!r}".encode()
    ).hexdigest()[:32]
    return Event(
        event_id=digest,
        experiment_id=experiment_id,
        stage=Stage.FLINK.value,
        kind=EventKind.FLINK_WINDOW.value,
        ts=now,
        attrs={"window_start": start, "window_end": end, "window_s": end - start, **stats.attrs()},
    )
