"""Published JSON schemas of the message contract, generated from the pydantic models in
:mod:`pipeline.messages`. Regenerate after changing a model::

    python -m pipeline.schemas          # rewrite the files
    python -m pipeline.schemas --check  # exit 1 if a file is out of date

A unit test fails while a checked-in file differs from its model.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline.messages import dead_letter_json_schema, envelope_json_schema, event_json_schema

__all__ = [
    "SCHEMAS",
    "SCHEMA_DIR",
    "load_schema",
    "render_schema",
    "stale_schemas",
    "write_schemas",
]

SCHEMA_DIR = Path(__file__).parent

# file name -> the function that builds its content
SCHEMAS: dict[str, Callable[[], dict[str, Any]]] = {
    "envelope.schema.json": envelope_json_schema,
    "event.schema.json": event_json_schema,
    "dead_letter.schema.json": dead_letter_json_schema,
}


def render_schema(file_name: str) -> str:
    """The exact text the checked-in file must hold."""
    return json.dumps(SCHEMAS[file_name](), indent=2, sort_keys=True) + "\n"


def load_schema(file_name: str = "envelope.schema.json") -> dict[str, Any]:
    """A checked-in schema, parsed."""
    return json.loads((SCHEMA_DIR / file_name).read_text(encoding="utf-8"))


def stale_schemas(directory: Path = SCHEMA_DIR) -> list[str]:
    """File names whose content differs from what the models generate."""
    stale = []
    for name in SCHEMAS:
        path = directory / name
        if not path.exists() or path.read_text(encoding="utf-8") != render_schema(name):
            stale.append(name)
    return stale


def write_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    """(Re)write every schema file; returns the paths written."""
    written = []
    for name in SCHEMAS:
        path = directory / name
        path.write_text(render_schema(name), encoding="utf-8")
        written.append(path)
    return written
