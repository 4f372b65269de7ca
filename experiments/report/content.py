"""The sections of a run report, built from metrics.json (:class:`RunMetrics`) and the plot files."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from experiments.metrics.headline import HEADLINES, format_seconds, format_unit, format_value
from experiments.metrics.histogram import PERCENTILES
from experiments.metrics.redact import redact
from experiments.metrics.schema import LatencySummary, Repeats, RunMetrics
from experiments.report.audit_view import AuditReading, audit_css, audit_line
from experiments.report.document import Code, Document, Image, Paragraph, Section, Table
from experiments.report.fmt import count, counter, number, plural
from experiments.report.narrative import findings
from experiments.report.plots import PART_LABELS
from experiments.report.tested import what_was_tested
from experiments.report.validity import run_warnings


def _s(v: float | None) -> str:
    return "n/a" if v is None else format_seconds(v)


def _pct(v: float | None) -> str:
    return format_unit("ratio", v)


def _n(v: Any, digits: int = 2) -> str:
    return number(v, digits)


def ci_text(key: str, rep: Repeats | None) -> str:
    """``mean [low, high]`` of a headline across repeats, or '' without repeats."""
    item = rep.metrics.get(key) if rep is not None else None
    if item is None or item.mean is None:
        return ""
    if item.ci_low is None or item.ci_high is None:
        return f"{format_value(key, item.mean)} (n={item.n})"
    return (
        f"{format_value(key, item.mean)} [{format_value(key, item.ci_low)}, "
        f"{format_value(key, item.ci_high)}]"
    )


def _outcome_rows(m: RunMetrics) -> list[list[str]]:
    o = m.outcome
    rows = [["status", o.status + (f": {o.failure}" if o.failure else "")]]
    if o.in_flight_at_collection is not None:
        rows.append(["in flight at collection", count(o.in_flight_at_collection)])
    if o.overlapping_runs:
        rows.append(["overlapping runs", ", ".join(o.overlapping_runs)])
    if o.stopped_early:
        rows.append(["load stopped early", o.stopped_early])
    return rows


def _revision(revision: str | None) -> str:
    """The run's git revision; the compose images and copied trees hold no repository."""
    return revision or "unknown (not run from a git checkout)"


def _header(m: RunMetrics) -> Section:
    run, win = m.run, m.window
    rows = [
        ["run", run.run_name],
        ["experiment id", run.experiment_id],
        *_outcome_rows(m),
        ["seed", str(run.seed)],
        ["git revision", _revision(run.git_revision)],
        ["started / ended (UTC)", f"{run.started_at} / {run.ended_at}"],
        ["warm-up", _s(run.warmup_s)],
        [
            "steady window",
            f"{_n(win.start_s, 1)} s to {_n(win.end_s, 1)} s after load start "
            f"({_n(win.duration_s, 1)} s)",
        ],
        ["SLO (end to end)", _s(run.slo_s)],
    ]
    c = m.counts
    rows.append(
        [
            "questions",
            f"{count(c.questions)} total, {count(c.steady)} steady "
            f"({count(c.trimmed_warmup)} trimmed as warm-up, {count(c.trimmed_drain)} as drain)",
        ]
    )
    return Section("Run", [Table(["field", "value"], rows, align_numbers=False)])


def _versions(m: RunMetrics) -> Section:
    """Software versions and the metrics schema: at the end, for whoever reproduces the run."""
    versions = redact(dict(m.run.component_versions))
    rows = [[k, str(v)] for k, v in sorted(versions.items())]
    rows.append(["metrics schema", m.schema_version])
    return Section(
        "Software versions", [Table(["component", "version"], rows, align_numbers=False)]
    )


def _headline(m: RunMetrics) -> Section:
    rep = m.repeat_stats()
    headers = ["metric", "value"]
    if rep:
        headers.append(f"mean [95% CI] over {rep.n} repeats")
    rows = []
    for h in HEADLINES:
        row = [h.label, format_value(h.key, m.headline.get(h.key))]
        if rep:
            row.append(ci_text(h.key, rep))
        rows.append(row)
    return Section("Headline figures", [Table(headers, rows)])


