"""PNG plots of one run and overlays of several, drawn from metrics.json (:class:`RunMetrics`) and
questions.csv only.

Figures are built with the object API and rendered by the Agg canvas explicitly: no pyplot state,
no display, identical output on any machine.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter
from matplotlib.transforms import blended_transform_factory

from experiments.metrics.derive import WATERFALL_PARTS
from experiments.metrics.schema import FaultImpact, RunMetrics

log = logging.getLogger(__name__)

DPI = 110
CLASS_COLORS = {
    "ok": "#4c9a2a",
    "overload": "#d62728",
    "rate_limited": "#ff7f0e",
    "quota_exhausted": "#9467bd",
    "invalid_request": "#8c564b",
    "bad_completion": "#e377c2",
}
PART_LABELS = {
    "producer_send": "producer send",
    "queue_wait": "queue wait",
    "backoff": "in-worker backoff",
    "llm": "LLM attempts",
    "retry_tier": "retry-tier wait",
    "scoring": "scoring (Flink)",
    "storage": "storage write",
    "other": "other / hand-offs",
}

Metrics = RunMetrics
Rows = Sequence[Mapping[str, Any]]


def save_figure(fig: Figure, path: Path) -> Path:
    """Render ``fig`` to a PNG with the Agg canvas."""
    FigureCanvasAgg(fig)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    return path


def _new(width: float = 9.0, height: float = 4.5) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(width, height))
    return fig, fig.add_subplot(1, 1, 1)


def _no_data(ax: Axes) -> None:
    ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="grey")


def _shade_window(ax: Axes, metrics: Metrics) -> None:
    win = metrics.window
    if win.end_s > win.start_s:
        ax.axvspan(win.start_s, win.end_s, color="#1f77b4", alpha=0.06, label="steady window")


#: gid of the artists that mark a fault (tests and readers find them by it)
FAULT_GID = "fault"
FAULT_COLOR = "#6a3d9a"


def mark_faults(
    ax: Axes, faults: Sequence[FaultImpact], color: str = FAULT_COLOR, prefix: str = ""
) -> None:
    """Each fault on a time axis: a vertical line at its start, a shaded span for its duration
    (pause, outage) and its label ("kill storage") along the line, at the top of the axes. One
    legend entry, "fault", stands for them all."""
    top = blended_transform_factory(ax.transData, ax.transAxes)
    for i, f in enumerate(faults):
        legend = "_nolegend_" if i else (f"{prefix}fault" if prefix else "fault")
        line = ax.axvline(f.start_s, color=color, linestyle="-.", linewidth=1.1, label=legend)
        line.set_gid(FAULT_GID)
        if f.end_s > f.start_s:
            span = ax.axvspan(f.start_s, f.end_s, color=color, alpha=0.12, label="_nolegend_")
            span.set_gid(FAULT_GID)
        text = prefix + f.label + (" (failed)" if f.error else "")
        note = ax.text(f.start_s, 0.98, f" {text}", transform=top, rotation=90, va="top",
                       ha="right", fontsize=7, color=color)
        note.set_gid(FAULT_GID)


def legend_outside(ax: Axes, fontsize: int = 8) -> None:
    """The legend to the right of the axes, off the data."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=fontsize)


def _cdf_curve(ax: Axes, points: Sequence[Sequence[float]], label: str, **kw: Any) -> bool:
    pts = [(max(x, 1e-6), y) for x, y in points]
    if not pts:
        return False
    ax.plot([x for x, _ in pts], [y for _, y in pts], drawstyle="steps-post", label=label, **kw)
    return True


def latency_cdf(metrics: Metrics) -> Figure:
    fig, ax = _new()
    lat = metrics.latency
    drawn = False
    for points, label in (
        (lat.e2e_cdf, "end to end (intended send -> durable)"),
        (lat.from_first_attempt_cdf, "from first LLM attempt -> durable"),
        (lat.llm_attempt_cdf, "single LLM attempt"),
    ):
        drawn |= _cdf_curve(ax, points, label)
    slo = metrics.run.slo_s
    if slo:
        ax.axvline(slo, color="black", linestyle="--", linewidth=1, label=f"SLO {slo:g} s")
    if drawn:
        ax.set_xscale("log")
        ax.legend(loc="lower right", fontsize=8)
    else:
        _no_data(ax)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylim(0, 1.01)
    ax.grid(True, which="both", alpha=0.3)
    ax.set_xlabel("latency (s, log scale)")
    ax.set_ylabel("questions at or below (%)")
    ax.set_title("Latency CDF (steady state)")
    return fig


