"""What a calibration writes: the fitted profile (a spec over ``demo`` whose ``llm`` block holds
the ``profile_overrides``), and a report (``report.md``, ``latency.png`` overlaying the measured and
simulated latency CDFs per phase, ``calibration.json`` with every sample of both sides)."""

from __future__ import annotations

import json
import re
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml
from matplotlib.figure import Figure

from experiments.calibrate.distance import Distance
from experiments.calibrate.fit import CalibrationFit
from experiments.calibrate.run import BASE_PROFILE, COMPARED, Calibration, latencies
from experiments.calibrate.samples import Sample
from experiments.report.plot_axes import duration_axis, format_duration, no_data
from experiments.report.plots import save_figure
from foundation.repo import REPO_ROOT

#: the spec the fitted profile's file builds on (its load, retry policy, scoring)
BASE_SPEC = "demo"
PHASE_TITLES = {"tokens": "one at a time (max_tokens levels)",
                "concurrency": "1-8 in flight", "burst": "burst (all at once)"}


def profile_name(model: str) -> str:
    """A file name from a model name: ``SmolLM2-135M-Instruct.Q4_1.gguf`` -> ``smollm2-135m-instruct-q4-1``."""
    stem = re.sub(r"\.gguf$", "", model.rsplit("/", 1)[-1], flags=re.IGNORECASE)
    return re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")[:60] or "endpoint"


def shown(path: Path) -> str:
    """A path as the report names it: relative to the repository when inside it."""
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(at))


def profile_document(cal: Calibration, report_path: str) -> str:
    """The YAML of the fitted profile: a spec with ``base: demo`` and the calibrated ``llm``."""
    name = profile_name(cal.model)
    spec = {
        "name": f"calibrated-{name}"[:64],
        "base": BASE_SPEC,
        "description": f"The demo's load on the simulator calibrated to {cal.model}.",
        "llm": {"backend": "simulator", "profile": BASE_PROFILE, "profile_overrides": cal.overrides},
    }
    head = (f"# Simulator profile fitted by `harness calibrate` to {cal.base_url} (model {cal.model}),\n"
            f"# {_when(cal.started_at)}; report: {report_path}.\n"
            "# A spec over demo: `harness run` this file, or copy its llm block into a spec.\n")
    return head + yaml.safe_dump(spec, sort_keys=False)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def _median(values: Sequence[float]) -> str:
    return _ms(statistics.median(values)) if values else "-"


def _tokens_table(cal: Calibration) -> list[str]:
    rows = ["| max_tokens | completions | completion tokens (median) | measured median | simulated median | fitted model |",
            "|---:|---:|---:|---:|---:|---:|"]
    for step in cal.plan.phase("tokens"):
        mine = [s for s in cal.measured if s.phase == "tokens" and s.max_tokens == step.max_tokens and s.ok]
        sim = [s.latency_s for s in cal.simulated if s.phase == "tokens" and s.max_tokens == step.max_tokens and s.ok]
        tokens = [s.completion_tokens for s in mine if s.completion_tokens is not None]
        mid = statistics.median(tokens) if tokens else float(step.max_tokens)
        rows.append(f"| {step.max_tokens} | {len(mine)} | {mid:g} | {_median([s.latency_s for s in mine])} "
                    f"| {_median(sim)} | {_ms(cal.fit.latency.median_at(mid))} |")
    return rows


def _concurrency_table(cal: Calibration) -> list[str]:
    rows = ["| in flight | measured median | completions/s | simulated median |", "|---:|---:|---:|---:|"]
    for level in cal.fit.concurrency.levels:
        sim = [s.latency_s for s in cal.simulated
               if s.phase == "concurrency" and s.concurrency == level.in_flight and s.ok]
        rows.append(f"| {level.in_flight} | {_ms(level.median_s)} | {level.throughput:.2f} | {_median(sim)} |")
    return rows


