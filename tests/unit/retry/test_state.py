"""RetryState bookkeeping and its round trip through plain data (Kafka deferrals)."""

from __future__ import annotations

import json

from pipeline.retry import ErrorClass, Failure, RetryState


def test_state_accumulates_failures_and_round_trips_through_json() -> None:
    s = RetryState.first_failure(Failure(ErrorClass.OVERLOAD, 1.5), started_at=100.0, now=100.2)
    s = s.after_failure(Failure(ErrorClass.BAD_COMPLETION), now=101.0, delay_s=0.4)
    s = s.after_failure(Failure(ErrorClass.OVERLOAD), now=103.0, delay_s=1.2)
    assert s.attempt_number == 3
    assert s.elapsed_s == 3.0
    assert s.prev_delay_s == 1.2
    assert s.failures_of(ErrorClass.OVERLOAD) == 2
    assert s.failures_of(ErrorClass.BAD_COMPLETION) == 1
    assert s.retry_after_s is None  # the latest failure's hint, not an old one
    back = RetryState.from_dict(json.loads(json.dumps(s.to_dict())))
    assert back == s