def latency_over_time(metrics: Metrics, rows: Rows) -> Figure:
    fig, ax = _new()
    pts = [
        (r["intended_s"], r["e2e_s"], bool(r.get("steady")))
        for r in rows
        if r.get("e2e_s") is not None
        and r.get("state") in ("accepted", "low_quality")
        and not r.get("cache_hit")
    ]
    _shade_window(ax, metrics)
    if pts:
        for steady, color, label in (
            (True, "#1f77b4", "question (steady)"),
            (False, "#aaaaaa", "question (trimmed)"),
        ):
            sel = [(x, max(y, 1e-4)) for x, y, s in pts if s == steady]
            if sel:
                ax.scatter(
                    [x for x, _ in sel],
                    [y for _, y in sel],
                    s=6,
                    alpha=0.5,
                    color=color,
                    label=label,
                )
        ts = metrics.timeseries
        for series, style, label in (
            (ts.e2e_p50_s, "-", "p50 per bucket"),
            (ts.e2e_p99_s, "--", "p99 per bucket"),
        ):
            xy = [(x, y) for x, y in zip(ts.t, series, strict=False) if y is not None]
            if xy:
                ax.plot(
                    [x for x, _ in xy],
                    [y for _, y in xy],
                    style,
                    color="#d62728",
                    linewidth=1.2,
                    label=label,
                )
        ax.set_yscale("log")
        mark_faults(ax, metrics.faults)
        legend_outside(ax)
    else:
        _no_data(ax)
    slo = metrics.run.slo_s
    if slo and pts:
        ax.axhline(slo, color="black", linestyle=":", linewidth=1)
    ax.grid(True, which="both", alpha=0.3)
    ax.set_xlabel("intended send time (s since load start)")
    ax.set_ylabel("end-to-end latency (s, log scale)")
    ax.set_title("End-to-end latency over time")
    return fig


def throughput_over_time(metrics: Metrics) -> Figure:
    fig, ax = _new()
    ts = metrics.timeseries
    t = ts.t
    rates = ts.rates_per_s
    _shade_window(ax, metrics)
    styles = (
        (rates.offered, "offered (intended sends)", "#7f7f7f", ":"),
        (rates.completed, "throughput (answered)", "#1f77b4", "-"),
        (rates.accepted, "goodput (accepted)", "#2ca02c", "-"),
        (rates.accepted_slo, "goodput within SLO", "#17becf", "--"),
        (rates.dead_lettered, "dead-lettered", "#d62728", "-"),
    )
    if t:
        for values, label, color, ls in styles:
            if values is not None:
                ax.plot(
                    t,
                    values,
                    ls,
                    color=color,
                    label=label,
                    linewidth=1.2,
                    drawstyle="steps-post",
                )
        mark_faults(ax, metrics.faults)
        legend_outside(ax)
    else:
        _no_data(ax)
    ax.grid(True, alpha=0.3)
    ax.set_xlabel(f"time since load start (s, {ts.bucket_s:g} s buckets)")
    ax.set_ylabel("questions per second")
    ax.set_title("Throughput and goodput over time")
    return fig


def attempts_over_time(metrics: Metrics) -> Figure:
    fig, ax = _new()
    ts = metrics.timeseries
    t = ts.t
    by_class = ts.attempts_per_s
    _shade_window(ax, metrics)
    if t and by_class:
        order = ["ok", *sorted(k for k in by_class if k != "ok")]
        order = [k for k in order if k in by_class]
        ax.stackplot(
            t,
            [by_class[k] for k in order],
            labels=order,
            colors=[CLASS_COLORS.get(k, "#bcbd22") for k in order],
            step="post",
            alpha=0.85,
        )
        mark_faults(ax, metrics.faults)
        legend_outside(ax)
    else:
        _no_data(ax)
    ax.grid(True, alpha=0.3)
    ax.set_xlabel(f"time since load start (s, {ts.bucket_s:g} s buckets)")
    ax.set_ylabel("LLM attempts per second (stacked)")
    ax.set_title("LLM attempts by outcome / error class over time")
    return fig


