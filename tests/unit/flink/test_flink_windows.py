"""The live-metrics window aggregation: counts, score statistics, merging, and the event."""

from __future__ import annotations

import functools

import pytest

from flink.routing import Decision
from flink.windows import WindowStats, window_event
from pipeline.messages import Event, decode_event, encode

SAMPLE = [
    (Decision.ACCEPTED, 0.9),
    (Decision.REGENERATE, 0.1),
    (Decision.REGENERATE, 0.2),
    (Decision.LOW_QUALITY, 0.25),
    (Decision.NO_REFERENCE, 0.0),
    (Decision.DEAD_LETTERED, None),
    (Decision.ACCEPTED, 0.6),
]


def _fold(items) -> WindowStats:
    return functools.reduce(lambda acc, item: acc.add(*item), items, WindowStats())


def test_counts_by_decision_and_score_statistics():
    stats = _fold(SAMPLE)
    attrs = stats.attrs()
    assert attrs == {
        "scored": 6,
        "accepted": 2,
        "sent_back": 2,
        "low_quality": 1,
        "no_reference": 1,
        "dead_lettered": 1,
        "mean_score": pytest.approx((0.9 + 0.1 + 0.2 + 0.25 + 0.0 + 0.6) / 6),
        "min_score": 0.0,
        "max_score": 0.9,
        "accept_rate": pytest.approx(2 / 6),
    }


def test_decision_given_as_text():
    assert WindowStats().add("accepted", 0.5).accepted == 1


def test_add_returns_a_new_value():
    empty = WindowStats()
    one = empty.add(Decision.ACCEPTED, 0.4)
    assert empty == WindowStats() and one.scored == 1


def test_merge_equals_adding_everything_in_one_accumulator():
    for cut in range(len(SAMPLE) + 1):
        merged = _fold(SAMPLE[:cut]).merge(_fold(SAMPLE[cut:]))
        assert merged.attrs() == _fold(SAMPLE).attrs()


def test_a_window_of_dead_letters_only_has_no_score_statistics():
    attrs = _fold([(Decision.DEAD_LETTERED, None)] * 3).attrs()
    assert attrs["dead_lettered"] == 3 and attrs["scored"] == 0
    assert attrs["mean_score"] is None and attrs["min_score"] is None
    assert attrs["accept_rate"] is None


def test_window_event_is_a_valid_flink_window_event():
    event = window_event("exp-1", _fold(SAMPLE), start=100.0, end=105.0, now=105.2)
    again = decode_event(encode(event))  # survives the JSON round trip (no inf, no NaN)
    assert isinstance(again, Event)
    assert (again.kind, again.stage, again.experiment_id, again.ts) == (
        "flink_window",
        "flink",
        "exp-1",
        105.2,
    )
    assert again.question_id is None
    assert again.attrs["window_start"] == 100.0 and again.attrs["window_end"] == 105.0
    assert again.attrs["window_s"] == 5.0
    assert again.attrs["scored"] == 6 and again.attrs["sent_back"] == 2


def test_window_event_of_an_empty_accumulator_encodes():
    event = window_event("exp-1", WindowStats(), start=0.0, end=1.0, now=1.0)
    assert decode_event(encode(event)).attrs["min_score"] is None


def test_window_event_id_is_stable_per_experiment_and_window():
    a = window_event("exp-1", WindowStats(), start=100.0, end=105.0, now=105.0)
    b = window_event("exp-1", _fold(SAMPLE), start=100.0, end=105.0, now=107.0)
    assert a.event_id == b.event_id
    assert (
        a.event_id
        != window_event("exp-2", WindowStats(), start=100.0, end=105.0, now=105.0).event_id
    )
    assert (
        a.event_id
        != window_event("exp-1", WindowStats(), start=105.0, end=110.0, now=110.0).event_id
    )
