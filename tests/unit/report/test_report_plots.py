"""Every plot has a title and axes labelled with units, with data or without."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from experiments.metrics import RunData, RunMeta, compute, read_metrics, read_questions
from experiments.report.plots import OVERLAY_PLOTS, RUN_PLOTS

# a unit in parentheses, a rate ("per second"), or a count / category axis
UNIT = re.compile(r"\((s|%)[,)\s]|unitless\)|\bper (second|question)\b|^questions$|^hop$")

#: the metrics of a run without a single question
EMPTY = compute(
    RunData(meta=RunMeta(run_name="empty", experiment_id="e", started_at=0.0, ended_at=10.0))
)


def _check(fig: Figure) -> None:
    for ax in fig.axes:
        assert ax.get_title() or ax.get_ylabel(), "an axes without title"
        assert ax.get_xlabel() or ax.get_ylabel()
        for label in (ax.get_xlabel(), ax.get_ylabel()):
            if label:
                assert UNIT.search(label), f"no unit in axis label {label!r}"
    assert any(ax.get_title() for ax in fig.axes)


@pytest.mark.parametrize("name", list(RUN_PLOTS))
def test_run_plot_labels(name: str, reports_root: Path) -> None:
    metrics = read_metrics(reports_root / "single")
    rows = read_questions(reports_root / "single")
    _, build = RUN_PLOTS[name]
    _check(build(metrics, rows))
    _check(build(EMPTY, []))  # an empty run still draws a labelled "no data" plot


@pytest.mark.parametrize("name", list(OVERLAY_PLOTS))
def test_overlay_plot_labels(name: str, reports_root: Path) -> None:
    runs = [(d, read_metrics(reports_root / d)) for d in ("fast", "slow")]
    _, build = OVERLAY_PLOTS[name]
    fig = build(runs)
    _check(fig)
    legend = fig.axes[0].get_legend()
    assert legend is not None and any("fast" in t.get_text() for t in legend.get_texts())