def _calls(v: float | None) -> str:
    return "n/a" if v is None else f"{v:+.1f}"


def fault_rows(m: RunMetrics) -> list[list[str]]:
    """One row per fault: when, action, target, duration, recovery, delayed, extra calls, error."""
    rows = []
    for f in m.faults:
        when = f"{_n(f.start_s, 1)} s" + (
            f" (planned {f.at_s:g} s)" if abs(f.start_s - f.at_s) >= 0.5 else ""
        )
        duration = _s(f.end_s - f.start_s) if f.end_s > f.start_s else "instant"
        if f.recovery_s is not None:
            recovery = f"{f.recovery_s:.1f} s after its {f.recovery_from}"
        else:
            recovery = "not within the run"
        delayed = "n/a" if f.delayed is None else f"{count(f.delayed)} of {count(f.affected)}"
        rows.append([when, f.action, f.target, duration, recovery, delayed,
                     _calls(f.extra_llm_calls), f.error or ""])
    return rows


def _faults(m: RunMetrics) -> Section | None:
    """The Faults section, or None for a run that scheduled none and recorded none."""
    scheduled = m.spec.get("faults") or []
    if not m.faults and not scheduled:
        return None
    if not m.faults:
        return Section("Faults", [Paragraph(
            f"The spec scheduled {plural(len(scheduled), 'fault')}, but no fault event was recorded for "
            "this run: the injection never ran, or its record did not reach PostgreSQL.", "finding")])
    blocks: list[Any] = [
        Table(
            ["when (after load start)", "action", "target", "duration", "recovery time",
             "delayed questions", "extra LLM calls", "error"],
            fault_rows(m),
            caption="Injected faults",
        ),
        Paragraph(
            "Recovery time: from the fault's start (kill, restart) or end (pause, outage) until "
            "answered throughput holds at least 90% of the offered load for 5 s. Delayed: "
            "questions in the pipeline during the fault and its recovery whose end-to-end latency "
            "exceeds the p99 of the questions finished before it (or that never finished). Extra "
            "LLM calls: their calls minus what the pre-fault calls per question predict. n/a: too "
            "few questions finished before the fault to compare with. The time-series plots mark "
            "each fault.",
            "note",
        ),
    ]
    blocks += [
        Paragraph(f"{f.label} at {_n(f.start_s, 1)} s: {f.recovery_note}.", "note")
        for f in m.faults
        if f.recovery_note
    ]
    return Section("Faults", blocks)


def _counter(key: str, v: float | None) -> str:
    """A ground-truth counter: amplification as a multiplier, the rest as counts."""
    return format_unit("x", v) if key == "amplification" else counter(v)


def _summary_row(label: str, s: LatencySummary) -> list[str]:
    return [label, count(s.count), _s(s.mean), *[_s(v) for _, v in s.percentiles()], _s(s.max)]


def _latency(m: RunMetrics, plots: Mapping[str, Path]) -> Section:
    lat = m.latency
    headers = ["measure", "count", "mean", *[k.replace("_", ".") for k, _ in PERCENTILES], "max"]
    rows = [
        _summary_row("end to end (intended send -> durable)", lat.e2e),
        _summary_row("from first LLM attempt -> durable", lat.from_first_attempt),
        _summary_row("producer send (intended -> Kafka ack)", lat.producer_send),
        _summary_row("one LLM attempt (all)", lat.llm_attempt),
        _summary_row("one LLM attempt (successful)", lat.llm_attempt_ok),
        _summary_row("intended send -> dead letter stored", lat.time_to_dead_letter),
    ]
    wrows = [
        [PART_LABELS.get(p, p), _s(s.mean), _s(s.p50), _s(s.p99), _s(s.max)]
        for p, s in lat.waterfall.by_part.items()
    ]
    blocks: list[Any] = [
        Paragraph(
            "Steady-state questions answered through the LLM (cache hits and dead letters excluded). "
            "Percentiles from an HdrHistogram (microsecond resolution, 3 significant digits).",
            "note",
        ),
        Table(headers, rows, caption="Latency"),
    ]
    for name, cap in (
        (
            "latency_cdf",
            "Latency CDF: end to end, from the first LLM attempt, and single LLM attempts.",
        ),
        (
            "latency_over_time",
            "End-to-end latency of each question by intended send time, with p50/p99 per bucket.",
        ),
    ):
        if name in plots:
            blocks.append(Image(plots[name], cap))
    blocks.append(
        Table(
            ["hop", "mean", "p50", "p99", "max"], wrows, caption="Per-hop waterfall (per question)"
        )
    )
    if "waterfall" in plots:
        blocks.append(
            Image(
                plots["waterfall"],
                "Where the time goes: mean per hop (adds up to the mean e2e) and per-hop p50/p99.",
            )
        )
    return Section("Latency", blocks)


