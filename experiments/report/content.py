"""The sections of a run report, built from metrics.json and the plot files."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from experiments.metrics.headline import HEADLINES, dig, format_seconds, format_unit, format_value
from experiments.metrics.histogram import PERCENTILES
from experiments.metrics.redact import redact
from experiments.report.document import Code, Document, Image, Paragraph, Section, Table
from experiments.report.narrative import findings
from experiments.report.plots import PART_LABELS

Metrics = Mapping[str, Any]


def _s(v: float | None) -> str:
    return "n/a" if v is None else format_seconds(v)


def _pct(v: float | None) -> str:
    return format_unit("ratio", v)


def _n(v: Any, digits: int = 2) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, int):
        return str(v)
    return f"{v:.{digits}f}"


def ci_text(key: str, rep: Mapping[str, Any] | None) -> str:
    """``mean [low, high]`` of a headline across repeats, or '' without repeats."""
    if not rep:
        return ""
    item = rep.get("metrics", {}).get(key) or {}
    if item.get("mean") is None:
        return ""
    if item.get("ci_low") is None:
        return f"{format_value(key, item['mean'])} (n={item.get('n')})"
    return (
        f"{format_value(key, item['mean'])} [{format_value(key, item['ci_low'])}, "
        f"{format_value(key, item['ci_high'])}]"
    )


def _header(m: Metrics) -> Section:
    run, win = m.get("run", {}), m.get("window", {})
    rows = [
        ["run", str(run.get("run_name"))],
        ["experiment id", str(run.get("experiment_id"))],
        ["seed", str(run.get("seed"))],
        ["git revision", str(run.get("git_revision"))],
        ["started / ended (UTC)", f"{run.get('started_at')} / {run.get('ended_at')}"],
        ["warm-up", _s(run.get("warmup_s"))],
        [
            "steady window",
            f"{_n(win.get('start_s'), 1)} s to {_n(win.get('end_s'), 1)} s after load start "
            f"({_n(win.get('duration_s'), 1)} s)",
        ],
        ["SLO (end to end)", _s(run.get("slo_s"))],
        ["score threshold / max rounds", f"{run.get('score_threshold')} / {run.get('max_rounds')}"],
        ["metrics schema", str(m.get("schema_version"))],
    ]
    versions = redact(run.get("component_versions") or {})
    rows += [[f"version: {k}", str(v)] for k, v in sorted(versions.items())]
    counts = m.get("counts", {})
    rows.append(
        [
            "questions",
            f"{counts.get('questions')} total, {counts.get('steady')} steady "
            f"({counts.get('trimmed_warmup')} trimmed as warm-up, {counts.get('trimmed_drain')} as drain)",
        ]
    )
    return Section("Run", [Table(["field", "value"], rows, align_numbers=False)])


def _headline(m: Metrics) -> Section:
    rep = m.get("repeats") if (m.get("repeats") or {}).get("n", 0) >= 2 else None
    head = m.get("headline", {})
    headers = ["metric", "value"]
    if rep:
        headers.append(f"mean [95% CI] over {rep['n']} repeats")
    rows = []
    for h in HEADLINES:
        row = [h.label, format_value(h.key, head.get(h.key))]
        if rep:
            row.append(ci_text(h.key, rep))
        rows.append(row)
    return Section("Headline figures", [Table(headers, rows)])


def _latency(m: Metrics, plots: Mapping[str, Path]) -> Section:
    lat = m.get("latency", {})
    headers = ["measure", "count", "mean", *[k.replace("_", ".") for k, _ in PERCENTILES], "max"]
    rows = []
    for key, label in (
        ("e2e", "end to end (intended send -> durable)"),
        ("from_first_attempt", "from first LLM attempt -> durable"),
        ("producer_send", "producer send (intended -> Kafka ack)"),
        ("llm_attempt", "one LLM attempt (all)"),
        ("llm_attempt_ok", "one LLM attempt (successful)"),
        ("time_to_dead_letter", "intended send -> dead letter stored"),
    ):
        s = lat.get(key) or {}
        rows.append(
            [
                label,
                str(s.get("count", 0)),
                _s(s.get("mean")),
                *[_s(s.get(k)) for k, _ in PERCENTILES],
                _s(s.get("max")),
            ]
        )
    by_part = dig(lat, ("waterfall", "by_part")) or {}
    wrows = [
        [
            PART_LABELS.get(p, p),
            _s(s.get("mean")),
            _s(s.get("p50")),
            _s(s.get("p99")),
            _s(s.get("max")),
        ]
        for p, s in by_part.items()
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


def _throughput(m: Metrics, plots: Mapping[str, Path]) -> Section:
    t = m.get("throughput", {})
    rows = [
        ["offered (intended sends)", format_unit("1/s", t.get("offered_qps"))],
        ["throughput (answered, incl. cache hits)", format_unit("1/s", t.get("throughput_qps"))],
        ["throughput through the LLM", format_unit("1/s", t.get("llm_throughput_qps"))],
        ["goodput (accepted)", format_unit("1/s", t.get("goodput_qps"))],
        [
            f"goodput within SLO ({_s(t.get('slo_s'))})",
            format_unit("1/s", t.get("goodput_slo_qps")),
        ],
        ["dead-lettered", format_unit("1/s", t.get("dead_lettered_per_s"))],
        ["unanswered when arrivals stopped", str(t.get("backlog_at_load_end"))],
        ["drain (last durable write after arrivals stopped)", _s(t.get("drain_s"))],
    ]
    blocks: list[Any] = [Table(["rate over the steady window", "value"], rows)]
    if "throughput" in plots:
        blocks.append(
            Image(
                plots["throughput"], "Offered load, throughput, goodput and dead letters over time."
            )
        )
    return Section("Throughput and goodput", blocks)


def _retries(m: Metrics, plots: Mapping[str, Path]) -> Section:
    r = m.get("retries", {})
    rec, tiers, dl, gt = (
        r.get("recovery", {}),
        r.get("retry_tiers", {}),
        r.get("dead_letters", {}),
        r.get("ground_truth", {}),
    )
    summary = [
        ["questions sent to the LLM", str(r.get("llm_questions"))],
        ["LLM calls", str(r.get("llm_calls"))],
        ["LLM calls per question (amplification)", format_unit("x", r.get("amplification"))],
        ["failed attempts per question", _n(r.get("failed_attempts_per_question"))],
        ["regeneration calls per question", _n(r.get("regeneration_calls_per_question"))],
        ["attempt error rate", _pct(r.get("error_rate"))],
        ["failed at least once", str(rec.get("failed_at_least_once"))],
        ["recovered (of those)", f"{rec.get('recovered')} ({_pct(rec.get('recovery_rate'))})"],
        [
            "recovered by in-worker backoff / via retry tier",
            f"{rec.get('recovered_in_worker')} / {rec.get('recovered_via_retry_tier')}",
        ],
        ["dead letters", f"{dl.get('count')} ({_pct(dl.get('rate'))})"],
    ]
    blocks: list[Any] = [Table(["retries (steady state)", "value"], summary)]
    classes = r.get("attempts_by_class") or {}
    total = sum(classes.values()) or 1
    blocks.append(
        Table(
            ["attempt outcome", "attempts", "share"],
            [[k, str(v), _pct(v / total)] for k, v in classes.items()],
            caption="Attempts by outcome / error class",
        )
    )
    by_class = rec.get("by_error_class") or {}
    if by_class:
        blocks.append(
            Table(
                ["error class", "questions hit", "recovered", "rate"],
                [
                    [k, str(v["failed"]), str(v["recovered"]), _pct(v["rate"])]
                    for k, v in by_class.items()
                ],
                caption="Recovery by error class",
            )
        )
    by_tier = tiers.get("by_tier") or {}
    trows = [
        [k, str(v["deferrals"]), _s(v["mean_wait_s"]), _s(v["total_wait_s"])]
        for k, v in by_tier.items()
    ]
    backoff = tiers.get("in_worker_backoff_per_question") or {}
    trows.append(
        [
            "in-worker backoff (per question)",
            "",
            _s(backoff.get("mean")),
            f"p99 {_s(backoff.get('p99'))}",
        ]
    )
    blocks.append(
        Table(
            ["retry tier", "deferrals", "mean wait", "total wait"],
            trows,
            caption="Time in retry tiers",
        )
    )
    if dl.get("by_reason"):
        blocks.append(
            Table(
                ["dead-letter reason", "count"],
                [[k, str(v)] for k, v in dl["by_reason"].items()],
                caption="Dead letters by reason",
            )
        )
    client, sim = gt.get("client") or {}, gt.get("simulator")
    if sim is not None:
        keys = sorted(set(client) | set(sim))
        blocks.append(
            Table(
                ["counter (whole run)", "client's view", "simulator (ground truth)"],
                [[k, _n(client.get(k)), _n(sim.get(k))] for k in keys],
                caption=f"Ground truth beside the client's view ({gt.get('llm_questions_run')} LLM questions)",
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


def _quality(m: Metrics, plots: Mapping[str, Path]) -> Section:
    q = m.get("quality", {})
    rows = [
        ["mean score, round 0", _n((q.get("round0") or {}).get("mean"), 3)],
        ["mean score, final", _n((q.get("final") or {}).get("mean"), 3)],
        ["mean gain per finished question", _n(q.get("mean_gain"), 3)],
        ["extra LLM calls (regeneration rounds)", str(q.get("extra_llm_calls"))],
        ["score gain per extra LLM call", _n(q.get("gain_per_extra_call"), 3)],
        ["sent back at least once", _pct(q.get("sent_back_share"))],
        ["accepted", _pct(q.get("accepted_share"))],
        ["ended low_quality", _pct(q.get("low_quality_share"))],
    ]
    fw = q.get("flink_windows")
    if fw:
        rows.append(
            [
                "Flink windows: scored / accepted / sent back",
                f"{fw['scored']} / {fw['accepted']} / {fw['sent_back']}",
            ]
        )
    blocks: list[Any] = [Table(["quality (steady state)", "value"], rows)]
    if "scores" in plots:
        blocks.append(Image(plots["scores"], "Score distribution at round 0 and at the end."))
    ta = q.get("threshold_analysis") or {}
    trs = ta.get("rows") or []
    if trs:
        step = max(1, len(trs) // 12)
        picked = [
            r
            for i, r in enumerate(trs)
            if i % step == 0
            or (ta.get("current") is not None and abs(r["threshold"] - ta["current"]) < 1e-9)
        ]
        blocks.append(
            Paragraph(
                f"Model: {ta.get('model')}; calls per generation {_n(ta.get('calls_per_generation'))}; max rounds {ta.get('max_rounds')}.",
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
                        f"{r['threshold']:g}",
                        _pct(r["pass_round0"]),
                        _pct(r["accepted_final"]),
                        _n(r["expected_generations"]),
                        _n(r["expected_llm_calls"]),
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


def _cache(m: Metrics) -> Section:
    c = m.get("cache", {})
    ac = c.get("access_count") or {}
    rows = [
        ["requests (steady)", str(c.get("requests"))],
        ["cache hits", f"{c.get('hits')} ({_pct(c.get('hit_rate'))})"],
        [
            "cache-hit latency p50 / p99",
            f"{_s((c.get('hit_latency') or {}).get('p50'))} / {_s((c.get('hit_latency') or {}).get('p99'))}",
        ],
        ["access count mean / max", f"{_n(ac.get('mean'))} / {ac.get('max')}"],
    ]
    dist = ac.get("distribution") or {}
    return Section(
        "Cache",
        [
            Table(["cache", "value"], rows),
            Table(
                ["times asked", "requests"],
                [[k, str(v)] for k, v in dist.items()],
                caption="Access counts",
            ),
        ],
    )


def _method(m: Metrics) -> Section:
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


def _spec(m: Metrics) -> Section:
    spec = redact(m.get("spec") or {})
    return Section(
        "Spec",
        [Code(json.dumps(spec, indent=2, sort_keys=True), "Experiment spec (secrets removed)")],
    )


def run_document(metrics: Metrics, plots: Mapping[str, Path]) -> Document:
    run = metrics.get("run", {})
    return Document(
        title=f"Run {run.get('run_name')}",
        subtitle=f"experiment {run.get('experiment_id')} · seed {run.get('seed')} · git {run.get('git_revision')} · started {run.get('started_at')}",
        sections=[
            _header(metrics),
            Section(
                "Findings",
                [Paragraph(s, "finding") for s in findings(metrics)] or [Paragraph("No data.")],
            ),
            _headline(metrics),
            _latency(metrics, plots),
            _throughput(metrics, plots),
            _retries(metrics, plots),
            _quality(metrics, plots),
            _cache(metrics),
            _method(metrics),
            _spec(metrics),
        ],
    )
