"""Charts of a sweep: each headline metric against a swept parameter, one line per value of the
other swept parameter(s), with the repeats' confidence intervals as error bars.

A cell's figure is the mean over its repeats with the repeats' bootstrap CI
(:mod:`experiments.metrics.repeats`) when the cell ran repeats, else its single value (no bar).
The swept fields are read from the cells' specs: :func:`experiments.sweep.expand_grid` tags every
cell with ``sweep:<name>`` and one ``<field>=<value>`` per swept field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator, PercentFormatter

from experiments.metrics.headline import BY_KEY
from experiments.metrics.schema import RunMetrics
from experiments.report.document import Image, Paragraph, Section
from experiments.report.plot_axes import duration_axis, flat, format_duration, legend_outside
from experiments.report.plots import RUN_STYLES, save_figure

#: the headline metrics charted against the swept parameter, in page order
SWEEP_METRICS = ("e2e_p50_s", "e2e_p99_s", "goodput_qps", "amplification", "error_rate")

#: y axis label per headline unit (durations are labelled by their ticks)
UNIT_LABELS = {
    "s": "{label} (log scale)",
    "1/s": "{label} (questions per second)",
    "x": "{label} (x)",
    "ratio": "{label} (%)",
}


@dataclass(frozen=True)
class SweepCell:
    """One cell of a sweep: the values of its swept fields and its metrics."""

    values: Mapping[str, Any]
    metrics: RunMetrics


@dataclass(frozen=True)
class Point:
    """A cell's figure for one metric: the mean (or single value) and its CI when repeats exist."""

    x: Any
    y: float
    low: float | None = None
    high: float | None = None
    repeats: tuple[float, ...] = ()


def spec_value(spec: Mapping[str, Any], field: str) -> Any:
    """The value at a dotted ``field`` path of a spec (``retry.base_s``); None when absent."""
    node: Any = spec
    for part in field.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def swept_fields(specs: Sequence[Mapping[str, Any]]) -> list[str]:
    """The swept fields, in grid order, from the ``<field>=<value>`` tags of sweep cells (a tag
    counts only when its field exists in the spec and holds that value)."""
    fields: list[str] = []
    for spec in specs:
        tags = [str(t) for t in spec.get("tags") or []]
        if not any(t.startswith("sweep:") for t in tags):
            continue
        for tag in tags:
            field, sep, text = tag.partition("=")
            if sep and _tagged(spec_value(spec, field), text) and field not in fields:
                fields.append(field)
    return fields


def _tagged(value: Any, text: str) -> bool:
    """Whether a spec value is the one a tag names (``2`` names a rate validated to ``2.0``)."""
    if value is None:
        return False
    if str(value) == text:
        return True
    if _numeric([value]):
        try:
            return float(text) == float(value)
        except ValueError:
            return False
    return False


def sweep_cells(runs: Sequence[RunMetrics], fields: Sequence[str]) -> list[SweepCell]:
    """Each run as a cell: its values of ``fields`` read from its spec."""
    return [SweepCell({f: spec_value(m.spec, f) for f in fields}, m) for m in runs]


