"""Command-line options of the simulator, shared by ``harness sim`` and ``python -m pipeline.llm.sim``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from pipeline.llm.sim.profiles import NAMED_PROFILES
from pipeline.llm.sim.runner import READY_PREFIX, run_simulator
from pipeline.llm.sim.settings import SimulatorSettings

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = SimulatorSettings()
    parser.add_argument("--host", default=defaults.host, help=f"bind address (default {defaults.host})")
    parser.add_argument("--port", type=int, default=defaults.port, help=f"port, 0 = any free (default {defaults.port})")
    parser.add_argument(
        "--profile",
        default=defaults.profile,
        help=f"fault profile at start: one of {', '.join(NAMED_PROFILES)} (default {defaults.profile})",
    )
    parser.add_argument("--profile-file", type=Path, help="JSON profile spec (overrides --profile)")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="override the profile's seed")
    parser.add_argument("--list-profiles", action="store_true", help="print the shipped profiles and exit")
    parser.add_argument("--no-uvloop", action="store_true", help="use the stock asyncio event loop")
    parser.add_argument(
        "--announce", action="store_true", help=f"print '{READY_PREFIX}<url>' on stdout once listening"
    )


def run_from_args(args: argparse.Namespace) -> int:
    if args.list_profiles:
        for name, spec in NAMED_PROFILES.items():
            print(f"{name:14s} {spec.get('description', '')}")
        return 0
    settings = SimulatorSettings(host=args.host, port=args.port, profile=args.profile, seed=args.seed)
    if args.no_uvloop:
        settings = settings.model_copy(update={"use_uvloop": False})
    profile: Any = None
    if args.profile_file is not None:
        profile = json.loads(args.profile_file.read_text())

    def announce(url: str) -> None:
        if args.announce:
            print(f"{READY_PREFIX}{url}", flush=True)

    run_simulator(settings, profile, announce=announce)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.llm.sim", description="OpenAI-compatible LLM simulator")
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    return run_from_args(args)
