"""The optional ``local-llm`` service: a llama.cpp server with a small open model, installed by
``make local-llm`` (scripts/local_llm.sh) into ``<home>/llm-venv``, described by
``<home>/local-llm/manifest.json``.

`harness up` runs it when the manifest is there (or ``HARNESS_LOCAL_LLM=true``; ``false`` never),
on ``bind_host:local_llm_port``, probed on ``GET /v1/models``. It needs no API key, but a worker
dead-letters a record naming a base URL outside its allowlist, so while the service is declared the
workers' ``HARNESS_LLM_ALLOWED_BASE_URLS`` also lists its base URL (:func:`allow_for_workers`;
docs/local-llm.md#the-local-llm-service).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from foundation.layout import Layout
from foundation.settings import StackSettings
from harness.stack import probes
from harness.stack.service import Service

NAME = "local-llm"
#: the name the server answers to (any name reaches its one model)
MODEL_ALIAS = "smollm2-135m-instruct"


class NotInstalled(RuntimeError):
    """HARNESS_LOCAL_LLM=true but `make local-llm` has not run."""


@dataclass(frozen=True)
class Manifest:
    """What scripts/local_llm.sh installed."""

    python: str
    model_path: str
    llama_cpp_python: str = ""
    build_s: int = 0

    @classmethod
    def read(cls, path: Path) -> Manifest | None:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        return cls(python=data["python"], model_path=data["model_path"],
                   llama_cpp_python=data.get("llama_cpp_python", ""),
                   build_s=int(data.get("build_s", 0)))


def manifest_path(layout: Layout) -> Path:
    return layout.home / "local-llm" / "manifest.json"


def base_url(settings: StackSettings) -> str:
    """The OpenAI-compatible base URL of the local LLM (``harness calibrate --base-url``)."""
    return f"http://{settings.host}:{settings.local_llm_port}/v1"


def command(manifest: Manifest, settings: StackSettings) -> list[str]:
    """llama-cpp-python's OpenAI-compatible server on the manifest's model."""
    return [manifest.python, "-m", "llama_cpp.server", "--model", manifest.model_path,
            "--model_alias", MODEL_ALIAS, "--host", settings.bind_host,
            "--port", str(settings.local_llm_port), "--n_ctx", str(settings.local_llm_ctx)]


def services(settings: StackSettings, layout: Layout) -> list[Service]:
    """The ``local-llm`` service when it is installed and not turned off; nothing otherwise."""
    if settings.local_llm is False:
        return []
    manifest = Manifest.read(manifest_path(layout))
    if manifest is None:
        if settings.local_llm:
            raise NotInstalled("HARNESS_LOCAL_LLM=true but the local LLM is not installed: "
                               "run `make local-llm`")
        return []
    url = f"http://{settings.host}:{settings.local_llm_port}"
    return [Service(name=NAME, command=command(manifest, settings), url=f"{url}/v1",
                    probe=probes.http_ok(f"{url}/v1/models"), phase=0, stop_wait_s=10)]


def allow_for_workers(services: list[Service], settings: StackSettings) -> None:
    """Add the local LLM's base URL to the workers' ``HARNESS_LLM_ALLOWED_BASE_URLS`` (beside the
    ones configured), so that a spec naming it reaches it; nothing when it is not declared."""
    if not any(s.name == NAME for s in services):
        return
    from pipeline.llm.settings import LLMSettings  # the CLI imports this module at every start

    allowed = ",".join(dict.fromkeys([*LLMSettings().allowed_base_urls, base_url(settings)]))
    for service in services:
        if service.name.startswith("worker-"):
            service.env = {**service.env, "HARNESS_LLM_ALLOWED_BASE_URLS": allowed}
