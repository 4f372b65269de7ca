"""The load process of one run: ``python -m experiments.loader LABEL``.

The experiment DAG starts it detached from Airflow (its own session, so a restarted scheduler or
a killed task does not take the load with it) and waits for it on the triggerer; `harness run`
calls :func:`load_run` in-process. Either way it:

1. claims the run (once: a second process for the same run exits without sending anything);
2. waits until no other run has questions in the shared pipeline, then takes the pipeline
   (isolation; refused with the blocking runs named after ``isolation_timeout_s``); a run whose
   fault schedule names a service outside the local stack is refused here;
3. switches the simulator to the run's fault profile and records its counters;
4. sends the load of every repeat, draining each repeat but the last before the next starts,
   with the spec's fault schedule (:mod:`experiments.faults`) beside each repeat's load;
5. leaves the run in phase ``draining``: the drain wait takes it from there.

While it lives it beats the run's heartbeat, so a wait notices a dead load process. An error
ends the run as ``failed`` with the reason; the report step still writes a (partial) report.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg2

from experiments.lifecycle import LifecycleSettings, acquire_pipeline, pipeline_busy
from pipeline.storage.db import Database
from pipeline.storage.runs import RunStore

log = logging.getLogger(__name__)


class Refused(RuntimeError):
    """Other runs kept the pipeline busy past the isolation deadline."""


class Heartbeat:
    """Beats a run's heartbeat every few seconds from a thread of its own (own connection)."""

    def __init__(self, label: str, every_s: float = 5.0) -> None:
        self.label, self.every_s = label, every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{label}", daemon=True)

    def _beat(self) -> None:
        db = Database(application_name="experiment-loader-heartbeat", autocommit=True)
        store = RunStore(db)
        try:
            while not self._stop.wait(self.every_s):
                try:
                    store.heartbeat(self.label)
                except psycopg2.Error as exc:  # the database restarting: beat again later
                    log.warning("heartbeat of %s failed (%s); retrying", self.label, exc)
                    db.reset()
        finally:
            db.close()

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def wait_for_pipeline(db: Database, label: str, settings: LifecycleSettings,
                      clock: Callable[[], float] = time.time,
                      sleep: Callable[[float], None] = time.sleep) -> None:
    """Block until LABEL holds the shared pipeline (see :mod:`experiments.lifecycle`); raise
    :class:`Refused` naming the blocking runs after ``settings.isolation_timeout_s``."""
    deadline = clock() + settings.isolation_timeout_s
    said: str | None = None
    while True:
        busy = pipeline_busy(db, label, clock(), settings)
        if not busy:
            holder = acquire_pipeline(db, label, settings)
            if holder is None:
                return
            busy_text = f"{holder.label} ({holder.phase})"
        else:
            busy_text = ", ".join(b.describe() for b in busy)
        if busy_text != said:
            log.info("run %s waits for the pipeline: %s", label, busy_text)
            said = busy_text
        if clock() > deadline:
            raise Refused(f"refused: other runs kept the pipeline busy for "
                          f"{settings.isolation_timeout_s:.0f} s (isolation_timeout_s): "
                          f"{busy_text}")
        sleep(settings.poll_interval_s)


def load_run(label: str, progress: Callable[[str], None] | None = None,
             settings: LifecycleSettings | None = None) -> bool:
    """Claim LABEL and send its load (steps 1-5 above). False when another process has the run
    (nothing was sent by this one). Errors end the run as ``failed`` and are raised."""
    from experiments import runner

    settings = settings or LifecycleSettings()
    db = Database(application_name="experiment-loader", autocommit=True)
    store = RunStore(db)
    try:
        run = store.get(label)
        if run is None:
            raise LookupError(f"no run {label!r} is registered")
        if not store.claim_loader(label, os.getpid()):
            log.info("run %s already has a load process (or has ended): nothing to do", label)
            return False
        handle: runner.RunHandle | None = None
        with Heartbeat(label):
            try:
                from experiments.faults import unreachable_targets

                unreachable = unreachable_targets(run.spec.get("faults") or [])
                if unreachable:
                    raise Refused(f"refused: the fault schedule targets services outside the "
                                  f"local stack, which the runner cannot reach: "
                                  f"{', '.join(unreachable)}")
                store.set_phase(label, "waiting")
                wait_for_pipeline(db, label, settings)
                counters = runner.configure_llm(run.spec)
                store.set_phase(label, "loading", sim_counters=counters,
                                load_started_at=time.time())
                handle = runner.RunHandle.from_row(run)
                runner.generate(handle, run.spec, progress)
                finished = max((float(load.get("finished_at") or 0) for load in handle.load),
                               default=time.time())
                store.set_phase(label, "draining", load_finished_at=finished)
                log.info("run %s: load sent; draining", label)
                for faults in handle.fault_runners:  # a fault scheduled during the drain
                    faults.wait()
            except BaseException as exc:
                reason = str(exc) if isinstance(exc, Refused) else (
                    f"the load failed: {type(exc).__name__}: {exc}")
                store.end(label, "failed", reason)
                log.exception("run %s failed: %s", label, reason)
                raise
            finally:  # fault events PostgreSQL did not take: a last try, then the run's file
                for faults in handle.fault_runners if handle is not None else []:
                    faults.close()
        return True
    finally:
        db.close()


def start_detached(label: str, settings: LifecycleSettings | None = None) -> int:
    """Start ``python -m experiments.loader LABEL`` in a session of its own (it outlives the
    caller: an Airflow task that is restarted does not stop it); returns its pid. Its log goes
    to ``<log dir>/<label>.log``."""
    settings = settings or LifecycleSettings()
    log_dir = settings.loader_log_dir()
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{label}.log"
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "experiments.loader", label],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            cwd=str(Path(__file__).resolve().parents[1]), start_new_session=True,
            close_fds=True,
        )
    log.info("load process of %s started: pid %d, log %s", label, proc.pid, log_path)
    return proc.pid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.loader",
        description="Send the load of one registered run (the experiment DAG starts this).")
    parser.add_argument("label", help="the run's label (its row in the runs table)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        load_run(args.label)
    except Exception:  # already logged and recorded as the run's failure
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