def _numeric(values: Sequence[Any]) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def _distinct(values: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if v not in out:
            out.append(v)
    return sorted(out) if _numeric(out) else out


def choose_x(cells: Sequence[SweepCell], fields: Sequence[str]) -> tuple[str, list[str]]:
    """The field on the x axis (the numeric one with the most values; the first on a tie) and the
    others that vary (one line per combination of their values; a field held at one value draws
    no lines of its own)."""
    def rank(item: tuple[int, str]) -> tuple[bool, int, int]:
        i, f = item
        values = _distinct([c.values[f] for c in cells])
        return (_numeric(values), len(values), -i)

    x = max(enumerate(fields), key=rank)[1]
    varied = [f for f in fields if len(_distinct([c.values[f] for c in cells])) > 1]
    return x, [f for f in varied if f != x]


def point_of(metrics: RunMetrics, key: str, x: Any) -> Point | None:
    """The cell's figure for ``key``: the repeats' mean and CI when present, else the value."""
    repeats = metrics.repeat_stats()
    stat = repeats.metrics.get(key) if repeats is not None else None
    if stat is not None and stat.mean is not None:
        return Point(x, stat.mean, stat.ci_low, stat.ci_high, tuple(stat.values))
    value = metrics.headline.get(key)
    return None if value is None else Point(x, float(value))


def format_param(field: str, value: Any) -> str:
    """A swept value as text: durations of ``*_s`` fields in units (``100 ms``), numbers by ``g``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return format_duration(value) if field.endswith("_s") else f"{value:g}"


def _combo_order(combo: tuple[Any, ...]) -> tuple[tuple[int, float, str], ...]:
    """Sort key of a combination of values: numbers by value before anything else by its text."""
    return tuple((0, float(v), "") if _numeric([v]) else (1, 0.0, str(v)) for v in combo)


def series_of(
    cells: Sequence[SweepCell], key: str, x_field: str, others: Sequence[str]
) -> dict[str, list[Point]]:
    """One series per combination of the ``others``' values (label ``field=value, ...``; the
    metric's label when nothing else was swept), its points in x order."""
    groups: dict[tuple[Any, ...], list[Point]] = {}
    for cell in cells:
        combo = tuple(cell.values[f] for f in others)
        point = point_of(cell.metrics, key, cell.values[x_field])
        group = groups.setdefault(combo, [])
        if point is not None:
            group.append(point)
    order = _distinct([c.values[x_field] for c in cells])
    out: dict[str, list[Point]] = {}
    for combo in sorted(groups, key=_combo_order):
        label = ", ".join(f"{f}={format_param(f, v)}" for f, v in zip(others, combo, strict=True))
        out[label or BY_KEY[key].label] = sorted(groups[combo], key=lambda p: order.index(p.x))
    return out


def _dodge(ax: Axes, positions: Sequence[float], i: int, n: int) -> list[float]:
    """``positions`` nudged sideways for the ``i``-th of ``n`` lines (1.5 % of the axis span per
    line, centred), so error bars of lines at the same x do not hide each other."""
    if n < 2:
        return list(positions)
    step = (i - (n - 1) / 2) * 0.015
    xs = sorted(set(positions))
    if ax.get_xscale() == "log":
        span = math.log10(xs[-1] / xs[0]) if len(xs) > 1 else 1.0
        return [x * 10 ** (step * span) for x in positions]
    span = xs[-1] - xs[0] if len(xs) > 1 else 1.0
    return [x + step * span for x in positions]


def _x_axis(ax: Axes, field: str, values: list[Any]) -> dict[Any, float]:
    """Position of each x value: the value itself (log when it spans 10x or more), or its index
    for a non-numeric field; ticks sit exactly on the swept values."""
    if _numeric(values):
        positions = {v: float(v) for v in values}
        if min(values) > 0 and max(values) >= 10 * min(values):
            ax.set_xscale("log")
    else:
        positions = {v: float(i) for i, v in enumerate(values)}
        ax.set_xlim(-0.5, len(values) - 0.5)
    ax.set_xticks(list(positions.values()), [format_param(field, v) for v in values])
    ax.xaxis.set_minor_locator(NullLocator())
    return positions


def _y_axis(ax: Axes, unit: str, ys: list[float]) -> None:
    positive = [y for y in ys if y > 0]
    if unit == "s":
        log = bool(positive) and len(positive) == len(ys) and max(ys) >= 10 * min(ys)
        duration_axis(ax, "y", log=log)
    elif unit == "ratio":
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    if ax.get_yscale() != "log":
        ax.set_ylim(0, max(ys) * 1.08 or 1.0)  # from zero, with room above the highest bar
    level = flat(ys)
    if level is not None and ax.get_yscale() != "log":
        # a flat metric: a readable range from zero, not 0.96-1.04 around it
        top = 2 * level if level > 0 else (0.05 if unit == "ratio" else 1.0)
        ax.set_ylim(0, top)


def sweep_figure(
    cells: Sequence[SweepCell], key: str, x_field: str, others: Sequence[str]
) -> Figure:
    """``key`` against ``x_field``: one line per combination of ``others``; error bars where a
    cell ran repeats, its repeats' values as faint dots."""
    headline = BY_KEY[key]
    fig = Figure(figsize=(9.0, 4.5))
    ax = fig.add_subplot(1, 1, 1)
    x_values = _distinct([c.values[x_field] for c in cells])
    positions = _x_axis(ax, x_field, x_values)
    series = series_of(cells, key, x_field, others)
    ys: list[float] = []
    with_ci = False
    for i, (label, points) in enumerate(series.items()):
        if not points:
            continue
        linestyle, marker = RUN_STYLES[i % len(RUN_STYLES)]
        color = f"C{i % 10}"
        xs = _dodge(ax, [positions[p.x] for p in points], i, len(series))
        means = [p.y for p in points]
        below = [p.y - p.low if p.low is not None else 0.0 for p in points]
        above = [p.high - p.y if p.high is not None else 0.0 for p in points]
        has_ci = any(p.low is not None for p in points)
        with_ci |= has_ci
        ax.errorbar(xs, means, yerr=[below, above] if has_ci else None, color=color,
                    linestyle=linestyle, marker=marker, markersize=5, linewidth=1.5, capsize=4,
                    label=label)
        dots = [(x, v) for x, p in zip(xs, points, strict=True) for v in p.repeats]
        if dots:
            ax.scatter([x for x, _ in dots], [v for _, v in dots], s=14, facecolors="none",
                       edgecolors=color, alpha=0.6, linewidths=0.8, label="_nolegend_")
        ys += means + [p.low for p in points if p.low is not None]
        ys += [p.high for p in points if p.high is not None]
        ys += [v for _, v in dots]
    if ys:
        _y_axis(ax, headline.unit, ys)
        legend_outside(ax)
    else:
        ax.text(0.5, 0.5, "not measured in any cell", ha="center", va="center",
                transform=ax.transAxes, color="grey")
    ax.grid(True, alpha=0.3)
    ax.set_xlabel(f"{x_field} (swept)")
    ylabel = UNIT_LABELS.get(headline.unit, "{label}").format(label=headline.label)
    if headline.unit == "s" and ax.get_yscale() != "log":
        ylabel = headline.label  # the duration ticks carry the unit
    ax.set_ylabel(ylabel)
    lines = f", one line per {' x '.join(others)}" if others else ""
    bars = ("bars: 95% CI of the mean over repeats, dots: each repeat" if with_ci
            else "single runs: no confidence intervals")
    ax.set_title(f"{headline.label} against {x_field}{lines}\n({bars})")
    return fig


def sweep_plots(cells: Sequence[SweepCell], fields: Sequence[str], out_dir: Path
                ) -> dict[str, Path]:
    """Draw one chart per :data:`SWEEP_METRICS` into ``out_dir``; metric key -> file."""
    x_field, others = choose_x(cells, fields)
    return {
        key: save_figure(sweep_figure(cells, key, x_field, others), out_dir / f"sweep_{key}.png")
        for key in SWEEP_METRICS
    }


def sweep_section(runs: Sequence[RunMetrics], out_dir: Path) -> Section | None:
    """The "Sweep charts" section of a sweep's comparison page, its charts drawn into ``out_dir``;
    None when the runs carry no sweep tags (not a sweep)."""
    fields = swept_fields([m.spec for m in runs])
    if not fields:
        return None
    cells = sweep_cells(runs, fields)
    x_field, others = choose_x(cells, fields)
    files = sweep_plots(cells, fields, out_dir)
    intro = (
        f"Each headline metric against {x_field}"
        + (f", one line per value of {' x '.join(others)}" if others else "")
        + ". A point is a cell's mean over its repeats with the 95% bootstrap CI as an error bar"
        " (hollow dots: each repeat), or its single value when it ran once. Lines are nudged"
        " sideways a little so that their error bars do not hide each other."
    )
    images = [Image(files[k], f"{BY_KEY[k].label} against {x_field}.") for k in SWEEP_METRICS]
    return Section("Sweep charts", [Paragraph(intro, "note"), *images])