def score_histogram(metrics: Metrics) -> Figure:
    fig, ax = _new()
    q = metrics.quality
    edges = q.bin_edges
    r0, final = q.round0, q.final
    if edges and (r0.count or final.count):
        width = (edges[1] - edges[0]) if len(edges) > 1 else 0.05
        lefts = edges[:-1]
        ax.bar(
            [x + 0.05 * width for x in lefts],
            r0.counts,
            width=0.45 * width,
            align="edge",
            color="#ff7f0e",
            label=f"round 0 (mean {r0.mean or 0:.3f})",
        )
        ax.bar(
            [x + 0.5 * width for x in lefts],
            final.counts,
            width=0.45 * width,
            align="edge",
            color="#1f77b4",
            label=f"final (mean {final.mean or 0:.3f})",
        )
        thr = q.threshold
        if thr is not None:
            ax.axvline(thr, color="black", linestyle="--", linewidth=1, label=f"threshold {thr:g}")
        ax.legend(loc="upper right", fontsize=8)
    else:
        _no_data(ax)
    ax.grid(True, axis="y", alpha=0.3)
    ax.set_xlabel("score (similarity to the reference answer, unitless)")
    ax.set_ylabel("questions")
    ax.set_title("Scores before and after regeneration")
    return fig


def waterfall(metrics: Metrics) -> Figure:
    fig = Figure(figsize=(10, 4.5))
    ax, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    by_part = metrics.latency.waterfall.by_part
    parts = [p for p in WATERFALL_PARTS if p in by_part]
    means = [by_part[p].mean or 0.0 for p in parts]
    if parts and any(by_part[p].count for p in parts):
        start = 0.0
        labels = [PART_LABELS.get(p, p) for p in parts]
        for i, mean in enumerate(means):
            ax.barh(
                i,
                mean,
                left=start if mean >= 0 else start + mean,
                color="#1f77b4" if mean >= 0 else "#d62728",
            )
            ax.text(
                start + max(mean, 0),
                i,
                f" {mean * 1000:.0f} ms" if abs(mean) < 1 else f" {mean:.2f} s",
                va="center",
                fontsize=7,
            )
            start += mean
        ax.set_yticks(range(len(parts)), labels, fontsize=8)
        ax.invert_yaxis()
        ax.axvline(start, color="black", linestyle=":", linewidth=1)
        ax.set_xlim(0, max(start, max(means)) * 1.2 or 1.0)  # room for the value labels
        # zero cannot sit on a log axis: such bars are left out (NaN) rather than faked
        p50 = [by_part[p].p50 or math.nan for p in parts]
        p99 = [by_part[p].p99 or math.nan for p in parts]
        y = range(len(parts))
        ax2.barh([i - 0.2 for i in y], p50, height=0.4, color="#2ca02c", label="p50")
        ax2.barh([i + 0.2 for i in y], p99, height=0.4, color="#d62728", label="p99")
        ax2.set_yticks(list(y), labels, fontsize=8)
        ax2.invert_yaxis()
        ax2.set_xscale("log")
        ax2.legend(loc="lower right", fontsize=8)
    else:
        _no_data(ax)
        _no_data(ax2)
    ax.grid(True, axis="x", alpha=0.3)
    ax2.grid(True, axis="x", which="both", alpha=0.3)
    ax.set_xlabel("cumulative mean time per question (s)")
    ax.set_ylabel("hop")
    ax.set_title("Waterfall: mean time per hop (sums to mean e2e)")
    ax2.set_xlabel("time in hop per question (s, log scale; zero not drawn)")
    ax2.set_ylabel("hop")
    ax2.set_title("Per-hop p50 and p99")
    return fig


def threshold_curve(metrics: Metrics) -> Figure:
    fig, ax = _new()
    ta = metrics.quality.threshold_analysis
    rows = ta.rows
    if rows:
        x = [r.threshold for r in rows]
        ax.plot(x, [r.pass_round0 for r in rows], color="#ff7f0e", label="pass at round 0")
        ax.plot(
            x,
            [r.accepted_final for r in rows],
            color="#2ca02c",
            label="accepted after regeneration (model)",
        )
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax2 = ax.twinx()
        ax2.plot(
            x,
            [r.expected_llm_calls for r in rows],
            color="#d62728",
            linestyle="--",
            label="expected LLM calls",
        )
        ax2.set_ylabel("expected LLM calls per question")
        if ta.current is not None:
            ax.axvline(
                ta.current,
                color="black",
                linestyle=":",
                linewidth=1,
                label=f"threshold in use {ta.current:g}",
            )
        lines = ax.get_legend_handles_labels()
        lines2 = ax2.get_legend_handles_labels()
        ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], loc="center left", fontsize=8)
    else:
        _no_data(ax)
    ax.grid(True, alpha=0.3)
    ax.set_xlabel("score threshold (unitless)")
    ax.set_ylabel("questions (%)")
    ax.set_title("Threshold analysis from round-0 scores")
    return fig


