"""The layout of the state folder: one place that names every path the stack uses."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from foundation.repo import REPO_ROOT
from foundation.settings import StackSettings

# The rendered configs must not depend on the caller's PATH: `harness up` from a shell and from an
# Airflow task must render the same files, or supervisord would restart services needlessly.
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True)
class Layout:
    home: Path

    @classmethod
    def of(cls, settings: StackSettings) -> Layout:
        return cls(home=settings.home.resolve())

    # environments and artefacts made by scripts/bootstrap.sh
    @property
    def venv(self) -> Path:
        return self.home / "venv"

    @property
    def flink_venv(self) -> Path:
        return self.home / "flink-venv"

    @property
    def kafka_jars(self) -> Path:
        return self.home / "jars" / "kafka"

    @property
    def flink_connector_jars(self) -> Path:
        return self.home / "jars" / "flink"

    # runtime
    @property
    def run(self) -> Path:
        return self.home / "run"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def secrets(self) -> Path:
        return self.home / "secrets"

    @property
    def conf(self) -> Path:
        return self.home / "conf"

    @property
    def services_env(self) -> Path:
        """The resolved endpoints (``HARNESS_KAFKA_BOOTSTRAP``, ``HARNESS_DB_DSN`` ...) that
        `harness up` writes and every service's settings read as their fallback."""
        return self.conf / "services.env"

    @property
    def supervisor_conf(self) -> Path:
        return self.conf / "supervisord.conf"

    @property
    def supervisor_socket(self) -> Path:
        return self.run / "supervisor.sock"

    @property
    def supervisor_pid(self) -> Path:
        return self.run / "supervisord.pid"

    @property
    def fault_events(self) -> Path:
        """Fault events a load process could not write to PostgreSQL, one JSON-lines file per
        experiment, which the collector merges with the events table's
        (see experiments/fault_events.py)."""
        return self.home / "runs" / "fault-events"

    @property
    def pg_data(self) -> Path:
        return self.home / "postgres" / "data"

    @property
    def pg_socket_dir(self) -> Path:
        return self.run / "postgres"

    @property
    def kafka_data(self) -> Path:
        return self.home / "kafka" / "data"

    @property
    def flink_home(self) -> Path:
        """Our Flink: conf/ and lib/ of our own beside the wheel's bin/."""
        return self.home / "flink"

    @property
    def flink_conf(self) -> Path:
        return self.flink_home / "conf"

    @property
    def flink_lib(self) -> Path:
        return self.flink_home / "lib"

    @property
    def flink_checkpoints(self) -> Path:
        return self.flink_home / "checkpoints"

    @property
    def flink_savepoints(self) -> Path:
        return self.flink_home / "savepoints"

    @property
    def reference_store(self) -> Path:
        """The MiniLM scorer's reference embeddings, kept across scoring-job restarts."""
        return self.home / "scoring" / "reference-embeddings.sqlite3"

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"

    @property
    def dags(self) -> Path:
        return REPO_ROOT / "dags"

    def pyflink_dir(self) -> Path:
        """The pyflink package inside the Flink environment (it holds a full Flink distribution)."""
        found = sorted(self.flink_venv.glob("lib/python3*/site-packages/pyflink"))
        if not found:
            raise FileNotFoundError(
                f"pyflink not found under {self.flink_venv}: run scripts/bootstrap.sh (make bootstrap)"
            )
        return found[0]

    def flink_env(self) -> dict[str, str]:
        """Environment of every Flink process and of `flink run`: the Flink distribution inside
        the pyflink wheel, our conf/ and lib/, and the Flink environment's interpreter."""
        return {
            "FLINK_HOME": str(self.pyflink_dir()),
            "FLINK_CONF_DIR": str(self.flink_conf),
            "FLINK_LIB_DIR": str(self.flink_lib),
            "FLINK_LOG_DIR": str(self.flink_home / "log"),
            "PYFLINK_PYTHON": str(self.flink_venv / "bin" / "python"),
            # the scoring job's default; `harness flink submit --scorer-param
            # minilm.reference_store=...` overrides it per job (null: none)
            "HARNESS_SCORING_MINILM__REFERENCE_STORE": str(self.reference_store),
            "PATH": f"{self.flink_venv / 'bin'}:{SYSTEM_PATH}",
        }

    def ensure_dirs(self) -> None:
        for path in (self.run, self.logs, self.secrets, self.conf, self.kafka_data,
                     self.flink_conf, self.flink_lib, self.flink_checkpoints, self.flink_savepoints,
                     self.airflow_home, self.flink_home / "log", self.flink_home / "tmp"):
            path.mkdir(parents=True, exist_ok=True)
        self.secrets.chmod(0o700)