def _throughput(m: RunMetrics, plots: Mapping[str, Path]) -> Section:
    t = m.throughput
    rows = [
        ["offered (intended sends)", format_unit("1/s", t.offered_qps)],
        ["throughput (answered, incl. cache hits)", format_unit("1/s", t.throughput_qps)],
        ["throughput through the LLM", format_unit("1/s", t.llm_throughput_qps)],
        ["goodput (accepted)", format_unit("1/s", t.goodput_qps)],
        [f"goodput within SLO ({_s(t.slo_s)})", format_unit("1/s", t.goodput_slo_qps)],
        ["dead-lettered", format_unit("1/s", t.dead_lettered_per_s)],
        ["unanswered when arrivals stopped", count(t.backlog_at_load_end)],
        ["drain (last durable write after arrivals stopped)", _s(t.drain_s)],
    ]
    blocks: list[Any] = [Table(["rate over the steady window", "value"], rows)]
    if "throughput" in plots:
        blocks.append(
            Image(
                plots["throughput"], "Offered load, throughput, goodput and dead letters over time."
            )
        )
    return Section("Throughput and goodput", blocks)


def _retries(m: RunMetrics, plots: Mapping[str, Path]) -> Section:
    r = m.retries
    rec, tiers, dl, gt = r.recovery, r.retry_tiers, r.dead_letters, r.ground_truth
    summary = [
        ["questions sent to the LLM", count(r.llm_questions)],
        ["LLM calls", count(r.llm_calls)],
        ["LLM calls per question (amplification)", format_unit("x", r.amplification)],
        ["failed attempts per question", _n(r.failed_attempts_per_question)],
        ["regeneration calls per question", _n(r.regeneration_calls_per_question)],
        ["attempt error rate", _pct(r.error_rate)],
        ["failed at least once", count(rec.failed_at_least_once)],
        ["recovered (of those)", f"{count(rec.recovered)} ({_pct(rec.recovery_rate)})"],
        [
            "recovered by in-worker backoff / via retry tier",
            f"{count(rec.recovered_in_worker)} / {count(rec.recovered_via_retry_tier)}",
        ],
        ["questions deferred to a retry tier", count(tiers.questions_deferred)],
        [
            "in-worker backoff per question: mean / p99",
            f"{_s(tiers.in_worker_backoff_per_question.mean)} / "
            f"{_s(tiers.in_worker_backoff_per_question.p99)}",
        ],
        ["dead letters", f"{count(dl.count)} ({_pct(dl.rate)})"],
    ]
    blocks: list[Any] = [Table(["retries (steady state)", "value"], summary)]
    classes = r.attempts_by_class
    total = sum(classes.values()) or 1
    blocks.append(
        Table(
            ["attempt outcome", "attempts", "share"],
            [[k, count(v), _pct(v / total)] for k, v in classes.items()],
            caption="Attempts by outcome / error class",
        )
    )
    if rec.by_error_class:
        blocks.append(
            Table(
                ["error class", "questions hit", "recovered", "rate"],
                [
                    [k, count(v.failed), count(v.recovered), _pct(v.rate)]
                    for k, v in rec.by_error_class.items()
                ],
                caption="Recovery by error class",
            )
        )
    if tiers.by_tier:
        blocks.append(
            Table(
                ["retry tier", "deferrals", "mean wait per deferral", "total wait"],
                [
                    [k, count(v.deferrals), _s(v.mean_wait_s), _s(v.total_wait_s)]
                    for k, v in tiers.by_tier.items()
                ],
                caption="Time in retry tiers",
            )
        )
    else:
        blocks.append(Paragraph("No question was deferred to a retry tier.", "note"))
    if dl.by_reason:
        blocks.append(
            Table(
                ["dead-letter reason", "count"],
                [[k, count(v)] for k, v in dl.by_reason.items()],
                caption="Dead letters by reason",
            )
        )
    if gt.simulator is not None:
        client = gt.client.model_dump()
        sim = gt.simulator.counters()
        keys = sorted(set(client) | set(sim))
        blocks.append(
            Table(
                ["counter (whole run)", "client's view", "simulator (ground truth)"],
                [[k, _counter(k, client.get(k)), _counter(k, sim.get(k))] for k in keys],
                caption="Ground truth beside the client's view "
                f"({plural(gt.llm_questions_run, 'LLM question')})",
            )
        )
    else:
        blocks.append(
            Paragraph(
                "No simulator counters were recorded for this run (external LLM endpoint?).", "note"
            )
        )
    if "attempts" in plots:
        blocks.append(
            Image(plots["attempts"], "LLM attempts per second by outcome and error class.")
        )
    return Section("Retries", blocks)