def _distance_table(cal: Calibration) -> list[str]:
    rows = ["| phase | measured | simulated | measured median | simulated median | median ratio | KS statistic |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for phase, d in cal.distances.items():
        rows.append(f"| {PHASE_TITLES.get(phase, phase)} | {d.measured} | {d.simulated} | {_ms(d.median_measured_s)} "
                    f"| {_ms(d.median_simulated_s)} | {d.median_ratio:.2f} | {d.ks:.3f} |")
    return rows


def _findings(fit: CalibrationFit) -> list[str]:
    lat, conc, over, tok = fit.latency, fit.concurrency, fit.overload, fit.tokens
    queue = ("requests queue for a slot" if conc.queueing else "latency does not grow with the requests in flight")
    usage = ("usage present and consistent on every completion" if tok.consistent
             else "; ".join(tok.problems) or "no completions")
    return [
        f"- **Latency**: {_ms(lat.fixed_s)} fixed + lognormal (median {_ms(lat.median_s)}, sigma "
        f"{lat.sigma:.2f}) + {lat.per_token_s * 1000:.2f} ms per completion token "
        f"(fitted on {lat.samples} requests, one at a time).",
        f"- **Concurrency**: about {conc.slots} parallel slot(s); {queue} "
        f"(median at the highest level {conc.growth:.1f}x the lowest).",
        f"- **Overload**: {over.describe()}; the slowest answer took {_ms(over.max_latency_s)}"
        + (f", Retry-After {over.retry_after_s:g} s" if over.retry_after_s is not None else "") + ".",
        f"- **Token accounting**: {usage} ({tok.with_usage} of {tok.completions} completions with usage).",
        f"- **Answer length**: {fit.words[0]}-{fit.words[1]} words in the simulator "
        "(4 tokens per 3 words, cut at max_tokens).",
    ]


def markdown(cal: Calibration, profile_path: str) -> str:
    lines = [
        f"# Calibration: {cal.model}", "",
        f"Endpoint {cal.base_url}, {_when(cal.started_at)}: {len(cal.measured)} requests measured in "
        f"{cal.measured_s:.0f} s, the same plan against the simulator with the fitted profile in "
        f"{cal.simulated_s:.0f} s. Profile: `{profile_path}`.", "",
        "## What was measured", "", *_findings(cal.fit), "",
        "## Measured against simulated", "",
        "KS statistic: the largest gap between the two latency CDFs (0 = the same distribution, "
        "1 = disjoint); median ratio: simulated over measured.", "",
        *_distance_table(cal), "", "![latency CDFs](latency.png)", "",
        "## Latency against completion tokens", "", *_tokens_table(cal), "",
        "## Latency against requests in flight", "", *_concurrency_table(cal), "",
        "## The fitted profile (`llm.profile_overrides` over `instant`)", "",
        "```yaml", yaml.safe_dump(cal.overrides, sort_keys=False).rstrip(), "```", "",
    ]
    return "\n".join(lines)


def latency_figure(measured: Sequence[Sample], simulated: Sequence[Sample],
                   distances: Mapping[str, Distance] | None = None) -> Figure:
    """One panel per phase: the measured and the simulated empirical CDF of the latency, the KS
    statistic in the panel's title."""
    fig = Figure(figsize=(12.0, 4.0))
    for i, phase in enumerate(COMPARED):
        ax = fig.add_subplot(1, len(COMPARED), i + 1)
        gap = (distances or {}).get(phase)
        ax.set_title(PHASE_TITLES[phase] + (f", KS {gap.ks:.2f}" if gap else ""), fontsize=10)
        drawn = False
        for values, label, style in ((latencies(measured, phase), "measured", "-"),
                                     (latencies(simulated, phase), "simulated", "--")):
            if values:
                xs = sorted(values)
                ys = [(k + 1) / len(xs) for k in range(len(xs))]
                ax.step(xs, ys, where="post", linestyle=style, label=f"{label} (median {format_duration(statistics.median(xs))})")
                drawn = True
        if not drawn:
            no_data(ax)
            continue
        duration_axis(ax, "x", log=True)
        ax.set_ylim(0, 1.02)
        ax.set_ylabel("share of requests" if i == 0 else "")
        ax.set_xlabel("latency (log scale)")
        ax.legend(loc="lower right", fontsize=8)
        ax.grid(alpha=0.3)
    return fig


def calibration_json(cal: Calibration) -> dict[str, Any]:
    return {
        "base_url": cal.base_url, "model": cal.model, "started_at": cal.started_at,
        "measured_s": cal.measured_s, "simulated_s": cal.simulated_s,
        "profile_overrides": cal.overrides,
        "distances": {k: {**asdict(d), "median_ratio": d.median_ratio} for k, d in cal.distances.items()},
        "slots": cal.fit.concurrency.slots, "queueing": cal.fit.concurrency.queueing,
        "overload": asdict(cal.fit.overload), "tokens": asdict(cal.fit.tokens),
        "plan": [asdict(s) for s in cal.plan.steps],
        "measured": [s.to_dict() for s in cal.measured],
        "simulated": [s.to_dict() for s in cal.simulated],
    }


def write(cal: Calibration, profile_path: Path, report_dir: Path) -> Path:
    """Write the profile and the report; returns the report's ``report.md``."""
    report_dir.mkdir(parents=True, exist_ok=True)
    profile_path.parent.mkdir(parents=True, exist_ok=True)
    md = report_dir / "report.md"
    profile_path.write_text(profile_document(cal, shown(md)))
    save_figure(latency_figure(cal.measured, cal.simulated, cal.distances), report_dir / "latency.png")
    (report_dir / "calibration.json").write_text(json.dumps(calibration_json(cal), indent=1) + "\n")
    md.write_text(markdown(cal, shown(profile_path)))
    return md
