"""Healthcheck of the Airflow containers, from the API server's /api/v2/monitor/health (what the
local stack probes, harness.stack.probes.airflow): `health.py api-server` (it answers and the
metadata database is healthy) or `health.py scheduler | triggerer | dag-processor` (that
component's heartbeat is recent). Exit 0 when healthy."""

import json
import sys
import urllib.request

COMPONENTS = {"api-server": "metadatabase", "scheduler": "scheduler", "triggerer": "triggerer",
              "dag-processor": "dag_processor"}


def main(role: str) -> int:
    host = "127.0.0.1" if role == "api-server" else "airflow-api-server"
    with urllib.request.urlopen(f"http://{host}:8080/api/v2/monitor/health", timeout=5) as response:
        health = json.loads(response.read().decode())
    status = (health.get(COMPONENTS[role]) or {}).get("status")
    print(f"{COMPONENTS[role]}: {status}")
    return 0 if status == "healthy" else 1


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "api-server"))
    except Exception as exc:  # noqa: BLE001 - any failure is "unhealthy"
        print(f"unhealthy: {exc}")
        sys.exit(1)
