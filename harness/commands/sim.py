"""``harness sim``: run the OpenAI-compatible LLM simulator (host/port from HARNESS_SIM_* settings)."""

from __future__ import annotations

import argparse
from typing import Any

from pipeline.llm.sim.cli import add_arguments, run_from_args


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "sim",
        help="run the LLM simulator",
        description="Run the OpenAI-compatible LLM simulator with a fault profile. "
        "Switch profiles at run time with PUT /admin/profile; read ground truth at GET /admin/counters.",
    )
    add_arguments(parser)
    parser.set_defaults(func=run_from_args)
