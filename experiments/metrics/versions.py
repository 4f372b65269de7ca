"""Reading metrics.json of any version this code understands, or refusing it clearly.

- ``schema_version`` "1.3" (current) is validated as is; its optional ``pacing_lag`` (added
  within 1.3, before 1.3 was released) is None in a file written without it.
- "1.2" is upgraded by adding the ``workers`` section (empty: no worker was recorded before 1.3);
  its ``pacing_lag`` is unknown (None).
- "1.1" is upgraded by adding the ``faults`` section (empty: no fault was recorded before 1.2),
  then as 1.2.
- "1.0" (and a file without ``schema_version``, read as 1.0) is upgraded first: it had no
  ``outcome`` section and kept ``stopped_early`` in ``run``; the upgrade moves it to
  ``outcome.stopped_early`` and marks the run ``finished`` (1.0 did not record failures), with
  the in-flight count at collection unknown.
- Any other version (another major, or a newer minor) is refused, naming the file and the version.

Every refusal is a :class:`MetricsSchemaError` whose message starts with the file.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from experiments.metrics.schema import SCHEMA_VERSION, RunMetrics

#: how many validation errors a refusal lists
_SHOWN_ERRORS = 5


class MetricsSchemaError(ValueError):
    """metrics.json is missing, unreadable, or of a version or shape this code does not read."""


def _upgrade_1_0(data: dict[str, Any]) -> dict[str, Any]:
    """1.0 -> 1.1: ``run.stopped_early`` moves into the new ``outcome`` section."""
    out = dict(data)
    run = dict(out.get("run") or {})
    stopped_early = run.pop("stopped_early", None)
    out["run"] = run
    out["outcome"] = {"status": "finished", "stopped_early": stopped_early}
    out["schema_version"] = "1.1"
    return out


def _upgrade_1_1(data: dict[str, Any]) -> dict[str, Any]:
    """1.1 -> 1.2: the ``faults`` section (no fault recorded)."""
    return {**data, "faults": list(data.get("faults") or []), "schema_version": "1.2"}


def _upgrade_1_2(data: dict[str, Any]) -> dict[str, Any]:
    """1.2 -> 1.3: the ``workers`` section (no worker recorded)."""
    return {**data, "workers": list(data.get("workers") or []), "schema_version": "1.3"}


#: version -> the step that upgrades it to the next one, up to :data:`SCHEMA_VERSION`.
_UPGRADES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "1.0": _upgrade_1_0,
    "1.1": _upgrade_1_1,
    "1.2": _upgrade_1_2,
}


def _errors(exc: ValidationError) -> str:
    parts = [
        f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
        for err in exc.errors()[:_SHOWN_ERRORS]
    ]
    more = exc.error_count() - _SHOWN_ERRORS
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def parse_metrics(data: Any, source: str) -> RunMetrics:
    """``data`` (metrics.json's decoded content) as :class:`RunMetrics`, upgraded from an older
    version when needed. ``source`` names the file in error messages."""
    if not isinstance(data, dict):
        raise MetricsSchemaError(f"{source}: not a JSON object")
    declared = data.get("schema_version")
    version = "1.0" if declared is None else str(declared)
    label = "no schema_version (read as 1.0)" if declared is None else f"schema_version {version!r}"
    if version != SCHEMA_VERSION and version not in _UPGRADES:
        raise MetricsSchemaError(
            f"{source}: {label}; this code reads 1.0 to {SCHEMA_VERSION}. "
            "Re-compute it from the run's run.json with this code."
        )
    current = data
    while current.get("schema_version", "1.0") != SCHEMA_VERSION:
        current = _UPGRADES[str(current.get("schema_version", "1.0"))](current)
    try:
        return RunMetrics.model_validate(current)
    except ValidationError as exc:
        raise MetricsSchemaError(
            f"{source}: {label} does not match the metrics model: {_errors(exc)}"
        ) from exc
