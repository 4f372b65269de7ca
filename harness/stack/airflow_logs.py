"""Airflow's task-log server, bound to the stack's interface, without Airflow in memory.

Airflow's scheduler and triggerer each fork an ``airflow serve-logs`` that listens on all interfaces
(8793 and 8794; Airflow 3.3 has no setting for its address). The stack starts them with
``--skip-serve-logs`` and runs this one server instead, supervised as ``airflow-log-server``, for
both the worker and the triggerer log ports (the stack sets both to one port), on `bind_host`.

It speaks Airflow's protocol (``airflow.utils.serve_logs.log_server``): ``GET /log/<relative
path>`` with an ``Authorization`` header holding a JWT that the API server signed with ``[api]
secret_key`` (HS512, audience ``task-instance-logs``, ``exp``/``iat``/``nbf`` required, ``[webserver]
log_request_clock_grace`` seconds of leeway) whose ``filename`` claim is that relative path; the
file is served from ``[logging] base_log_folder``, never from outside it. Airflow's own server
(FastAPI, with ``import airflow``) held 147 MB RSS; this one, the standard library and PyJWT,
about 35 MB.

The API server fetches a running task's log from ``http://<task's hostname>:<port>/log/...``, so
the stack's Airflow reports ``HARNESS_AIRFLOW_HOSTNAME`` (the stack's `host`) as its hostname
(``[core] hostname_callable`` = :func:`hostname`) instead of the machine's name, which need not
resolve to the interface the server listens on.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import jwt

HOSTNAME_VAR = "HARNESS_AIRFLOW_HOSTNAME"
HOSTNAME_CALLABLE = "harness.stack.airflow_logs.hostname"
SECRET_VAR = "AIRFLOW__API__SECRET_KEY"
GRACE_VAR = "AIRFLOW__WEBSERVER__LOG_REQUEST_CLOCK_GRACE"
AUDIENCE = "task-instance-logs"
PREFIX = "/log/"

log = logging.getLogger(__name__)


def hostname() -> str:
    """Airflow's ``[core] hostname_callable`` for the stack's components and tasks."""
    return os.environ.get(HOSTNAME_VAR) or "127.0.0.1"


class Refused(Exception):
    """A request the server answers with an error status (the message goes to the log only)."""

    def __init__(self, status: HTTPStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class LogFiles:
    """Which file a log request may read: the token's checks and the folder's bounds."""

    folder: Path
    secret: str
    leeway_s: int = 30

    def resolve(self, url_path: str, authorization: str | None) -> Path:
        """The file for ``GET <url_path>``; raises :class:`Refused` (403 for any token problem,
        404 for a path outside the folder or a missing file)."""
        path = unquote(urlsplit(url_path).path)
        if not path.startswith(PREFIX):
            raise Refused(HTTPStatus.NOT_FOUND, f"not a log path: {path!r}")
        relative = path[len(PREFIX):]
        if not authorization:
            raise Refused(HTTPStatus.FORBIDDEN, "the Authorization header is missing")
        try:
            claims = jwt.decode(authorization, self.secret, algorithms=["HS512"], audience=AUDIENCE,
                                leeway=self.leeway_s, options={"require": ["exp", "iat", "nbf"]})
        except jwt.InvalidTokenError as exc:
            raise Refused(HTTPStatus.FORBIDDEN, f"invalid token: {exc}") from None
        if claims.get("filename") != relative:
            raise Refused(HTTPStatus.FORBIDDEN, f"the token is for {claims.get('filename')!r}, "
                          f"the request for {relative!r}")
        folder = self.folder.resolve()
        target = (folder / relative).resolve()
        if not target.is_relative_to(folder) or target == folder:
            raise Refused(HTTPStatus.NOT_FOUND, f"outside the log folder: {relative!r}")
        if not target.is_file():
            raise Refused(HTTPStatus.NOT_FOUND, f"no such log: {relative!r}")
        return target


class LogRequestHandler(BaseHTTPRequestHandler):
    """``GET /health`` and ``GET /log/<relative path>``; nothing else."""

    files: LogFiles  # set on the subclass that serve() builds
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if urlsplit(self.path).path == "/health":
            self._send(HTTPStatus.OK, json.dumps({"status": "ok"}).encode(), "application/json")
            return
        try:
            target = self.files.resolve(self.path, self.headers.get("Authorization"))
        except Refused as refused:
            log.warning("refused %s: %s", self.path, refused)
            body = json.dumps({"detail": refused.status.phrase}).encode()
            self._send(refused.status, body, "application/json")
            return
        with target.open("rb") as source:
            size = os.fstat(source.fileno()).st_size
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            left = size  # a log still being written must not outrun its Content-Length
            while left > 0 and (chunk := source.read(min(1 << 16, left))):
                self.wfile.write(chunk)
                left -= len(chunk)

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s " + format, self.address_string(), *args)


def serve(host: str, port: int, files: LogFiles) -> ThreadingHTTPServer:
    """A server (not yet serving: call ``serve_forever``) for ``files`` on ``host:port``."""
    handler = type("BoundLogRequestHandler", (LogRequestHandler,), {"files": files})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", required=True, help="interface to listen on")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log-folder", type=Path, required=True,
                        help="Airflow's [logging] base_log_folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    secret = os.environ.get(SECRET_VAR)
    if not secret:
        parser.error(f"{SECRET_VAR} is not set (the API server's [api] secret_key signs the tokens)")
    files = LogFiles(args.log_folder, secret, int(os.environ.get(GRACE_VAR) or 30))
    server = serve(args.host, args.port, files)
    log.info("Airflow log server on %s:%d serving %s", args.host, args.port, args.log_folder)
    server.serve_forever()


if __name__ == "__main__":
    main()