def worker_rows(m: RunMetrics) -> list[list[str]]:
    """One row per worker: label, questions answered (and their share), LLM calls, errors (and
    their share of its calls), call duration p50 / p99."""
    total = sum(w.questions_answered for w in m.workers)
    return [
        [
            w.label,
            count(w.questions_answered),
            _pct(w.questions_answered / total if total else None),
            count(w.attempts),
            f"{count(w.errors)} ({_pct(w.errors / w.attempts if w.attempts else None)})",
            _s(w.attempt_p50_s),
            _s(w.attempt_p99_s),
        ]
        for w in m.workers
    ]


def _workers(m: RunMetrics) -> Section | None:
    """The Workers section, or None when no LLM attempt of the run names its worker."""
    if not any(w.worker is not None for w in m.workers):
        return None
    named = [w for w in m.workers if w.worker is not None]
    ids = "; ".join(f"{w.label} = {w.worker}" for w in named if w.label != w.worker)
    note = (
        "Whole run, every LLM pass. A question counts for the worker that made its final "
        "successful LLM call; calls and errors count every call a worker made. A worker's id is "
        "host-index-pid (under compose the host is the container); a label keeps the parts that "
        "tell this run's workers apart"
        + (f" ({ids})." if ids else ".")
    )
    return Section("Workers", [
        Table(
            ["worker", "questions answered", "share", "LLM calls", "errors",
             "call p50", "call p99"],
            worker_rows(m),
            caption=f"Questions and LLM calls per worker ({plural(len(named), 'worker')})",
        ),
        Paragraph(note, "note"),
    ])


