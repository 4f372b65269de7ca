"""`harness demo`: the default experiment (experiments/specs/demo.yaml) through Airflow on the
running stack, followed like `harness trigger`; ends with the run's summary, the Airflow URL and
the login (the password's file, never the password)."""

from __future__ import annotations

import argparse

from experiments.run_summary import EXIT_CODES_HELP
from harness.commands._follow import add_refresh_argument
from harness.commands.trigger import trigger_and_follow

DEMO_SPEC = "demo.yaml"


def _demo(args: argparse.Namespace) -> int:
    from experiments import spec as spec_module

    spec = spec_module.apply_overrides(spec_module.load(spec_module.SPECS_DIR / DEMO_SPEC),
                                       args.set or [])
    return trigger_and_follow(spec, args.timeout, refresh_s=args.refresh)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    demo = sub.add_parser(
        "demo", help="run the demo experiment through Airflow on the running stack",
        description="Run experiments/specs/demo.yaml (45 s of Poisson load on the simulator) "
        "through the Airflow `experiment` DAG, exactly as `harness trigger` does: live progress, "
        "then the run's summary and where its report is. The stack must be up (`harness up`).",
        epilog=EXIT_CODES_HELP,
    )
    demo.add_argument("--set", action="append", metavar="KEY=VALUE",
                      help="override a field of the demo spec, e.g. --set arrival.rate=8 "
                           "(repeatable)")
    demo.add_argument("--timeout", type=float, default=1800.0,
                      help="seconds to follow the run (default 1800)")
    add_refresh_argument(demo)
    demo.set_defaults(func=_demo)
