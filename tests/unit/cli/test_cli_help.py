"""`harness --help` and every `harness COMMAND --help`: grouped, and nothing undocumented."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from harness import cli


def _walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[
        tuple[tuple[str, ...], argparse.ArgumentParser, str]]:
    """(command path, its parser, its one-line help) for every subcommand, nested ones too."""
    helps = cli.command_helps(parser)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield (*path, name), child, helps.get(name, "")
                yield from _walk(child, (*path, name))


def _commands() -> list[tuple[tuple[str, ...], argparse.ArgumentParser, str]]:
    return list(_walk(cli.build_parser()))


def test_the_walk_finds_every_command_and_the_nested_ones():
    paths = {" ".join(path) for path, _, _ in _commands()}
    assert {"up", "status", "trigger", "run", "worker", "sim", "dataset synth",
            "flink submit", "topics ensure"} <= paths


@pytest.mark.parametrize("path, parser, help_text", _commands(),
                         ids=lambda value: " ".join(value) if isinstance(value, tuple) else "")
def test_every_command_and_every_argument_has_a_help_text(path, parser, help_text):
    assert help_text.strip(), f"`harness {' '.join(path)}` has no help text"
    assert parser.description, f"`harness {' '.join(path)} --help` has no description"
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        name = "/".join(action.option_strings) or action.dest
        assert action.help and action.help != argparse.SUPPRESS and action.help.strip(), (
            f"`harness {' '.join(path)}`: argument {name} has no help")


def test_help_lists_user_commands_first_and_services_in_their_own_group(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    users, services = out.index("\ncommands:"), out.index("\nservices (")
    assert users < out.index("\noptions:")
    assert users < services
    for command in ("up", "status", "trigger", "run", "audit", "compare"):
        assert out.index(f"\n  {command} ") < services, command
    for service in ("worker", "relay", "storage", "events-sink", "sim"):
        assert out.index(f"\n  {service} ") > services, service


def test_a_command_no_group_names_is_listed_under_other_commands():
    grouped = dict(cli.grouped_commands(["up", "worker", "brand-new"]))
    assert grouped == {"commands": ["up"], cli.OTHER_GROUP: ["brand-new"],
                       next(t for t in grouped if t.startswith("services")): ["worker"]}


def test_the_grouped_list_names_every_registered_command():
    parser = cli.build_parser()
    listed = [name for _, members in cli.grouped_commands(list(cli.command_helps(parser)))
              for name in members]
    assert sorted(listed) == sorted(cli.command_helps(parser))


def test_a_command_s_usage_names_it_after_harness_and_services_say_what_they_are():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert sub.choices["trigger"].format_usage().startswith("usage: harness trigger ")
    for service in cli.SERVICES:
        assert "`harness up` starts it" in sub.choices[service].format_help()
