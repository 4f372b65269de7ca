"""PNG plots of one run and overlays of several, drawn from metrics.json (:class:`RunMetrics`) and
questions.csv only.

Figures are built with the object API and rendered by the Agg canvas explicitly: no pyplot state,
no display, identical output on any machine.

Every figure follows the same hygiene (:mod:`experiments.report.plot_axes`): durations are ticked
in plain units (``200 ms``, ``1 s``, ``5 s``), legends sit outside the data area, each series has
its own colour *and* line style or marker (answered is a wide pale line under goodput's dashes, so
both stay visible when they are equal), a series that is zero throughout is named in the title
instead of drawn, and a second y axis is drawn only when its series varies.
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
from experiments.report.plot_axes import (
    all_zero,
    duration_axis,
    flat,
    legend_below,
    legend_outside,
    no_data,
)

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
#: hatches of the error classes in the stacked attempts plot (colour is not the only cue)
CLASS_HATCHES = ("//", "\\\\", "..", "xx", "++", "--", "oo")
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
#: per run of an overlay: a line style and a marker beside its colour (C0, C1, ...)
RUN_STYLES = (("-", "o"), ("--", "s"), ("-.", "^"), (":", "D"), ("-", "v"), ("--", "P"))

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


def _run_style(i: int) -> dict[str, Any]:
    """Colour, line style and marker of the ``i``-th run of an overlay."""
    linestyle, marker = RUN_STYLES[i % len(RUN_STYLES)]
    return {"color": f"C{i % 10}", "linestyle": linestyle, "marker": marker}


def _markevery(n: int) -> int:
    """Every how many points a marker goes on a line of ``n`` points (about 12 markers)."""
    return max(1, n // 12)


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


def _cdf_curve(ax: Axes, points: Sequence[Sequence[float]], label: str, **kw: Any) -> bool:
    pts = [(max(x, 1e-6), y) for x, y in points]
    if not pts:
        return False
    ax.plot([x for x, _ in pts], [y for _, y in pts], drawstyle="steps-post", label=label, **kw)
    return True


def _slo_label(slo: float) -> str:
    return f"SLO {slo:g} s"


def latency_cdf(metrics: Metrics) -> Figure:
    fig, ax = _new()
    lat = metrics.latency
    drawn = False
    for points, label, style in (
        (lat.e2e_cdf, "end to end (intended send -> durable)",
         {"color": "#1f77b4", "linestyle": "-", "linewidth": 1.8}),
        (lat.from_first_attempt_cdf, "from first LLM attempt -> durable",
         {"color": "#ff7f0e", "linestyle": "--", "linewidth": 1.4}),
        (lat.llm_attempt_cdf, "single LLM attempt",
         {"color": "#2ca02c", "linestyle": ":", "linewidth": 1.8}),
    ):
        drawn |= _cdf_curve(ax, points, label, **style)
    slo = metrics.run.slo_s
    if slo and drawn:
        ax.axvline(slo, color="black", linestyle="-.", linewidth=1, label=_slo_label(slo))
    duration_axis(ax, "x", log=drawn)
    if drawn:
        legend_outside(ax)
    else:
        no_data(ax)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylim(0, 1.01)
    ax.grid(True, which="major", alpha=0.3)
    ax.grid(True, which="minor", alpha=0.1)
    ax.set_xlabel("latency (log scale)")
    ax.set_ylabel("questions at or below (%)")
    ax.set_title("Latency CDF, steady state: share of questions answered within each latency")
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
                ax.scatter([x for x, _ in sel], [y for _, y in sel], s=6, alpha=0.5,
                           color=color, label=label, zorder=2)
        ts = metrics.timeseries
        for series, style, color, label in (
            (ts.e2e_p50_s, "-", "#d62728", "p50 per bucket"),
            (ts.e2e_p99_s, "--", "#ff7f0e", "p99 per bucket"),
        ):
            xy = [(x, y) for x, y in zip(ts.t, series, strict=False) if y is not None]
            if xy:
                ax.plot([x for x, _ in xy], [y for _, y in xy], style, color=color,
                        linewidth=1.4, label=label, zorder=3)
        slo = metrics.run.slo_s
        if slo:
            ax.axhline(slo, color="black", linestyle=":", linewidth=1, label=_slo_label(slo))
        mark_faults(ax, metrics.faults)
        legend_outside(ax)
    else:
        no_data(ax)
    duration_axis(ax, "y", log=bool(pts))
    ax.grid(True, which="major", alpha=0.3)
    ax.grid(True, which="minor", alpha=0.1)
    ax.set_xlabel("intended send time (s since load start)")
    ax.set_ylabel("end-to-end latency (log scale)")
    ax.set_title("End-to-end latency of each question by send time, with per-bucket p50 and p99")
    return fig


def throughput_over_time(metrics: Metrics) -> Figure:
    fig, ax = _new()
    ts = metrics.timeseries
    t = ts.t
    rates = ts.rates_per_s
    _shade_window(ax, metrics)
    # answered is wide and pale, goodput dashed on top of it: equal series stay both visible
    styles: tuple[tuple[list[float] | None, str, dict[str, Any]], ...] = (
        (rates.offered, "offered (intended sends)",
         {"color": "#7f7f7f", "linestyle": ":", "linewidth": 1.3, "zorder": 2}),
        (rates.completed, "throughput (answered)",
         {"color": "#1f77b4", "linestyle": "-", "linewidth": 3.2, "alpha": 0.45, "zorder": 3}),
        (rates.accepted, "goodput (accepted)",
         {"color": "#2ca02c", "linestyle": "--", "linewidth": 1.5, "zorder": 4}),
        (rates.accepted_slo, "goodput within SLO",
         {"color": "#ff7f0e", "linestyle": "-.", "linewidth": 1.2, "zorder": 5}),
        (rates.dead_lettered, "dead-lettered",
         {"color": "#d62728", "linestyle": "-", "linewidth": 1.2, "marker": "x",
          "markersize": 4, "zorder": 6}),
    )
    quiet: list[str] = []
    if t:
        for values, label, style in styles:
            if values is None:
                continue
            if label == "dead-lettered" and all_zero(values):
                quiet.append("no dead letters")
                continue
            ax.plot(t, values, label=label, drawstyle="steps-post", **style)
        mark_faults(ax, metrics.faults)
        legend_outside(ax)
    else:
        no_data(ax)
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.set_xlabel(f"time since load start (s, {ts.bucket_s:g} s buckets)")
    ax.set_ylabel("questions per second")
    title = "Offered load, throughput (answered) and goodput (accepted) over time"
    ax.set_title(title + (f"\n({'; '.join(quiet)})" if quiet else ""))
    return fig


def attempts_over_time(metrics: Metrics) -> Figure:
    fig, ax = _new()
    ts = metrics.timeseries
    t = ts.t
    by_class = {k: v for k, v in ts.attempts_per_s.items() if not all_zero(v)}
    _shade_window(ax, metrics)
    if t and by_class:
        order = ["ok", *sorted(k for k in by_class if k != "ok")]
        order = [k for k in order if k in by_class]
        areas = ax.stackplot(
            t,
            [by_class[k] for k in order],
            labels=order,
            colors=[CLASS_COLORS.get(k, "#bcbd22") for k in order],
            step="post",
            alpha=0.85,
        )
        errors = [a for k, a in zip(order, areas, strict=True) if k != "ok"]
        for i, area in enumerate(errors):
            area.set_hatch(CLASS_HATCHES[i % len(CLASS_HATCHES)])
            area.set_edgecolor("white")
        mark_faults(ax, metrics.faults)
        legend_outside(ax)
    else:
        no_data(ax)
    ax.grid(True, alpha=0.3)
    ax.set_xlabel(f"time since load start (s, {ts.bucket_s:g} s buckets)")
    ax.set_ylabel("LLM attempts per second (stacked)")
    title = "LLM attempts per second by outcome (ok or error class), stacked"
    if t and by_class and set(by_class) <= {"ok"}:
        title += "\n(no failed attempts)"
    ax.set_title(title)
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
            hatch="//",
            edgecolor="white",
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
        legend_outside(ax)
    else:
        no_data(ax)
    ax.grid(True, axis="y", alpha=0.3)
    ax.set_xlabel("score (similarity to the reference answer, unitless)")
    ax.set_ylabel("questions")
    ax.set_title("Answer scores at round 0 and final (after regeneration)")
    return fig


def waterfall(metrics: Metrics) -> Figure:
    fig = Figure(figsize=(11, 4.5))
    ax, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    by_part = metrics.latency.waterfall.by_part
    parts = [p for p in WATERFALL_PARTS if p in by_part]
    means = [by_part[p].mean or 0.0 for p in parts]
    drawn = bool(parts) and any(by_part[p].count for p in parts)
    if drawn:
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
        ax2.barh([i + 0.2 for i in y], p99, height=0.4, color="#d62728", hatch="//",
                 edgecolor="white", label="p99")
        ax2.set_yticks(list(y), labels, fontsize=8)
        ax2.invert_yaxis()
        legend_outside(ax2)
    else:
        no_data(ax)
        no_data(ax2)
    duration_axis(ax, "x")
    duration_axis(ax2, "x", log=drawn, max_decades=1.0)  # a half-width axis
    ax.grid(True, axis="x", alpha=0.3)
    ax2.grid(True, axis="x", which="major", alpha=0.3)
    ax2.grid(True, axis="x", which="minor", alpha=0.1)
    ax.set_xlabel("cumulative mean time per question")
    ax.set_ylabel("hop")
    ax.set_title("Mean time per hop, cumulative (ends at the mean e2e)")
    ax2.set_xlabel("time in hop per question (log scale; zero not drawn)")
    ax2.set_ylabel("hop")
    ax2.set_title("Time in each hop: p50 and p99")
    return fig


def threshold_curve(metrics: Metrics) -> Figure:
    fig, ax = _new()
    ta = metrics.quality.threshold_analysis
    rows = ta.rows
    title = "Threshold analysis from round-0 scores: pass rate, acceptance and LLM calls"
    if rows:
        x = [r.threshold for r in rows]
        ax.plot(x, [r.pass_round0 for r in rows], color="#ff7f0e", linestyle="-",
                linewidth=1.6, label="pass at round 0")
        ax.plot(x, [r.accepted_final for r in rows], color="#2ca02c", linestyle="--",
                linewidth=1.6, label="accepted after regeneration (model)")
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_ylim(-0.02, 1.02)
        if ta.current is not None:
            ax.axvline(ta.current, color="black", linestyle=":", linewidth=1,
                       label=f"threshold in use {ta.current:g}")
        handles, labels = ax.get_legend_handles_labels()
        calls = [r.expected_llm_calls for r in rows]
        constant = flat(calls)
        if constant is None:
            ax2 = ax.twinx()
            ax2.plot(x, calls, color="#d62728", linestyle="-.", marker=".",
                     markevery=_markevery(len(x)), label="expected LLM calls per question")
            low, high = min(1.0, min(calls)), max(calls)
            pad = max(0.04 * (high - low), 0.05)  # never a sliver of a range
            ax2.set_ylim(low - pad, high + pad)
            ax2.set_ylabel("expected LLM calls per question")
            more = ax2.get_legend_handles_labels()
            handles, labels = handles + more[0], labels + more[1]
        else:
            title += f"\n(expected LLM calls: {constant:.2f} per question at every threshold)"
        legend_below(ax, handles, labels)
    else:
        no_data(ax)
    ax.grid(True, alpha=0.3)
    ax.set_xlabel("score threshold (unitless)")
    ax.set_ylabel("questions (%)")
    ax.set_title(title)
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
    for i, (name, m) in enumerate(runs):
        style = _run_style(i)
        style.pop("marker")
        drawn |= _cdf_curve(ax, m.latency.e2e_cdf, name, linewidth=1.6, **style)
    duration_axis(ax, "x", log=drawn)
    if drawn:
        legend_outside(ax)
    else:
        no_data(ax)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylim(0, 1.01)
    ax.grid(True, which="major", alpha=0.3)
    ax.grid(True, which="minor", alpha=0.1)
    ax.set_xlabel("end-to-end latency (log scale)")
    ax.set_ylabel("questions at or below (%)")
    ax.set_title("End-to-end latency CDF by run (steady state)")
    return fig


def throughput_overlay(runs: Sequence[tuple[str, Metrics]]) -> Figure:
    fig, ax = _new()
    drawn = False
    for i, (name, m) in enumerate(runs):
        ts = m.timeseries
        if ts.t:
            drawn = True
            style = _run_style(i)
            c, marker, every = style["color"], style["marker"], _markevery(len(ts.t))
            ax.plot(ts.t, ts.rates_per_s.completed, "-", color=c, linewidth=3.2, alpha=0.4,
                    drawstyle="steps-post", label=f"{name} throughput", zorder=2)
            ax.plot(ts.t, ts.rates_per_s.accepted, "--", color=c, linewidth=1.4, marker=marker,
                    markersize=4, markevery=every, drawstyle="steps-post",
                    label=f"{name} goodput", zorder=3)
            mark_faults(ax, m.faults, color=c, prefix=f"{name}: ")
    if drawn:
        legend_outside(ax, fontsize=7)
    else:
        no_data(ax)
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.set_xlabel("time since load start (s)")
    ax.set_ylabel("questions per second")
    ax.set_title("Throughput (answered: wide pale line) and goodput (accepted: dashed) by run")
    return fig


def retries_overlay(runs: Sequence[tuple[str, Metrics]]) -> Figure:
    """Failed attempts per run; a run without any is named in the title, not drawn as a zero line."""
    fig, ax = _new()
    drawn, quiet, timed = False, [], False
    for i, (name, m) in enumerate(runs):
        ts = m.timeseries
        if not ts.t:
            continue
        timed = True
        style = _run_style(i)
        failed = ts.failed_attempts_per_s()
        if all_zero(failed):
            quiet.append(name)
        else:
            ax.plot(ts.t, failed, drawstyle="steps-post", label=name, linewidth=1.4,
                    markersize=4, markevery=_markevery(len(ts.t)), **style)
            drawn = True
        mark_faults(ax, m.faults, color=style["color"], prefix=f"{name}: ")
    if drawn:
        ax.set_ylim(bottom=0)
    else:
        no_data(ax, "no failed attempts in any run" if timed else "no data")
    legend_outside(ax)
    ax.grid(True, alpha=0.3)
    ax.set_xlabel("time since load start (s)")
    ax.set_ylabel("failed LLM attempts per second")
    title = "Failed LLM attempts per second over time by run"
    if quiet and drawn:
        title += f"\n(no failed attempts: {', '.join(quiet)})"
    ax.set_title(title)
    return fig


OVERLAY_PLOTS.update(
    {
        "latency_cdf": ("latency_cdf.png", cdf_overlay),
        "throughput": ("throughput.png", throughput_overlay),
        "retries": ("retries.png", retries_overlay),
    }
)
