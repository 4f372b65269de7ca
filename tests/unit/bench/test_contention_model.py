"""The AWS "Exponential Backoff And Jitter" ordering, reproduced in virtual time."""

from __future__ import annotations

from contention_model import STRATEGIES, ContentionConfig, compare, simulate

CONFIG = ContentionConfig(clients=50)


def test_no_jitter_costs_far_more_calls_and_time_than_any_jitter() -> None:
    rows = {row.strategy: row for row in compare(CONFIG, seeds=range(3))}
    assert all(row.all_completed for row in rows.values())
    plain = rows["exponential (no jitter)"]
    for name in ("full jitter", "equal jitter", "decorrelated jitter"):
        assert plain.mean_calls > 3 * rows[name].mean_calls, name
        assert plain.mean_completion_s > 10 * rows[name].mean_completion_s, name
    # As in the AWS study, equal jitter does more work than full jitter.
    assert rows["equal jitter"].mean_calls > rows["full jitter"].mean_calls


def test_no_jitter_serialises_the_clients() -> None:
    # Identical delays: every round, all remaining clients collide and exactly one wins.
    result = simulate(STRATEGIES["exponential (no jitter)"](CONFIG.base_s, CONFIG.cap_s), CONFIG)
    n = CONFIG.clients
    assert result.calls == n * (n + 1) // 2
    assert result.completed == n


def test_simulation_is_deterministic_per_seed() -> None:
    wait = STRATEGIES["full jitter"](CONFIG.base_s, CONFIG.cap_s)
    assert simulate(wait, CONFIG, seed=3) == simulate(wait, CONFIG, seed=3)
    assert simulate(wait, CONFIG, seed=3) != simulate(wait, CONFIG, seed=4)
