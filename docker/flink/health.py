"""Healthcheck of the Flink containers: `health.py jobmanager` (its REST API answers) or
`health.py taskmanager` (the JobManager lists this TaskManager). Exit 0 when healthy."""

import json
import os
import socket
import sys
import urllib.request

REST = os.environ.get("HARNESS_EXTERNAL_FLINK_URL", "http://flink-jobmanager:8081")


def get(url: str) -> object:
    with urllib.request.urlopen(url, timeout=3) as response:
        return json.loads(response.read().decode())


def main(role: str) -> int:
    if role == "jobmanager":
        get("http://127.0.0.1:8081/config")
        return 0
    address = socket.gethostbyname(socket.gethostname())
    managers = get(f"{REST}/taskmanagers")["taskmanagers"]  # type: ignore[index]
    return 0 if any(address in str(tm.get("path", "")) + str(tm.get("id", "")) for tm in managers) else 1


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "jobmanager"))
    except Exception as exc:  # noqa: BLE001 - any failure is "unhealthy"
        print(f"unhealthy: {exc}")
        sys.exit(1)
