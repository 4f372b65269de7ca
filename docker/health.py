"""Healthcheck of a container: GET a URL, healthy (exit 0) on a 2xx answer.
`health.py URL` (the pipeline services' /health, Airflow's API server)."""

import sys
import urllib.request

try:
    with urllib.request.urlopen(sys.argv[1], timeout=3) as response:
        sys.exit(0 if 200 <= response.status < 300 else 1)
except Exception as exc:  # noqa: BLE001 - any failure is "unhealthy"
    print(f"unhealthy: {exc}")
    sys.exit(1)
