"""The stack's Airflow log server answers Airflow's own log client as Airflow's server would: the
file for a token signed with ``[api] secret_key`` naming it, 403 for any token problem, 404 for a
missing file or one outside the log folder (the API server then reads its local copy)."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest

from harness.stack import airflow_logs

SECRET = "unit-test-secret-" * 4  # 68 bytes: PyJWT warns below 64 for HS512
# An Airflow run id as it appears in a log path: colons, a plus, a space.
RELATIVE = "dag_id=experiment/run_id=manual__2026-12-02T12:00:00+00:00 x/task_id=run/attempt=1.log"


@pytest.fixture
def log_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "logs"
    (folder / RELATIVE).parent.mkdir(parents=True)
    (folder / RELATIVE).write_text("line one\nline two\n")
    (tmp_path / "secret.txt").write_text("not a log")
    return folder


@pytest.fixture
def base_url(log_folder: Path) -> Iterator[str]:
    server = airflow_logs.serve("127.0.0.1", 0, airflow_logs.LogFiles(log_folder, SECRET))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _token(filename: str, *, secret: str = SECRET, audience: str = "task-instance-logs",
           age_s: float = 0.0, valid_s: float = 30.0) -> str:
    now = time.time() - age_s
    claims = {"filename": filename, "aud": audience, "iat": now, "nbf": now, "exp": now + valid_s}
    return jwt.encode(claims, secret, algorithm="HS512")


def _get(url: str, token: str | None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": token} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _log_url(base_url: str, relative: str) -> str:
    return f"{base_url}/log/{urllib.request.quote(relative)}"


@pytest.mark.unit
def test_airflow_s_own_client_reads_a_log(base_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The API server's fetch (its JWT generator, its URL joining) gets the file."""
    monkeypatch.setenv("AIRFLOW__API__SECRET_KEY", SECRET)
    from airflow.utils.log.file_task_handler import _fetch_logs_from_service

    response = _fetch_logs_from_service(f"{base_url}/log/{RELATIVE}", RELATIVE)
    assert response.status_code == 200
    assert response.text == "line one\nline two\n"
    assert int(response.headers["Content-Length"]) == len("line one\nline two\n")


@pytest.mark.unit
def test_airflow_s_client_with_another_secret_is_refused(
    base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__API__SECRET_KEY", "another-secret-" * 5)
    from airflow.utils.log.file_task_handler import _fetch_logs_from_service

    assert _fetch_logs_from_service(f"{base_url}/log/{RELATIVE}", RELATIVE).status_code == 403


@pytest.mark.unit
@pytest.mark.parametrize("token", [
    None,
    "not-a-jwt",
    _token(RELATIVE, secret="wrong-secret-" * 6),
    _token(RELATIVE, audience="someone-else"),
    _token(RELATIVE, age_s=120),  # expired beyond the 30 s grace
    _token("dag_id=other/attempt=1.log"),  # a token for another file
    jwt.encode({"filename": RELATIVE, "aud": "task-instance-logs"}, SECRET, algorithm="HS512"),
], ids=["missing", "garbage", "wrong-secret", "wrong-audience", "expired", "other-file",
        "no-time-claims"])
def test_token_problems_are_forbidden(base_url: str, token: str | None) -> None:
    status, body = _get(_log_url(base_url, RELATIVE), token)
    assert status == 403
    assert b"line one" not in body


@pytest.mark.unit
def test_a_token_within_the_clock_grace_is_accepted(base_url: str) -> None:
    status, body = _get(_log_url(base_url, RELATIVE), _token(RELATIVE, age_s=40, valid_s=30))
    assert (status, body) == (200, b"line one\nline two\n")


@pytest.mark.unit
@pytest.mark.parametrize("relative", ["../secret.txt", "dag_id=experiment/../../secret.txt",
                                      "missing.log", ""])
def test_files_outside_the_folder_or_missing_are_not_found(base_url: str, relative: str) -> None:
    status, body = _get(f"{base_url}/log/{relative}", _token(relative))
    assert status == 404
    assert b"not a log" not in body


@pytest.mark.unit
def test_a_symlink_out_of_the_folder_is_not_followed(base_url: str, log_folder: Path) -> None:
    (log_folder / "escape.log").symlink_to(log_folder.parent / "secret.txt")
    assert _get(f"{base_url}/log/escape.log", _token("escape.log"))[0] == 404


@pytest.mark.unit
def test_health_and_other_paths(base_url: str) -> None:
    assert _get(f"{base_url}/health", None) == (200, b'{"status": "ok"}')
    assert _get(f"{base_url}/elsewhere", None)[0] == 404


@pytest.mark.unit
def test_the_secret_comes_from_the_environment_not_the_command_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(airflow_logs.SECRET_VAR, raising=False)
    with pytest.raises(SystemExit):
        airflow_logs.main(["--host", "127.0.0.1", "--port", "0", "--log-folder", str(tmp_path)])
