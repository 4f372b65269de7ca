"""Sweep charts: a headline metric against a swept field, one line per value of the other swept
field, error bars where a cell ran repeats; embedded in the sweep's comparison page."""

from __future__ import annotations

from pathlib import Path

import pytest
from matplotlib.container import ErrorbarContainer

from experiments.metrics import compute
from experiments.metrics.repeats import aggregate_repeats
from experiments.metrics.schema import Repeats, RunMetrics
from experiments.metrics.synthetic import SyntheticProfile, make_run
from experiments.report.plot_axes import is_duration_axis
from experiments.report.sweep_plots import (
    SWEEP_METRICS,
    SweepCell,
    choose_x,
    format_param,
    series_of,
    sweep_cells,
    sweep_figure,
    sweep_section,
    swept_fields,
)

TINY = SyntheticProfile(duration_s=12.0, warmup_s=2.0, rate=4.0, bursts=((5.0, 8.0),))
BACKOFFS = (0.1, 1.0, 4.0)
RATES = (2, 4)


def _cell(backoff: float, rate: int, repeats: int, name: str = "grid") -> RunMetrics:
    """A synthetic sweep cell tagged as expand_grid tags it (with ``repeats`` runs when > 1)."""
    profile = SyntheticProfile(**{**TINY.__dict__, "rate": float(rate)})
    runs = [compute(make_run(s * 7 + rate, backoff=backoff, profile=profile))
            for s in range(repeats)]
    primary = runs[0]
    if repeats > 1:
        stats = aggregate_repeats([m.headline for m in runs])
        primary.repeats = Repeats.model_validate({**stats, "runs": []})
    spec = dict(primary.spec)
    spec["arrival"] = {**spec["arrival"], "rate": rate}
    spec["tags"] = ["demo", f"sweep:{name}", f"retry.base_s={backoff}", f"arrival.rate={rate}"]
    primary.spec = spec
    return primary


@pytest.fixture(scope="module")
def grid() -> list[RunMetrics]:
    """retry.base_s x arrival.rate, 2 repeats per cell."""
    return [_cell(b, r, 2) for b in BACKOFFS for r in RATES]


@pytest.fixture(scope="module")
def single() -> list[RunMetrics]:
    """retry.base_s alone, one run per cell."""
    return [_cell(b, 4, 1) for b in BACKOFFS]


def test_swept_fields_come_from_the_cells_tags(grid: list[RunMetrics]) -> None:
    assert swept_fields([m.spec for m in grid]) == ["retry.base_s", "arrival.rate"]
    not_a_sweep = [{**m.spec, "tags": ["retry.base_s=0.1"]} for m in grid]
    assert swept_fields(not_a_sweep) == []
    wrong_value = [{**grid[0].spec, "tags": ["sweep:x", "retry.base_s=9"]}]
    assert swept_fields(wrong_value) == []


def test_a_tag_names_a_number_however_the_spec_spells_it(grid: list[RunMetrics]) -> None:
    spec = {**grid[0].spec, "tags": ["sweep:x", "arrival.rate=2.0", "retry.base_s=0.10"]}
    spec["arrival"] = {**spec["arrival"], "rate": 2}
    assert swept_fields([spec]) == ["arrival.rate", "retry.base_s"]


def test_a_field_of_names_is_a_categorical_axis(single: list[RunMetrics]) -> None:
    profiles = ("healthy", "flaky", "slow")
    cells = [SweepCell({"llm.profile": p}, m) for p, m in zip(profiles, single, strict=True)]
    ax = sweep_figure(cells, "error_rate", "llm.profile", []).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(profiles)
    assert ax.get_xscale() == "linear" and ax.get_xlim() == (-0.5, 2.5)


def test_the_field_with_most_values_goes_on_x(grid: list[RunMetrics]) -> None:
    cells = sweep_cells(grid, ["arrival.rate", "retry.base_s"])
    assert choose_x(cells, ["arrival.rate", "retry.base_s"]) == ("retry.base_s", ["arrival.rate"])
    assert format_param("retry.base_s", 0.1) == "100 ms"
    assert format_param("arrival.rate", 4) == "4" and format_param("arrival.kind", "poisson") == "poisson"


