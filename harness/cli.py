"""The `harness` command line: a thin dispatcher over the modules in `harness.commands`.

``harness --help`` lists the commands in groups (:data:`GROUPS`): what a user runs first, then
the tools that operate the pipeline by hand, then the services the stack's supervisor runs. A
command no group names (a module added later) is listed under "other commands", never hidden.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
import textwrap
from collections.abc import Sequence

from harness import commands

log = logging.getLogger("harness")

#: (title, commands in the order shown); the first group holds what a user runs
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("commands", (
        "up", "down", "status", "logs", "demo", "trigger", "run", "report", "compare", "audit",
        "collect", "dataset", "study", "calibrate", "reports", "reports-index",
    )),
    ("pipeline tools (operate the pipeline by hand)", (
        "pipeline", "flink", "topics", "migrate", "generate", "report-demo",
    )),
    ("services (long-running processes that `harness up` starts and supervises)", (
        "worker", "relay", "storage", "events-sink", "sim",
    )),
)
OTHER_GROUP = "other commands"
#: the services group's commands
SERVICES: tuple[str, ...] = GROUPS[-1][1]
SERVICE_EPILOG = ("A service: `harness up` starts it under supervisord, which restarts it if it "
                  "dies; `harness status` lists it and `harness logs SERVICE` shows its log. "
                  "Run it by hand only to debug.")

DESCRIPTION = (
    "Experiment harness for asynchronous LLM pipelines (Kafka, Flink, PostgreSQL, Airflow).\n\n"
    "Start with `harness up`, then `harness demo` or `harness trigger SPEC`; every command has\n"
    "its own help: `harness COMMAND --help`."
)


class _GroupedHelpParser(argparse.ArgumentParser):
    """The root parser: its help lists the subcommands group by group (argparse lists them in
    one block otherwise)."""

    def format_help(self) -> str:
        text = super().format_help()
        return text.replace(_COMMANDS_PLACEHOLDER, command_listing(self), 1)


_COMMANDS_PLACEHOLDER = "\x00commands\x00"


def command_helps(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Subcommand name -> its one-line help, for PARSER's subcommands (empty when it has none)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return {choice.dest: choice.help or "" for choice in action._choices_actions}
    return {}


def grouped_commands(names: Sequence[str]) -> list[tuple[str, list[str]]]:
    """NAMES sorted into :data:`GROUPS` (in their order), the rest under :data:`OTHER_GROUP`;
    empty groups are left out."""
    known = set(names)
    out = [(title, [n for n in members if n in known]) for title, members in GROUPS]
    listed = {n for _, members in GROUPS for n in members}
    out.append((OTHER_GROUP, sorted(known - listed)))
    return [(title, members) for title, members in out if members]


def command_listing(parser: argparse.ArgumentParser, width: int = 100) -> str:
    """The grouped list of PARSER's subcommands with their help, wrapped to WIDTH columns."""
    helps = command_helps(parser)
    column = max((len(name) for name in helps), default=0) + 4
    blocks = []
    for title, members in grouped_commands(list(helps)):
        lines = [f"{title}:"]
        for name in members:
            wrapped = textwrap.wrap(helps[name], width=max(width - column, 30)) or [""]
            lines.append(f"  {name:<{column - 2}}{wrapped[0]}")
            lines += [" " * column + more for more in wrapped[1:]]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def build_parser() -> argparse.ArgumentParser:
    parser = _GroupedHelpParser(
        prog="harness",
        usage="harness [-h] [-v] COMMAND ...",
        description=f"{DESCRIPTION}\n\n{_COMMANDS_PLACEHOLDER}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    # prog: each command's usage reads `harness COMMAND ...`, not the root's usage line
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", help=argparse.SUPPRESS,
                                prog="harness")
    sub.required = True
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        try:
            module = importlib.import_module(f"{commands.__name__}.{info.name}")
        except ImportError as exc:
            # One broken area must not take `harness down` with it; say so loudly instead.
            print(f"harness: commands of {info.name!r} unavailable: {exc}", file=sys.stderr)
            continue
        register = getattr(module, "register", None)
        if register is not None:  # helper modules of the package register nothing
            register(sub)
    _describe_from_help(parser)
    for name in SERVICES:
        if name in sub.choices and sub.choices[name].epilog is None:
            sub.choices[name].epilog = SERVICE_EPILOG
    return parser


def _describe_from_help(parser: argparse.ArgumentParser) -> None:
    """A subcommand registered without a description shows its one-line help atop its own
    ``--help`` (recursively: `harness dataset synth --help` too)."""
    helps = command_helps(parser)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                if child.description is None and helps.get(name):
                    child.description = helps[name][:1].upper() + helps[name][1:] + "."
                _describe_from_help(child)


def configure_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Request-by-request client logs drown what the harness says.
    for noisy in ("httpx", "httpcore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
