"""Airflow's task-log server, bound to the stack's interface.

Airflow's scheduler and triggerer each fork an ``airflow serve-logs`` that listens on all interfaces
(8793 and 8794; Airflow 3.3 has no setting for its address). The stack starts them with
``--skip-serve-logs`` and runs this one server instead, supervised as ``airflow-log-server``: the
same application (Airflow's, JWT-checked, serving ``[logging] base_log_folder``), on `bind_host`,
for both the worker and the triggerer log ports (the stack sets both to one port).

The API server fetches a running task's log from ``http://<task's hostname>:<port>/log/...``, so
the stack's Airflow reports ``HARNESS_AIRFLOW_HOSTNAME`` (the stack's `host`) as its hostname
(``[core] hostname_callable`` = :func:`hostname`) instead of the machine's name, which need not
resolve to the interface the server listens on.
"""

from __future__ import annotations

import argparse
import logging
import os

HOSTNAME_VAR = "HARNESS_AIRFLOW_HOSTNAME"
HOSTNAME_CALLABLE = "harness.stack.airflow_logs.hostname"

log = logging.getLogger(__name__)


def hostname() -> str:
    """Airflow's ``[core] hostname_callable`` for the stack's components and tasks."""
    return os.environ.get(HOSTNAME_VAR) or "127.0.0.1"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", required=True, help="interface to listen on")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)

    import uvicorn
    from airflow.utils.serve_logs.log_server import get_app

    app = get_app()
    app.add_api_route("/health", lambda: {"status": "ok"}, methods=["GET"])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    log.info("Airflow log server on %s:%d", args.host, args.port)
    uvicorn.run(app, host=args.host, port=args.port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
