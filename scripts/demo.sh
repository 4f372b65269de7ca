#!/usr/bin/env bash
# `make demo`: bring the stack up, run the demo through Airflow, print where to look.
set -euo pipefail
cd "$(dirname "$0")/.."
HARNESS=.state/venv/bin/harness
$HARNESS up
$HARNESS demo