def _quality(m: RunMetrics, plots: Mapping[str, Path]) -> Section:
    q = m.quality
    rows = [
        ["mean score, round 0", _n(q.round0.mean, 3)],
        ["mean score, final", _n(q.final.mean, 3)],
        ["mean gain per finished question", _n(q.mean_gain, 3)],
        ["extra LLM calls (regeneration rounds)", count(q.extra_llm_calls)],
        ["score gain per extra LLM call", _n(q.gain_per_extra_call, 3)],
        ["sent back at least once", _pct(q.sent_back_share)],
        ["accepted", _pct(q.accepted_share)],
        ["ended low_quality", _pct(q.low_quality_share)],
    ]
    fw = q.flink_windows
    if fw:
        rows.append(
            [
                "Flink windows: scored / accepted / sent back",
                f"{count(fw.scored)} / {count(fw.accepted)} / {count(fw.sent_back)}",
            ]
        )
    blocks: list[Any] = [Table(["quality (steady state)", "value"], rows)]
    if "scores" in plots:
        blocks.append(Image(plots["scores"], "Score distribution at round 0 and at the end."))
    ta = q.threshold_analysis
    if ta.rows:
        step = max(1, len(ta.rows) // 12)
        picked = [
            r
            for i, r in enumerate(ta.rows)
            if i % step == 0 or (ta.current is not None and abs(r.threshold - ta.current) < 1e-9)
        ]
        blocks.append(
            Paragraph(
                f"Model: {ta.model}; calls per generation {_n(ta.calls_per_generation)}; "
                f"max rounds {_n(ta.max_rounds)}.",
                "note",
            )
        )
        blocks.append(
            Table(
                [
                    "threshold",
                    "pass at round 0",
                    "accepted (model)",
                    "generations/question",
                    "LLM calls/question",
                ],
                [
                    [
                        f"{r.threshold:g}",
                        _pct(r.pass_round0),
                        _pct(r.accepted_final),
                        _n(r.expected_generations),
                        _n(r.expected_llm_calls),
                    ]
                    for r in picked
                ],
                caption="Threshold analysis",
            )
        )
    if "threshold" in plots:
        blocks.append(
            Image(plots["threshold"], "Acceptance and expected LLM cost as the threshold moves.")
        )
    return Section("Quality and the feedback loop", blocks)


def _cache(m: RunMetrics) -> Section:
    c = m.cache
    ac = c.access_count
    rows = [
        ["requests (steady)", count(c.requests)],
        ["cache hits", f"{count(c.hits)} ({_pct(c.hit_rate)})"],
        ["cache-hit latency p50 / p99", f"{_s(c.hit_latency.p50)} / {_s(c.hit_latency.p99)}"],
        ["access count mean / max", f"{_n(ac.mean)} / {count(ac.max)}"],
    ]
    return Section(
        "Cache",
        [
            Table(["cache", "value"], rows),
            Table(
                ["times asked", "requests"],
                [[k, count(v)] for k, v in ac.distribution.items()],
                caption="Access counts",
            ),
        ],
    )


def _method(m: RunMetrics) -> Section:
    return Section(
        "Method",
        [
            Paragraph(
                "Steady window: questions whose intended send time lies between the end of the warm-up and "
                "the end of the arrival schedule (minus any cool-down) give the latency samples, whenever they "
                "finished; rates count durable writes inside the window. The drain, after arrivals stop, is "
                "trimmed and its length reported. End-to-end latency starts at the intended send time, so a "
                "generator falling behind is not hidden (coordinated omission).",
                "note",
            ),
            Paragraph(
                "Waterfall: producer send, queue wait, in-worker backoff, LLM attempts, retry-tier waits, scoring "
                "and storage are measured from hop and attempt timestamps; 'other' is the remainder, so the means "
                "add up to the mean end-to-end latency.",
                "note",
            ),
        ],
    )


def _spec(m: RunMetrics) -> Section:
    spec = redact(m.spec)
    return Section(
        "Spec",
        [Code(json.dumps(spec, indent=2, sort_keys=True), "Experiment spec (secrets removed)")],
    )


def run_document(
    metrics: RunMetrics, plots: Mapping[str, Path], audit: AuditReading | None = None
) -> Document:
    """The report of one run. It opens with its validity warnings (:mod:`experiments.report.validity`:
    a partial run, overlapping runs, a retry policy never exercised, too few samples for a
    percentile, a generator that fell behind, Kafka slow to acknowledge), then the audit's verdict
    when ``audit`` is given (see :mod:`experiments.report.audit_view`), then what was tested
    (:mod:`experiments.report.tested`); software versions come last."""
    run = metrics.run
    faults = _faults(metrics)
    workers = _workers(metrics)
    lead = [] if audit is None else [Paragraph(audit_line(audit), audit_css(audit))]
    return Document(
        title=f"Run {run.run_name}",
        subtitle=f"experiment {run.experiment_id} · seed {run.seed} · git {_revision(run.git_revision)} · started {run.started_at}",
        banners=[w.text for w in run_warnings(metrics)],
        lead=lead,
        sections=[
            what_was_tested(metrics),
            _header(metrics),
            Section(
                "Findings",
                [Paragraph(s, "finding") for s in findings(metrics)] or [Paragraph("No data.")],
            ),
            _headline(metrics),
            *([faults] if faults is not None else []),
            _latency(metrics, plots),
            _throughput(metrics, plots),
            _retries(metrics, plots),
            *([workers] if workers is not None else []),
            _quality(metrics, plots),
            _cache(metrics),
            _method(metrics),
            _spec(metrics),
            _versions(metrics),
        ],
    )
