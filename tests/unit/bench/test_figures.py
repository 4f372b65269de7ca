"""The cost benchmarks' arithmetic and tables (bench/figures.py)."""

from __future__ import annotations

import math

import figures
import pytest


def test_percentile_is_nearest_rank() -> None:
    values = list(range(1, 101))
    assert figures.percentile(values, 0.5) == 50
    assert figures.percentile(values, 0.99) == 99
    assert figures.percentile(values, 1.0) == 100
    assert figures.percentile([3.0], 0.99) == 3.0
    assert math.isnan(figures.percentile([], 0.5))


def test_ratio_is_nan_without_a_positive_denominator() -> None:
    assert figures.ratio(3, 4) == 0.75
    for num, den in ((1, 0), (1, None), (None, 2), (1, -1)):
        assert math.isnan(figures.ratio(num, den))


def test_overhead_is_the_pipelines_share_relative_to_the_llm() -> None:
    # the figures: e2e p50 478 ms, LLM attempt p50 228 ms
    assert figures.overhead(0.478, 0.228) == pytest.approx(250 / 228)
    assert figures.overhead(0.25, 0.2) == pytest.approx(0.25)
    assert math.isnan(figures.overhead(None, 0.2)) and math.isnan(figures.overhead(0.3, None))


def test_overhead_percentiles_are_per_question_and_skip_questions_without_llm_time() -> None:
    pairs = [(0.2 * (1 + k / 100), 0.2) for k in range(100)] + [(1.0, 0.0)]
    got = figures.overhead_percentiles(pairs)
    assert got[0.5] == pytest.approx(0.49)
    assert got[0.99] == pytest.approx(0.98)


def test_the_generator_fell_behind_when_its_send_lateness_tail_exceeds_the_gap() -> None:
    assert figures.fell_behind(9.0, 300)  # the case: 9 s late at 300/s
    assert not figures.fell_behind(0.002, 300)  # 2 ms < 3.3 ms between arrivals
    assert not figures.fell_behind(None, 300)


def test_slowest_ignores_stages_not_measured() -> None:
    stages = {"worker": 490.0, "storage": 2400.0, "flink": 1337.0, "skipped": None,
              "failed": math.nan}
    assert figures.slowest(stages) == ("worker", 490.0)
    assert figures.slowest({"skipped": None}) is None


def test_bottleneck_names_the_cpu_when_the_machine_is_saturated() -> None:
    text = figures.bottleneck(214, {"worker": 490.0}, 1.95, 2,
                              {"kafka": 1.0, "worker-0": 2.5, "postgres": 1.5, "storage": 0.5})
    assert text.startswith("the machine's CPU (1.95 of 2 cores busy)")
    assert "worker-0 2.50, postgres 1.50, kafka 1.00" in text


def test_bottleneck_names_the_slowest_stage_when_end_to_end_reaches_it() -> None:
    stages = {"worker": 490.0, "storage": 2400.0}
    assert figures.bottleneck(470, stages, 1.0, 2, {}).startswith("worker (end to end reaches 0.96")
    assert figures.bottleneck(214, stages, 1.0, 2, {}).startswith(
        "no single stage: end to end reaches 0.44 of the slowest stage alone (worker)")
    assert figures.bottleneck(214, {}, 1.0, 2, {}).startswith("unknown")


def test_cpu_per_question_gross_and_net_of_idle() -> None:
    gross, net = figures.cpu_ms_per_question(2.0, 1000, idle_cpu_per_s=0.01, window_s=50)
    assert (gross, net) == pytest.approx((2.0, 1.5))
    assert figures.cpu_ms_per_question(0.1, 10, idle_cpu_per_s=1.0, window_s=10)[1] == 0.0
    assert all(math.isnan(v) for v in figures.cpu_ms_per_question(1.0, 0))


def test_fmt_cells() -> None:
    assert figures.fmt(1234.5678) == "1,234.6"
    assert figures.fmt(0.12345, 3) == "0.123"
    assert figures.fmt(12000) == "12,000"
    assert figures.fmt(None) == figures.fmt(math.nan) == "-"
    assert figures.fmt("x") == "x"


def test_table_aligns_columns_under_a_rule() -> None:
    text = figures.table(["hop", "p50", "p99"], [["queue_wait", 31.04, 88.0], ["llm", 0.5, None]])
    assert text.splitlines() == [
        "hop          p50   p99",
        "----------  ----  ----",
        "queue_wait  31.0  88.0",
        "llm          0.5     -",
    ]


def test_compare_pairs_figures_by_name() -> None:
    rows = figures.compare({"a": 2.0, "b": 1.0}, {"a": 1.0, "c": 3.0})
    assert rows[0] == ("a", 2.0, 1.0, 0.5)
    assert rows[1][0] == "b" and math.isnan(rows[1][2]) and math.isnan(rows[1][3])
    assert rows[2][0] == "c" and math.isnan(rows[2][1])
