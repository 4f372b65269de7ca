"""Axis and legend hygiene shared by every figure: readable duration ticks, legends off the data,
and tests for series that would draw nothing worth seeing (all zero, or a flat line).

Pure helpers over matplotlib's object API (no pyplot state), so figures stay deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Literal

from matplotlib.axes import Axes
from matplotlib.ticker import Formatter, LogLocator, NullFormatter

Axis = Literal["x", "y"]


def _sig(value: float, digits: int = 3) -> str:
    """``value`` with at most ``digits`` significant digits, plain decimal (no exponent)."""
    rounded = float(f"{value:.{digits}g}")
    text = f"{rounded:f}".rstrip("0").rstrip(".")
    return text or "0"


def format_duration(seconds: float) -> str:
    """A tick label for a duration in seconds: ``0.2`` -> ``200 ms``, ``4`` -> ``4 s``,
    ``1.5`` -> ``1.5 s``, ``0.0005`` -> ``500 µs``, ``900`` -> ``15 min``.

    Plain decimals only (never ``4x10^0``); at most three significant digits. Durations of ten
    minutes or more are shown in minutes, below that in seconds, so a log axis reads
    ``100 s``, ``200 s``, ``500 s`` rather than mixing units within a decade.
    """
    if not math.isfinite(seconds):
        return ""
    if seconds == 0:
        return "0"
    sign = "-" if seconds < 0 else ""
    v = float(f"{abs(seconds):.3g}")  # rounded first: 0.9999 is "1 s", not "1000 ms"
    if v < 1e-3:
        return f"{sign}{_sig(v * 1e6)} µs"
    if v < 1.0:
        return f"{sign}{_sig(v * 1e3)} ms"
    if v < 600:
        return f"{sign}{_sig(v)} s"
    return f"{sign}{_sig(v / 60)} min"


class DurationFormatter(Formatter):
    """Tick labels of a duration axis (seconds), by :func:`format_duration`."""

    def __call__(self, x: float, pos: int | None = None) -> str:
        return format_duration(x)


class DurationLogLocator(LogLocator):
    """Major ticks of a log duration axis: 1, 2 and 5 per decade over a narrow span, 1 and 3 over
    a wider one, decades alone beyond (``max_decades`` is the span that still gets 1-2-5; twice
    it still gets 1-3), so labels never crowd each other."""

    def __init__(self, max_decades: float) -> None:
        super().__init__(base=10.0, subs=(1.0, 2.0, 5.0))
        self.max_decades = max_decades

    def tick_values(self, vmin: float, vmax: float) -> Any:
        low, high = sorted((vmin, vmax))
        decades = math.log10(high / low) if low > 0 else math.inf
        if decades <= self.max_decades:
            subs: tuple[float, ...] = (1.0, 2.0, 5.0)
        elif decades <= 2 * self.max_decades:
            subs = (1.0, 3.0)
        else:
            subs = (1.0,)
        self.set_params(subs=subs)
        return super().tick_values(vmin, vmax)


def duration_axis(
    ax: Axes, axis: Axis = "y", *, log: bool = False, max_decades: float | None = None
) -> None:
    """Format ``axis`` of ``ax`` as a duration in seconds: labelled ticks like ``200 ms``, ``1 s``.

    On a log axis the labelled ticks are 1, 2 and 5 per decade (fewer when the data span many
    decades, :class:`DurationLogLocator`) and the minor ticks are unlabelled, so no ``6x10^-1``
    appears. ``max_decades`` (default 2) is the widest span ticked 1-2-5: less for a narrow axis.
    """
    target = ax.yaxis if axis == "y" else ax.xaxis
    if log:
        (ax.set_yscale if axis == "y" else ax.set_xscale)("log")
        # a wide horizontal axis has about as much room for labels as a vertical one
        target.set_major_locator(DurationLogLocator(max_decades or 2.0))
        target.set_minor_locator(LogLocator(base=10.0, subs=tuple(range(1, 10))))
        target.set_minor_formatter(NullFormatter())
    target.set_major_formatter(DurationFormatter())


def is_duration_axis(ax: Axes, axis: Axis = "y") -> bool:
    """Whether ``axis`` of ``ax`` was formatted by :func:`duration_axis`."""
    target = ax.yaxis if axis == "y" else ax.xaxis
    return isinstance(target.get_major_formatter(), DurationFormatter)


def legend_outside(ax: Axes, fontsize: int = 8) -> None:
    """The legend to the right of the axes, off the data (nothing when nothing is labelled)."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  borderaxespad=0.0, fontsize=fontsize)


def all_zero(values: Iterable[float | None]) -> bool:
    """True when no value is a non-zero number (an empty series is all zero)."""
    return not any(v for v in values if v is not None and not math.isnan(v))


def flat(values: Iterable[float | None], rel_tol: float = 1e-3) -> float | None:
    """The constant value of a series that does not vary (within ``rel_tol`` of its size), else
    None. A twin axis for such a series would span a meaningless range like 0.96-1.04."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return None
    low, high = min(finite), max(finite)
    scale = max(abs(low), abs(high), 1e-12)
    return (low + high) / 2 if (high - low) <= rel_tol * scale else None


def legend_below(ax: Axes, handles: list, labels: list[str], fontsize: int = 8) -> None:
    """The legend under the axes (for figures whose right side holds a second y axis)."""
    if handles:
        ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.16),
                  borderaxespad=0.0, fontsize=fontsize, ncol=2)


def no_data(ax: Axes, text: str = "no data") -> None:
    """A grey ``text`` in the middle of empty axes."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="grey")
