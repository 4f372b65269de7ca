#!/usr/bin/env bash
# Pins the images to the local stack's versions: writes services.txt (from .state/venv: the
# pipeline and Airflow images) and flink.txt (from .state/flink-venv: the Flink image), the
# constraints (-c) of their `uv pip install`. Run after a `make bootstrap` that changed versions.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
ROOT="$(cd .. && cd .. && pwd)"
STATE="${HARNESS_HOME:-$ROOT/.state}"
for pair in venv:services flink-venv:flink; do
  venv=${pair%%:*}
  name=${pair##*:}
  {
    echo "# Versions of the local stack's .state/$venv (make bootstrap), the images' constraints:"
    echo "# regenerate with docker/constraints/freeze.sh after a bootstrap that changed them."
    "$STATE/$venv/bin/python" - <<'PY'
import importlib.metadata as metadata

versions = {}
for dist in metadata.distributions():
    name = (dist.metadata["Name"] or "").lower().replace("_", "-")
    if name and name != "llm-pipeline-harness":
        versions[name] = dist.version
for name in sorted(versions):
    print(f"{name}=={versions[name]}")
PY
  } >"$name.txt"
  echo "$name.txt: $(grep -vc '^#' "$name.txt") pins from $STATE/$venv"
done