def test_one_line_per_other_value_with_error_bars(grid: list[RunMetrics]) -> None:
    cells = sweep_cells(grid, ["retry.base_s", "arrival.rate"])
    series = series_of(cells, "e2e_p99_s", "retry.base_s", ["arrival.rate"])
    assert list(series) == ["arrival.rate=2", "arrival.rate=4"]
    for points in series.values():
        assert [p.x for p in points] == list(BACKOFFS)
        assert all(p.low is not None and p.low <= p.y <= p.high for p in points)
        assert all(len(p.repeats) == 2 for p in points)
    ax = sweep_figure(cells, "e2e_p99_s", "retry.base_s", ["arrival.rate"]).axes[0]
    bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert [c.get_label() for c in bars] == ["arrival.rate=2", "arrival.rate=4"]
    assert all(c.has_yerr for c in bars)
    styles = {(c.lines[0].get_color(), c.lines[0].get_linestyle(), c.lines[0].get_marker())
              for c in bars}
    assert len(styles) == 2  # each line its own colour, style and marker
    assert is_duration_axis(ax, "y")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["100 ms", "1 s", "4 s"]
    assert "95% CI" in ax.get_title() and "one line per arrival.rate" in ax.get_title()


def test_single_runs_have_no_error_bars(single: list[RunMetrics]) -> None:
    cells = sweep_cells(single, ["retry.base_s"])
    fig = sweep_figure(cells, "goodput_qps", "retry.base_s", [])
    ax = fig.axes[0]
    (bars,) = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert not bars.has_yerr and bars.get_label() == "Goodput (accepted)"
    assert "no confidence intervals" in ax.get_title()
    assert ax.get_ylabel() == "Goodput (accepted) (questions per second)"


def test_a_flat_metric_gets_a_readable_range() -> None:
    flat_runs = [_cell(b, 4, 1) for b in (0.1, 1.0)]
    for m in flat_runs:
        m.headline["amplification"] = 1.0
    cells = [SweepCell({"retry.base_s": m.spec["retry"]["base_s"]}, m) for m in flat_runs]
    ax = sweep_figure(cells, "amplification", "retry.base_s", []).axes[0]
    assert ax.get_ylim() == (0.0, 2.0)


def test_the_section_embeds_one_chart_per_headline(grid: list[RunMetrics], tmp_path: Path) -> None:
    section = sweep_section(grid, tmp_path)
    assert section is not None and section.title == "Sweep charts"
    images = [b for b in section.blocks if hasattr(b, "path")]
    assert [i.path.name for i in images] == [f"sweep_{k}.png" for k in SWEEP_METRICS]
    assert all(i.path.read_bytes()[:4] == b"\x89PNG" for i in images)
    assert sweep_section([m.model_copy(update={"spec": {}}) for m in grid], tmp_path) is None


def test_the_sweep_comparison_page_shows_the_charts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, single: list[RunMetrics]
) -> None:
    from experiments.metrics.store import write_metrics, write_questions
    from experiments.sweep import compare_cells

    monkeypatch.setenv("HARNESS_REPORT_REPORTS_ROOT", str(tmp_path))
    dirs = []
    for i, m in enumerate(single):
        d = tmp_path / f"grid.{i + 1}"
        write_metrics(m, d)
        write_questions([], d)
        dirs.append(str(d))
    out = Path(compare_cells(dirs, "grid"))
    html = (out / "index.html").read_text()
    assert "Sweep charts" in html and "Goodput (accepted) against retry.base_s." in html
    md = (out / "report.md").read_text()
    assert md.index("## Sweep charts") < md.index("## Overlays")
    assert sorted(p.name for p in out.glob("sweep_*.png")) == sorted(
        f"sweep_{k}.png" for k in SWEEP_METRICS
    )
