"""Every plot has a title and axes labelled with units, with data or without; plot hygiene:
plain duration ticks, legends off the data, distinguishable series, no flat twin axis, no
all-zero overlay."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from experiments.metrics import RunData, RunMeta, compute, read_metrics, read_questions
from experiments.metrics.schema import RunMetrics
from experiments.metrics.synthetic import SyntheticProfile, make_run
from experiments.report.plot_axes import all_zero, flat, format_duration, is_duration_axis
from experiments.report.plots import (
    FAULT_GID,
    OVERLAY_PLOTS,
    RUN_PLOTS,
    retries_overlay,
    save_figure,
    threshold_curve,
    throughput_over_time,
)

# a unit in parentheses, a rate ("per second"), or a count / category axis
UNIT = re.compile(r"\((s|%)[,)\s]|unitless\)|\bper (second|question)\b|^questions$|^hop$")
#: a readable duration tick: a plain decimal and a unit
DURATION_TICK = re.compile(r"^-?\d+(\.\d+)? (µs|ms|s|min)$|^0$")

#: the metrics of a run without a single question
EMPTY = compute(
    RunData(meta=RunMeta(run_name="empty", experiment_id="e", started_at=0.0, ended_at=10.0))
)
#: a run in which no LLM attempt fails and nothing is dead-lettered
CALM = SyntheticProfile(
    duration_s=20.0, warmup_s=4.0, rate=5.0, bursts=(), p_overload=0.0, p_rate_limited=0.0,
    p_invalid=0.0, p_bad_completion=0.0, score_mean=0.9,
)


@pytest.fixture(scope="module")
def calm() -> RunMetrics:
    return compute(make_run(3, profile=CALM, run_name="calm"))


def _drawn(fig: Figure) -> Figure:
    FigureCanvasAgg(fig)
    fig.tight_layout()
    fig.canvas.draw()
    return fig


def _check(fig: Figure) -> None:
    for ax in fig.axes:
        assert ax.get_title() or ax.get_ylabel(), "an axes without title"
        assert ax.get_xlabel() or ax.get_ylabel()
        for axis, label in (("x", ax.get_xlabel()), ("y", ax.get_ylabel())):
            if label and not is_duration_axis(ax, axis):
                assert UNIT.search(label), f"no unit in axis label {label!r}"
    assert any(ax.get_title() for ax in fig.axes)


def _legends_off_the_data(fig: Figure) -> None:
    renderer = _drawn(fig).canvas.get_renderer()
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is not None:
            box, data = legend.get_window_extent(renderer), ax.get_window_extent(renderer)
            assert not box.overlaps(data), f"legend over the data of {ax.get_title()!r}"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.2, "200 ms"), (4, "4 s"), (1, "1 s"), (1.5, "1.5 s"), (0.05, "50 ms"), (0.0005, "500 µs"),
     (0.9999, "1 s"), (0.0123456, "12.3 ms"), (120, "120 s"), (900, "15 min"), (0, "0")],
)
def test_duration_tick_labels(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_series_tests() -> None:
    assert all_zero([0.0, 0, None]) and all_zero([]) and not all_zero([0, 0.5])
    assert flat([1.0, 1.0, 1.0004]) == pytest.approx(1.0002) and flat([1.0, 1.5]) is None
    assert flat([None]) is None


@pytest.mark.parametrize("name", list(RUN_PLOTS))
def test_run_plot_labels(name: str, reports_root: Path) -> None:
    metrics = read_metrics(reports_root / "single")
    rows = read_questions(reports_root / "single")
    _, build = RUN_PLOTS[name]
    _check(build(metrics, rows))
    _legends_off_the_data(build(metrics, rows))
    _check(build(EMPTY, []))  # an empty run still draws a labelled "no data" plot


@pytest.mark.parametrize("name", list(OVERLAY_PLOTS))
def test_overlay_plot_labels(name: str, reports_root: Path) -> None:
    runs = [(d, read_metrics(reports_root / d)) for d in ("fast", "slow")]
    _, build = OVERLAY_PLOTS[name]
    fig = build(runs)
    _check(fig)
    legend = fig.axes[0].get_legend()
    assert legend is not None and any("fast" in t.get_text() for t in legend.get_texts())
    _legends_off_the_data(fig)


@pytest.mark.parametrize(("name", "axis"), [("latency_cdf", "x"), ("latency_over_time", "y")])
def test_log_latency_axes_read_in_plain_units(name: str, axis: str, reports_root: Path) -> None:
    m, rows = read_metrics(reports_root / "single"), read_questions(reports_root / "single")
    ax = _drawn(RUN_PLOTS[name][1](m, rows)).axes[0]
    assert (ax.get_xscale() if axis == "x" else ax.get_yscale()) == "log"
    labels = ax.get_xticklabels() if axis == "x" else ax.get_yticklabels()
    texts = [t.get_text() for t in labels if t.get_text()]
    assert len(texts) >= 2 and all(DURATION_TICK.match(t) for t in texts), texts
    minor = ax.xaxis.get_minorticklabels() if axis == "x" else ax.yaxis.get_minorticklabels()
    assert not [t.get_text() for t in minor if t.get_text()]  # no "6x10^-1" minor labels


def test_answered_and_goodput_stay_distinguishable_when_equal(calm: RunMetrics) -> None:
    ax = throughput_over_time(calm).axes[0]
    lines = {line.get_label(): line for line in ax.lines}
    answered, good = lines["throughput (answered)"], lines["goodput (accepted)"]
    assert list(answered.get_ydata()) == list(good.get_ydata())  # equal in a calm run ...
    assert answered.get_linestyle() != good.get_linestyle()  # ... but drawn differently
    assert answered.get_linewidth() > good.get_linewidth()
    assert answered.get_zorder() < good.get_zorder()  # the dashes on top of the wide line
    assert "dead-lettered" not in lines and "no dead letters" in ax.get_title()


def test_no_failed_attempts_is_said_not_drawn(calm: RunMetrics, reports_root: Path) -> None:
    quiet = retries_overlay([("calm", calm), ("calm again", calm)]).axes[0]
    assert [line for line in quiet.lines if line.get_gid() != FAULT_GID] == []
    assert any(t.get_text() == "no failed attempts in any run" for t in quiet.texts)
    mixed = retries_overlay([("calm", calm), ("fast", read_metrics(reports_root / "fast"))])
    ax = mixed.axes[0]
    assert [line.get_label() for line in ax.lines] == ["fast"]
    assert "no failed attempts: calm" in ax.get_title()
    attempts = RUN_PLOTS["attempts"][1](calm, []).axes[0]
    assert "no failed attempts" in attempts.get_title()
    assert attempts.get_legend_handles_labels()[1] == ["steady window", "ok"]


def test_threshold_twin_axis_only_when_llm_calls_vary(reports_root: Path) -> None:
    m = read_metrics(reports_root / "single")
    varying = threshold_curve(m)
    assert len(varying.axes) == 2
    low, high = varying.axes[1].get_ylim()
    assert high - low >= 0.1
    ta = m.quality.threshold_analysis
    rows = [r.model_copy(update={"expected_llm_calls": 1.0}) for r in ta.rows]
    flat_m = m.model_copy(deep=True)
    flat_m.quality.threshold_analysis = ta.model_copy(update={"rows": rows})
    fig = threshold_curve(flat_m)
    assert len(fig.axes) == 1  # no 0.96-1.04 axis for a flat 1.00
    assert "expected LLM calls: 1.00 per question at every threshold" in fig.axes[0].get_title()
    _legends_off_the_data(fig)


def test_figures_are_deterministic(reports_root: Path, tmp_path: Path) -> None:
    m, rows = read_metrics(reports_root / "single"), read_questions(reports_root / "single")
    build = RUN_PLOTS["throughput"][1]
    a = save_figure(build(m, rows), tmp_path / "a.png").read_bytes()
    b = save_figure(build(m, rows), tmp_path / "b.png").read_bytes()
    assert a == b
