"""The cost benchmarks' arithmetic and output: percentiles, the overhead and capacity ratios, CPU
per question, and plain-text tables. Pure functions (unit-tested in tests/unit/bench)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

GB = 1e9  # bytes: the memory target and totals are in GB of 10^9 bytes


def percentile(values: Iterable[float], q: float) -> float:
    """The nearest-rank Q-quantile (0 < Q <= 1) of VALUES; nan when there are none."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def ratio(numerator: float | None, denominator: float | None) -> float:
    """NUMERATOR / DENOMINATOR; nan when either is missing or the denominator is not positive."""
    if numerator is None or denominator is None or not denominator > 0:
        return math.nan
    return numerator / denominator


def overhead(e2e_s: float | None, llm_s: float | None) -> float:
    """The pipeline's own cost relative to the LLM: (end to end - time in LLM calls) / time in LLM
    calls. 0.25 means the pipeline adds a quarter of the LLM's time; nan when either is missing."""
    if e2e_s is None or llm_s is None:
        return math.nan
    return ratio(e2e_s - llm_s, llm_s)


def overhead_percentiles(pairs: Iterable[tuple[float, float]],
                         qs: Sequence[float] = (0.5, 0.99)) -> dict[float, float]:
    """Per question overhead (see :func:`overhead`) over (e2e_s, llm_s) PAIRS, at each of QS.
    Questions without LLM time are left out."""
    values = [overhead(e2e, llm) for e2e, llm in pairs if llm > 0]
    return {q: percentile(values, q) for q in qs}


def fell_behind(send_lateness_p99_s: float | None, rate_qps: float) -> bool:
    """Whether the generator fell behind its schedule: the p99 of producer send lateness (intended
    send -> Kafka acknowledged) exceeds the mean inter-arrival time 1/RATE, i.e. at the tail a send
    was still not out when the next one was due."""
    if send_lateness_p99_s is None or rate_qps <= 0:
        return False
    return send_lateness_p99_s > 1.0 / rate_qps


def slowest(stages: Mapping[str, float | None]) -> tuple[str, float] | None:
    """The (name, rate) of the stage with the lowest measured rate; None when none was measured."""
    measured = {k: v for k, v in stages.items() if v is not None and not math.isnan(v)}
    if not measured:
        return None
    name = min(measured, key=lambda k: measured[k])
    return name, measured[name]


def bottleneck(e2e_rate: float, stages: Mapping[str, float | None], cores_busy: float,
               cores: int, cpu_ms_per_q: Mapping[str, float], saturated: float = 0.9) -> str:
    """One sentence naming what limits the end-to-end rate: the machine's CPU when at least
    SATURATED of its CORES were busy (with the services that spend most per question), else the
    slowest stage alone when end to end reaches SATURATED of it, else no single stage."""
    if cores_busy >= saturated * cores:
        top = sorted(cpu_ms_per_q, key=lambda k: -cpu_ms_per_q[k])[:3]
        spend = ", ".join(f"{k} {cpu_ms_per_q[k]:.2f}" for k in top)
        return (f"the machine's CPU ({cores_busy:.2f} of {cores} cores busy); most CPU ms per "
                f"question: {spend}")
    slow = slowest(stages)
    if slow is None:
        return "unknown (no stage measured alone)"
    share = ratio(e2e_rate, slow[1])
    if share >= saturated:
        return f"{slow[0]} (end to end reaches {share:.2f} of its rate alone)"
    return (f"no single stage: end to end reaches {share:.2f} of the slowest stage alone "
            f"({slow[0]}) with {cores_busy:.2f} of {cores} cores busy")


def cpu_ms_per_question(cpu_s: float, questions: int, idle_cpu_per_s: float = 0.0,
                        window_s: float = 0.0) -> tuple[float, float]:
    """(gross, net) CPU milliseconds per question: gross = CPU_S / QUESTIONS; net subtracts what
    the service burns idle (IDLE_CPU_PER_S CPU seconds per second) over the WINDOW_S measured,
    clamped at zero. nan for both without questions."""
    if questions <= 0:
        return math.nan, math.nan
    net = max(0.0, cpu_s - idle_cpu_per_s * window_s)
    return 1000.0 * cpu_s / questions, 1000.0 * net / questions


def fmt(value: float | int | str | None, digits: int = 1) -> str:
    """A cell: thousands separators, DIGITS decimals, '-' for missing or nan."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, float) and math.isnan(value):
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A plain-text table: the first column left-aligned, the others right-aligned; cells that are
    not strings go through :func:`fmt`."""
    cells = [[str(h) for h in headers]]
    for row in rows:
        cells.append([c if isinstance(c, str) else fmt(c) for c in row])  # type: ignore[arg-type]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for index, row in enumerate(cells):
        parts = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:],
                                                                          strict=True)]
        lines.append("  ".join(parts).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def compare(before: Mapping[str, float], after: Mapping[str, float]) -> list[tuple[str, float, float,
                                                                                   float]]:
    """Rows (name, before, after, after / before) over the names of either mapping, sorted by
    name; a missing value is nan."""
    names = sorted(set(before) | set(after))
    return [(n, before.get(n, math.nan), after.get(n, math.nan),
             ratio(after.get(n), before.get(n))) for n in names]
