"""The optional local-llm service: declared only when installed (or asked for), on loopback."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from foundation.layout import Layout
from foundation.settings import StackSettings
from harness.cli import build_parser
from harness.stack import local_llm
from harness.stack.service import Service


def install(layout: Layout) -> Path:
    path = local_llm.manifest_path(layout)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"python": "/x/llm-venv/bin/python", "model_path": "/x/m.gguf",
                                "llama_cpp_python": "0.3.36", "build_s": 900}))
    return path


def test_not_declared_until_installed(tmp_path: Path):
    settings, layout = StackSettings(home=tmp_path), Layout(tmp_path)
    assert local_llm.services(settings, layout) == []
    with pytest.raises(local_llm.NotInstalled, match="make local-llm"):
        local_llm.services(StackSettings(home=tmp_path, local_llm=True), layout)


def test_declared_when_installed_on_the_settings_port(tmp_path: Path):
    layout = Layout(tmp_path)
    install(layout)
    settings = StackSettings(home=tmp_path, local_llm_port=18088)
    (service,) = local_llm.services(settings, layout)
    assert service.name == "local-llm" and service.phase == 0 and service.group == "infra"
    assert service.command[:3] == ["/x/llm-venv/bin/python", "-m", "llama_cpp.server"]
    args = dict(zip(service.command[3::2], service.command[4::2], strict=True))
    assert args["--model"] == "/x/m.gguf"
    assert args["--host"] == "127.0.0.1" and args["--port"] == "18088"
    assert service.url == local_llm.base_url(settings) == "http://127.0.0.1:18088/v1"
    assert local_llm.Manifest.read(local_llm.manifest_path(layout)).build_s == 900
    assert local_llm.services(StackSettings(home=tmp_path, local_llm=False), layout) == []


def test_the_probe_asks_for_the_models(tmp_path: Path):
    layout = Layout(tmp_path)
    install(layout)
    with socket.socket() as sock:  # a free port, closed again: the probe is refused at once
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    (service,) = local_llm.services(StackSettings(home=tmp_path, local_llm_port=port), layout)
    result = service.probe()
    assert not result.ok
    assert f"http://127.0.0.1:{port}/v1/models" in result.detail


def test_calibrate_command_parses():
    args = build_parser().parse_args(["calibrate", "--base-url", "http://127.0.0.1:8088/v1",
                                      "--model", "m", "--burst", "8"])
    assert callable(args.func) and args.burst == 8 and args.repeats == 6
    with pytest.raises(SystemExit):
        build_parser().parse_args(["calibrate", "--base-url", "u", "--repeats", "0"])


def test_the_workers_may_name_the_local_llm(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("HARNESS_LLM_ALLOWED_BASE_URLS", "https://api.example.com/v1")
    settings, layout = StackSettings(home=tmp_path), Layout(tmp_path)
    worker = Service(name="worker-0", command=["w"], url="u", probe=lambda: None, phase=3,
                     env={"HARNESS_DB_DSN": "x"})
    relay = Service(name="retry-relay", command=["r"], url="u", probe=lambda: None, phase=3)
    local_llm.allow_for_workers([worker, relay], settings)  # not installed: nothing changes
    assert "HARNESS_LLM_ALLOWED_BASE_URLS" not in worker.env
    install(layout)
    services = [*local_llm.services(settings, layout), worker, relay]
    local_llm.allow_for_workers(services, settings)
    assert worker.env == {"HARNESS_DB_DSN": "x", "HARNESS_LLM_ALLOWED_BASE_URLS":
                          "https://api.example.com/v1,http://127.0.0.1:8088/v1"}
    assert relay.env == {}
