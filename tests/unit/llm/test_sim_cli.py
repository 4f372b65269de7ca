"""`harness sim` registers its options with the settings' defaults and lists the profiles."""

from __future__ import annotations

import argparse

import pytest

from harness.commands import sim as sim_command
from pipeline.llm.sim import NAMED_PROFILES


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="harness")
    sim_command.register(root.add_subparsers(dest="command"))
    return root


def test_defaults_come_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    args = parser().parse_args(["sim"])
    assert (args.host, args.port, args.profile) == ("127.0.0.1", 8000, "healthy")
    monkeypatch.setenv("HARNESS_SIM_PORT", "8123")
    monkeypatch.setenv("HARNESS_SIM_PROFILE", "flaky")
    args = parser().parse_args(["sim"])
    assert (args.port, args.profile) == (8123, "flaky")
    assert args.func is sim_command.run_from_args


def test_list_profiles(capsys: pytest.CaptureFixture[str]) -> None:
    args = parser().parse_args(["sim", "--list-profiles"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in NAMED_PROFILES)
