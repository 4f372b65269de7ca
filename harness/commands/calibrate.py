"""`harness calibrate --base-url URL [--model M] [--out FILE]`: measure an OpenAI-compatible
endpoint, fit the simulator's profile to it, and report how close the fitted simulator comes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from foundation.repo import REPO_ROOT
from harness.stack.local_llm import MODEL_ALIAS

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


def _calibrate(args: argparse.Namespace) -> int:
    from experiments.calibrate import report
    from experiments.calibrate.plan import default_plan
    from experiments.calibrate.run import calibrate
    from experiments.report.settings import ReportSettings

    name = report.profile_name(args.model)
    out = Path(args.out) if args.out else REPO_ROOT / "experiments" / "profiles" / f"{name}.yaml"
    report_dir = (Path(args.report_dir) if args.report_dir
                  else ReportSettings().reports_root / "calibrate" / name)
    plan = default_plan(repeats=args.repeats, burst=args.burst, timeout_s=args.timeout)
    try:
        result = calibrate(args.base_url, args.model, plan, seed=args.seed, progress=print)
    except ValueError as exc:  # too few completions to fit anything
        print(f"calibration failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    md = report.write(result, out, report_dir)
    for phase, d in result.distances.items():
        print(f"{phase}: measured median {d.median_measured_s:.3f} s, simulated "
              f"{d.median_simulated_s:.3f} s (ratio {d.median_ratio:.2f}), KS {d.ks:.3f}")
    print(f"profile: {report.shown(out)}")
    print(f"report: {report.shown(md)}")
    return EXIT_OK


def _positive(kind: type) -> object:
    def parse(text: str) -> object:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value
    return parse


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    cmd = sub.add_parser(
        "calibrate", help="fit the simulator's profile to a real OpenAI-compatible endpoint",
        description="Measure an OpenAI-compatible endpoint through the project's LLM client: "
        "latency against completion tokens (one request at a time, several max_tokens), against "
        "1, 2, 4 and 8 requests in flight (parallel slots, queueing), a burst of requests at once "
        "(queueing, 429, 503, timeouts) and its token accounting. Fits a simulator profile to it "
        "(llm.profile_overrides over the instant profile, in a spec over demo), runs the same "
        "requests against the simulator with that profile in this process, and writes a report "
        "comparing the two latency distributions (KS statistic, median ratio). The API key "
        "(HARNESS_LLM_API_KEY) is sent only to a base URL its allowlist covers. See "
        "docs/local-llm.md.",
        epilog="exit codes: 0 calibrated, 1 too few completions to fit (the endpoint failed), "
        "2 invalid arguments.",
    )
    cmd.add_argument("--base-url", required=True,
                     help="the endpoint's OpenAI-compatible base URL, e.g. http://127.0.0.1:8088/v1")
    cmd.add_argument("--model", default=MODEL_ALIAS, help="model name sent with every request, "
                     f"and the profile's name (default: {MODEL_ALIAS}, the local LLM of "
                     "`make local-llm`, which answers to any name)")
    cmd.add_argument("--out", help="the profile file to write (default: "
                     "experiments/profiles/<model>.yaml)")
    cmd.add_argument("--report-dir", help="where the report goes (default: reports/calibrate/<model>/)")
    cmd.add_argument("--repeats", type=_positive(int), default=6,
                     help="requests per max_tokens level, one at a time (default 6)")
    cmd.add_argument("--burst", type=_positive(int), default=32,
                     help="requests sent at once to see the overload behaviour (default 32)")
    cmd.add_argument("--timeout", type=_positive(float), default=60.0,
                     help="per-request deadline in seconds (default 60); past it a request counts "
                     "as a timeout")
    cmd.add_argument("--seed", type=int, default=0, help="the simulator's seed (default 0)")
    cmd.set_defaults(func=_calibrate)
