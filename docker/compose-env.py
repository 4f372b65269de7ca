#!/usr/bin/env python3
"""`make compose-env`: the secrets of the compose deployment, generated once, never committed.

Writes (idempotent: a secret is made on first use and read back afterwards, by the same code as
the local stack's, harness.stack.secrets):

- ``<home>/secrets/<name>`` (mode 0600), home = HARNESS_COMPOSE_HOME or ``.state/compose``: the
  PostgreSQL superuser's, harness's and Airflow's database passwords, the Airflow admin password,
  Fernet key, API secret key and JWT secret;
- ``.env`` beside docker-compose.yml (mode 0600, ignored by git): the same as HARNESS_COMPOSE_*
  variables, which `docker compose` reads by itself and the compose file substitutes;
- ``<home>/harness.env`` (or HARNESS_COMPOSE_CLI_ENV): the settings under which the `harness`
  CLI on the host works against the deployment (``set -a; . .state/compose/harness.env; set +a; harness trigger SPEC``): the
  state folder ``<home>`` (its secrets: the Airflow password), the published ports
  (HARNESS_COMPOSE_*_PORT when this runs, else their defaults) as external services;
- ``docker/extra-ca/``: the CA certificates this host added (``/usr/local/share/ca-certificates``),
  which the images' build stages trust: behind a network that intercepts TLS, pip, uv and mvn in a
  build need them. Copied on every run (a fresh clone or worktree has none), on any host.

Standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.stack.secrets import get_or_create, write_private  # noqa: E402

#: secret name -> (variable in .env, kind)
SECRETS = {
    "pg_superuser_password": ("HARNESS_COMPOSE_PG_SUPERUSER_PASSWORD", "token"),
    "pg_harness_password": ("HARNESS_COMPOSE_PG_HARNESS_PASSWORD", "token"),
    "pg_airflow_password": ("HARNESS_COMPOSE_PG_AIRFLOW_PASSWORD", "token"),
    "airflow_admin_password": ("HARNESS_COMPOSE_AIRFLOW_ADMIN_PASSWORD", "token"),
    "airflow_fernet_key": ("HARNESS_COMPOSE_AIRFLOW_FERNET_KEY", "fernet"),
    "airflow_api_secret_key": ("HARNESS_COMPOSE_AIRFLOW_API_SECRET_KEY", "signing-key"),
    "airflow_jwt_secret": ("HARNESS_COMPOSE_AIRFLOW_JWT_SECRET", "signing-key"),
}

#: published port variables of docker-compose.yml and their defaults
PORTS = {
    "HARNESS_COMPOSE_PG_PORT": 5432,
    "HARNESS_COMPOSE_KAFKA_PORT": 9092,
    "HARNESS_COMPOSE_FLINK_PORT": 8081,
    "HARNESS_COMPOSE_AIRFLOW_PORT": 8080,
    "HARNESS_COMPOSE_SIM_PORT": 8000,
    "HARNESS_COMPOSE_STORAGE_HEALTH_PORT": 8091,
    "HARNESS_COMPOSE_EVENT_SINK_HEALTH_PORT": 8092,
    "HARNESS_COMPOSE_RELAY_HEALTH_PORT": 8093,
}


def cli_settings(home: Path, values: dict[str, str], port: dict[str, int]) -> dict[str, str]:
    """The harness CLI's settings on the host against the deployment (``harness.env``): the
    state folder ``home``, the secrets ``values`` (by name, as :data:`SECRETS`), every service at
    its published port (``port``: each of :data:`PORTS`)."""
    pg = f"127.0.0.1:{port['HARNESS_COMPOSE_PG_PORT']}"
    harness_dsn = f"postgresql://harness:{values['pg_harness_password']}@{pg}/harness"
    airflow_db = f"postgresql+psycopg2://airflow:{values['pg_airflow_password']}@{pg}/airflow"
    kafka = f"127.0.0.1:{port['HARNESS_COMPOSE_KAFKA_PORT']}"
    flink = f"http://127.0.0.1:{port['HARNESS_COMPOSE_FLINK_PORT']}"
    airflow = f"http://127.0.0.1:{port['HARNESS_COMPOSE_AIRFLOW_PORT']}"
    return {
        "HARNESS_HOME": str(home),
        "HARNESS_EXTERNAL_KAFKA": kafka,
        "HARNESS_EXTERNAL_FLINK_URL": flink,
        "HARNESS_EXTERNAL_PG_DSN": harness_dsn,
        "HARNESS_EXTERNAL_AIRFLOW_DB_URL": airflow_db,
        "HARNESS_AIRFLOW_PORT": str(port["HARNESS_COMPOSE_AIRFLOW_PORT"]),
        "HARNESS_KAFKA_BOOTSTRAP": kafka,
        "HARNESS_DB_DSN": harness_dsn,
        "HARNESS_FLINK_URL": flink,
        "HARNESS_AIRFLOW_URL": airflow,
        "HARNESS_SIM_PORT": str(port["HARNESS_COMPOSE_SIM_PORT"]),
        # the single-instance services' health endpoints at their published ports; the workers,
        # scaled, publish none: `harness status` probes them through their consumer group
        "HARNESS_RELAY_HEALTH_HOST": "127.0.0.1",
        "HARNESS_RELAY_HEALTH_PORT": str(port["HARNESS_COMPOSE_RELAY_HEALTH_PORT"]),
        "HARNESS_STORAGE_HEALTH_HOST": "127.0.0.1",
        "HARNESS_STORAGE_HEALTH_PORT": str(port["HARNESS_COMPOSE_STORAGE_HEALTH_PORT"]),
        "HARNESS_EVENT_SINK_HEALTH_HOST": "127.0.0.1",
        "HARNESS_EVENT_SINK_HEALTH_PORT": str(port["HARNESS_COMPOSE_EVENT_SINK_HEALTH_PORT"]),
        "HARNESS_LLM_BASE_URL": f"http://127.0.0.1:{port['HARNESS_COMPOSE_SIM_PORT']}/v1",
    }


#: where Debian (and most distributions) keep the CA certificates an administrator added
HOST_CA_DIR = Path("/usr/local/share/ca-certificates")


def copy_host_cas(source: Path = HOST_CA_DIR, target: Path = ROOT / "docker" / "extra-ca") -> list[str]:
    """Copy SOURCE's ``*.crt`` files that TARGET lacks or holds different; the names copied."""
    copied = []
    for crt in sorted(source.glob("*.crt")) if source.is_dir() else []:
        dest = target / crt.name
        if not dest.exists() or dest.read_bytes() != crt.read_bytes():
            target.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(crt, dest)
            copied.append(crt.name)
    return copied