#: name -> (file name, builder(metrics, rows)); the report embeds them in this order.
RUN_PLOTS: dict[str, tuple[str, Callable[[Metrics, Rows], Figure]]] = {
    "latency_cdf": ("latency_cdf.png", lambda m, r: latency_cdf(m)),
    "latency_over_time": ("latency_over_time.png", latency_over_time),
    "throughput": ("throughput.png", lambda m, r: throughput_over_time(m)),
    "attempts": ("attempts_by_class.png", lambda m, r: attempts_over_time(m)),
    "scores": ("scores.png", lambda m, r: score_histogram(m)),
    "waterfall": ("waterfall.png", lambda m, r: waterfall(m)),
    "threshold": ("threshold.png", lambda m, r: threshold_curve(m)),
}

#: name -> (file name, builder(runs)) for comparisons.
OVERLAY_PLOTS: dict[str, tuple[str, Callable[[Sequence[tuple[str, Metrics]]], Figure]]] = {}


def run_plots(metrics: Metrics, rows: Rows, out_dir: Path) -> dict[str, Path]:
    """Draw every plot of one run into ``out_dir``; name -> file."""
    return {
        name: save_figure(build(metrics, rows), out_dir / filename)
        for name, (filename, build) in RUN_PLOTS.items()
    }


def overlay_plots(runs: Sequence[tuple[str, Metrics]], out_dir: Path) -> dict[str, Path]:
    """Draw every overlay of a comparison into ``out_dir``; name -> file."""
    return {
        name: save_figure(build(runs), out_dir / filename)
        for name, (filename, build) in OVERLAY_PLOTS.items()
    }


# ---- overlays of several runs --------------------------------------------------------------


def cdf_overlay(runs: Sequence[tuple[str, Metrics]]) -> Figure:
    fig, ax = _new()
    drawn = False
    for name, m in runs:
        drawn |= _cdf_curve(ax, m.latency.e2e_cdf, name)
    if drawn:
        ax.set_xscale("log")
        ax.legend(loc="lower right", fontsize=8)
    else:
        _no_data(ax)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylim(0, 1.01)
    ax.grid(True, which="both", alpha=0.3)
    ax.set_xlabel("end-to-end latency (s, log scale)")
    ax.set_ylabel("questions at or below (%)")
    ax.set_title("End-to-end latency CDF by run (steady state)")
    return fig


def throughput_overlay(runs: Sequence[tuple[str, Metrics]]) -> Figure:
    fig, ax = _new()
    colors = [f"C{i}" for i in range(10)]
    drawn = False
    for i, (name, m) in enumerate(runs):
        ts = m.timeseries
        if ts.t:
            drawn = True
            c = colors[i % len(colors)]
            ax.plot(
                ts.t,
                ts.rates_per_s.completed,
                "-",
                color=c,
                drawstyle="steps-post",
                label=f"{name} throughput",
            )
            ax.plot(
                ts.t,
                ts.rates_per_s.accepted,
                ":",
                color=c,
                drawstyle="steps-post",
                label=f"{name} goodput",
            )
            mark_faults(ax, m.faults, color=c, prefix=f"{name}: ")
    if drawn:
        legend_outside(ax, fontsize=7)
    else:
        _no_data(ax)
    ax.grid(True, alpha=0.3)
    ax.set_xlabel("time since load start (s)")
    ax.set_ylabel("questions per second")
    ax.set_title("Throughput (solid) and goodput (dotted) by run")
    return fig


def retries_overlay(runs: Sequence[tuple[str, Metrics]]) -> Figure:
    fig, ax = _new()
    drawn = False
    for i, (name, m) in enumerate(runs):
        ts = m.timeseries
        if ts.t:
            color = f"C{i % 10}"
            ax.plot(ts.t, ts.failed_attempts_per_s(), drawstyle="steps-post", label=name,
                    color=color)
            mark_faults(ax, m.faults, color=color, prefix=f"{name}: ")
            drawn = True
    if drawn:
        legend_outside(ax)
    else:
        _no_data(ax)
    ax.grid(True, alpha=0.3)
    ax.set_xlabel("time since load start (s)")
    ax.set_ylabel("failed LLM attempts per second")
    ax.set_title("Failed LLM attempts over time by run")
    return fig


OVERLAY_PLOTS.update(
    {
        "latency_cdf": ("latency_cdf.png", cdf_overlay),
        "throughput": ("throughput.png", throughput_overlay),
        "retries": ("retries.png", retries_overlay),
    }
)
