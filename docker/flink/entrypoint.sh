#!/bin/bash
# jobmanager | taskmanager | submit | any command.
# The Flink configuration is the local stack's (harness.stack.configs.flink_conf, from the
# HARNESS_* settings: HARNESS_HOST is the JobManager's name on the network, HARNESS_BIND_HOST
# 0.0.0.0); a TaskManager advertises its own address. `submit` submits the scoring job once the
# cluster has a TaskManager (docker/flink/submit_job.py).
set -euo pipefail
py=/opt/harness/.state/flink-venv/bin/python
"$py" -c 'from foundation.settings import get_settings
from foundation.layout import Layout
from harness.stack import configs
settings = get_settings()
configs.flink_conf(settings, Layout.of(settings))'
case "${1:-jobmanager}" in
  jobmanager)
    shift || true
    # slots spread over the TaskManagers (a job of parallelism 2 uses two of them)
    exec bash "$FLINK_HOME/bin/jobmanager.sh" start-foreground \
      -D taskmanager.load-balance.mode=SLOTS "$@" ;;
  taskmanager)
    shift
    address=$("$py" -c 'import socket; print(socket.gethostbyname(socket.gethostname()))')
    exec bash "$FLINK_HOME/bin/taskmanager.sh" start-foreground -D taskmanager.host="$address" "$@" ;;
  submit)
    shift
    exec "$py" /opt/harness/docker/flink/submit_job.py "$@" ;;
  *)
    exec "$@" ;;
esac