def main() -> int:
    home = Path(os.environ.get("HARNESS_COMPOSE_HOME") or ROOT / ".state" / "compose").resolve()
    folder = home / "secrets"
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    values = {name: get_or_create(folder, name, kind) for name, (_, kind) in SECRETS.items()}

    env_file = ROOT / ".env"
    lines = ["# Generated by `make compose-env` (docker/compose-env.py): secrets of the compose",
             f"# deployment, kept in {folder}. Never commit this file.",
             *(f"{var}={values[name]}" for name, (var, _) in SECRETS.items()),
             "# reports/, mounted at the same absolute path in the Airflow containers (the paths",
             "# a run names hold on this host too); HARNESS_COMPOSE_REPORTS in the environment wins",
             f"HARNESS_COMPOSE_REPORTS={ROOT / 'reports'}"]
    reports = Path(os.environ.get("HARNESS_COMPOSE_REPORTS") or ROOT / "reports")
    reports.mkdir(parents=True, exist_ok=True)
    write_private(env_file, "\n".join(lines) + "\n")

    port = {var: int(os.environ.get(var) or default) for var, default in PORTS.items()}
    host_env = cli_settings(home, values, port)
    cli_env = Path(os.environ.get("HARNESS_COMPOSE_CLI_ENV") or home / "harness.env")
    cli_env.parent.mkdir(parents=True, exist_ok=True)
    write_private(cli_env,
                  "# The harness CLI against the compose deployment: set -a; . THIS; set +a\n"
                  + "".join(f"{key}={value}\n" for key, value in host_env.items()))
    print(f"compose secrets in {folder}; {env_file.relative_to(ROOT)} and {cli_env} written "
          "(no secret printed)")
    for name in copy_host_cas():
        print(f"the image builds trust this host's {HOST_CA_DIR / name} too (docker/extra-ca/)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
