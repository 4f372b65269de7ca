#!/usr/bin/env bash
# `make compose-test`: the compose deployment end to end. Build the images, start everything
# (`up -d` returns once every service is healthy), run the demo experiment through Airflow
# (`harness trigger` in the scheduler's container: the DAG, its live progress, the summary),
# check the report and the audit, then `down -v`. Prints the figures: build time, up to
# healthy, the experiment's wall time, image sizes.
#
# Its own project name, ports (2xxxx) and report folder, so that it runs beside a deployment
# started by `make compose-up` and beside the local stack. Not part of CI (docs/compose.md).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export COMPOSE_PROJECT_NAME="${COMPOSE_PROJECT_NAME:-harness-compose-test}"
export HARNESS_COMPOSE_PG_PORT="${HARNESS_COMPOSE_PG_PORT:-25432}"
export HARNESS_COMPOSE_KAFKA_PORT="${HARNESS_COMPOSE_KAFKA_PORT:-29092}"
export HARNESS_COMPOSE_FLINK_PORT="${HARNESS_COMPOSE_FLINK_PORT:-28081}"
export HARNESS_COMPOSE_AIRFLOW_PORT="${HARNESS_COMPOSE_AIRFLOW_PORT:-28080}"
export HARNESS_COMPOSE_SIM_PORT="${HARNESS_COMPOSE_SIM_PORT:-28000}"
export HARNESS_COMPOSE_STORAGE_HEALTH_PORT="${HARNESS_COMPOSE_STORAGE_HEALTH_PORT:-28091}"
export HARNESS_COMPOSE_EVENT_SINK_HEALTH_PORT="${HARNESS_COMPOSE_EVENT_SINK_HEALTH_PORT:-28092}"
export HARNESS_COMPOSE_RELAY_HEALTH_PORT="${HARNESS_COMPOSE_RELAY_HEALTH_PORT:-28093}"
out="${HARNESS_COMPOSE_TEST_DIR:-$PWD/.state/compose-test}"
export HARNESS_COMPOSE_REPORTS="${HARNESS_COMPOSE_REPORTS:-$out/reports}"
export HARNESS_COMPOSE_CLI_ENV="$out/harness.env"  # the host CLI's settings for this deployment
mkdir -p "$out" "$HARNESS_COMPOSE_REPORTS"
SPEC="${HARNESS_COMPOSE_TEST_SPEC:-experiments/specs/demo.yaml}"
KEEP="${HARNESS_COMPOSE_TEST_KEEP:-0}"  # 1: leave the deployment up afterwards
# 1: scaled out (docker-compose.scale.yml: 3 workers, 2 TaskManagers, job parallelism 2), and
# checked: both TaskManagers hold slots of the job, every worker answered questions of the run
SCALE="${HARNESS_COMPOSE_TEST_SCALE:-0}"
if [ "$SCALE" = 1 ]; then
  export COMPOSE_FILE="docker-compose.yml:docker-compose.scale.yml"
fi
compose() { bash docker/compose.sh "$@"; }
log() { printf '[compose-test %(%H:%M:%S)T] %s\n' -1 "$*"; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", b - a}'; }

finish() {
  code=$?
  if [ "$code" != 0 ]; then
    log "FAILED (exit $code); logs of every service in $out/logs.txt"
    compose logs --no-color >"$out/logs.txt" 2>&1 || true
    compose ps || true
  fi
  if [ "$KEEP" != 1 ]; then
    log "down -v"
    compose down -v --remove-orphans >/dev/null 2>&1 || true
  fi
  exit "$code"
}
trap finish EXIT

python3 docker/compose-env.py
t0=$(now)
log "build"
compose build
t1=$(now)
log "up (returns once every service is healthy and the scoring job runs)"
compose up -d
t2=$(now)
compose ps
log "harness status inside the deployment (every service probed where it answers)"
compose exec -T airflow-scheduler harness status | tee "$out/status.txt"
if [ -x .state/venv/bin/harness ]; then
  # the published health ports; the workers through their consumer group (exit 3: one unhealthy)
  log "harness status on the host, against the deployment ($HARNESS_COMPOSE_CLI_ENV)"
  (set -a; . "$HARNESS_COMPOSE_CLI_ENV"; set +a; exec .state/venv/bin/harness status) \
    | tee "$out/host-status.txt"
else
  log "no .state/venv on this host (make bootstrap): harness status on the host skipped"
fi

log "the demo experiment through Airflow: harness trigger $SPEC"
set +e
compose exec -T airflow-scheduler harness trigger "$SPEC" --timeout 1200 | tee "$out/trigger.txt"
trigger_code=${PIPESTATUS[0]}
set -e
t3=$(now)
label=$(sed -n 's/^triggered experiment run \([^:]*\):.*/\1/p' "$out/trigger.txt" | head -n 1)
[ -n "$label" ] || { log "no run triggered"; exit 1; }
[ "$trigger_code" = 0 ] || { log "the run did not pass (harness trigger exit $trigger_code)"; exit 1; }

report="$HARNESS_COMPOSE_REPORTS/$label"
for file in index.html metrics.json; do
  [ -s "$report/$file" ] || { log "missing $report/$file"; exit 1; }
done
log "report: $report/index.html"
set +e
compose exec -T airflow-scheduler harness audit "$label" | tee "$out/audit.txt"
audit_code=${PIPESTATUS[0]}
set -e
[ "$audit_code" = 0 ] || { log "the audit is not clean (exit $audit_code)"; exit 1; }

if [ "$SCALE" = 1 ]; then
  log "scaled out: the TaskManagers (slots used / slots) and the questions each worker answered"
  compose exec -T airflow-scheduler python - <<'PY' | tee "$out/taskmanagers.txt"
import json, sys, urllib.request
managers = json.load(urllib.request.urlopen("http://flink-jobmanager:8081/taskmanagers"))["taskmanagers"]
for tm in managers:
    used = tm["slotsNumber"] - tm["freeSlots"]
    print("taskmanager", tm["id"], used, "/", tm["slotsNumber"], "slots used")
busy = sum(1 for tm in managers if tm["slotsNumber"] > tm["freeSlots"])
sys.exit(0 if len(managers) >= 2 and busy >= 2 else 1)
PY
  # the report's Workers section (metrics.json `workers`): questions each worker answered
  if ! python3 - "$report/metrics.json" <<'PY' | tee "$out/workers.txt"; then
import json, sys
workers = json.load(open(sys.argv[1])).get("workers", [])
for w in workers:
    print(f"worker {w['label']} ({w['worker']}): {w['questions_answered']} questions answered, "
          f"{w['attempts']} LLM calls")
sys.exit(0 if sum(1 for w in workers if w["worker"] and w["questions_answered"]) >= 3 else 1)
PY
    log "fewer than 3 workers answered questions of the run (the report's workers section)"
    exit 1
  fi
fi

log "figures"
{
  echo "build:            $(secs "$t0" "$t1") s"
  echo "up to healthy:    $(secs "$t1" "$t2") s"
  echo "demo experiment:  $(secs "$t2" "$t3") s (trigger to summary, $SPEC)"
} | tee "$out/figures.txt"
log "compose-test passed"
