"""`harness demo`: the default experiment (experiments/specs/demo.yaml) through Airflow on the
running stack; prints the report path, the Airflow URL and the login."""

from __future__ import annotations

import argparse

from harness.commands.trigger import trigger_and_follow

DEMO_SPEC = "demo.yaml"


def _demo(args: argparse.Namespace) -> int:
    from experiments import spec as spec_module

    spec = spec_module.apply_overrides(spec_module.load(spec_module.SPECS_DIR / DEMO_SPEC),
                                       args.set or [])
    return trigger_and_follow(spec, args.timeout)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    demo = sub.add_parser("demo", help="run the demo experiment through Airflow on the running stack")
    demo.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a spec field")
    demo.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait for the run")
    demo.set_defaults(func=_demo)
