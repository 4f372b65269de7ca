"""The scoring job survives losing its TaskManager mid-stream, and being stopped with a
savepoint and resumed: every answer reaches qa.results (at-least-once: duplicates allowed,
losses not).

The two tests share one job (submitting a PyFlink job with its Table planner costs 20-45 s on
this machine): the first kills its TaskManager, the second stops it with a savepoint and
resumes it. Each test uses its own question ids; a test that finds no job running submits one.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flinkjob_helpers import answer, private_topics, produce, wait_until_consuming

from flink.control import ScoringJobControl, job_config
from flink.job_config import JobConfig
from harness.stack import procs
from pipeline.messages import TerminalStatus
from pipeline.waiting import wait_until

GOOD = "Sunlight undergoes Rayleigh scattering by air molecules"


class Trickle(threading.Thread):
    """Produces answers q-<start>..q-<start+count-1> at about `rate` per second."""

    def __init__(self, bootstrap: str, topic: str, ids: list[str], rate: float) -> None:
        super().__init__(daemon=True)
        self.args = (bootstrap, topic)
        self.ids = ids
        self.pause = 1.0 / rate
        self.error: BaseException | None = None
        self.done = threading.Event()

    def run(self) -> None:
        try:
            for i in range(0, len(self.ids), 5):
                produce(*self.args, [answer(q, GOOD) for q in self.ids[i : i + 5]])
                self.done.wait(self.pause * 5)  # paces the producer; set() only at the end
        except BaseException as exc:
            self.error = exc
        finally:
            self.done.set()

    def finish(self, timeout_s: float = 60) -> None:
        self.join(timeout_s)
        assert not self.is_alive(), "producer still running"
        if self.error:
            raise self.error


def _result_ids(results, prefix: str) -> set[str]:
    return {e.question_id for e in results.envelopes() if e.question_id.startswith(prefix)}


@dataclass
class SharedJob:
    control: ScoringJobControl
    config: JobConfig

    @property
    def bootstrap(self) -> str:
        return self.config.bootstrap_servers

    @property
    def answers(self) -> str:
        return self.config.topics.answers

    def ensure_running(self) -> str:
        """The active job's id; submits one (and waits until it consumes) if there is none."""
        active = self.control.active_jobs(self.config.job_name)
        if active:
            return str(active[0]["jid"])
        job_id = self.control.submit(self.config, parallelism=1)
        wait_until_consuming(self.config)
        return job_id


@pytest.fixture(scope="module")
def job(endpoints) -> Iterator[SharedJob]:
    with private_topics(endpoints.kafka_bootstrap) as catalog, ScoringJobControl() as control:
        config = job_config(
            catalog=catalog,
            bootstrap_servers=endpoints.kafka_bootstrap,
            checkpoint_interval_s=1.0,
            window_s=1.0,
        )
        try:
            yield SharedJob(control, config)
        finally:
            control.stop(config.job_name)
            forgotten = control.forget_savepoint(config.job_name)  # the test's own savepoint
            if forgotten:
                shutil.rmtree(forgotten["path"].removeprefix("file:"), ignore_errors=True)


def _wait(condition, timeout_s: float, what: str, pause_s: float = 0.5) -> None:
    wait_until(condition, timeout_s, pause_s=pause_s, backoff=1.0, error=AssertionError,
               what=f"{what}: not within {timeout_s:.0f} s")


def test_taskmanager_killed_mid_stream_restarts_from_checkpoint_and_loses_nothing(
    stack, job, reader
):
    job_id = job.ensure_running()
    control = job.control
    results = reader(job.config.topics.results)
    ids = [f"kill-{i}" for i in range(150)]
    trickle = Trickle(job.bootstrap, job.answers, ids, rate=15)
    trickle.start()
    results.wait_for(lambda r: len(_result_ids(r, "kill-")) >= 15, 60, "the first results")
    _wait(
        lambda: control.checkpoints(job_id)["counts"]["completed"] >= 1,
        60,
        "a completed checkpoint",
    )
    [tm] = [p for p in stack.supervisor.infos() if p["name"] == "flink-taskmanager"]
    assert tm["statename"] == "RUNNING"
    assert trickle.is_alive(), "the answers should still be arriving when the TM dies"
    # The TM's Python workers outlive a SIGKILLed TM (orphans of ~200 MB): ours to clean up.
    workers = procs.descendants(tm["pid"])
    os.kill(tm["pid"], signal.SIGKILL)
    try:

        def tm_restarted() -> bool:
            [now] = [p for p in stack.supervisor.infos() if p["name"] == "flink-taskmanager"]
            return now["statename"] == "RUNNING" and now["pid"] != tm["pid"]

        _wait(tm_restarted, 60, "supervisord restarting the TaskManager")
        _wait(lambda: (control.restarts(job_id) or 0) >= 1, 90, "the job restarting")
        trickle.finish(timeout_s=90)
        results.wait_for(lambda r: len(_result_ids(r, "kill-")) >= 150, 180, "all 150 results")
    finally:
        procs.terminate(procs.alive(workers))

    assert _result_ids(results, "kill-") == set(ids)
    restored = control.checkpoints(job_id)["latest"]["restored"]
    assert restored is not None and not restored["is_savepoint"]  # from its last checkpoint
    assert control.active_jobs(job.config.job_name)[0]["jid"] == job_id  # the same job, restarted


def test_stop_with_savepoint_and_resume_loses_nothing(job, reader):
    job.ensure_running()
    control, name = job.control, job.config.job_name
    results = reader(job.config.topics.results)
    before = [f"sp-{i}" for i in range(80)]
    trickle = Trickle(job.bootstrap, job.answers, before, rate=20)
    trickle.start()
    results.wait_for(lambda r: len(_result_ids(r, "sp-")) >= 10, 60, "the first results")
    assert trickle.is_alive(), "the answers should still be arriving at the savepoint"
    stopped = control.stop(name, savepoint=True)
    trickle.finish()
    assert stopped.savepoint and len(stopped.job_ids) == 1
    assert Path(stopped.savepoint.removeprefix("file:")).exists()
    assert control.last_savepoint(name)["path"] == stopped.savepoint
    assert not control.active_jobs(name)

    # more answers arrive while no job runs
    during = [f"sp-{i}" for i in range(80, 110)]
    produce(job.bootstrap, job.answers, [answer(q, GOOD) for q in during])
    job_id = control.submit(job.config, parallelism=1, from_savepoint="latest")
    results.wait_for(lambda r: len(_result_ids(r, "sp-")) >= 110, 120, "all 110 results")
    status = control.status(name)
    assert status.job_id == job_id and status.state == "RUNNING"
    assert status.restored and status.restored["is_savepoint"]
    assert status.restored["path"] == stopped.savepoint

    assert _result_ids(results, "sp-") == set(before + during)
    assert all(e.status is TerminalStatus.ACCEPTED for e in results.envelopes())
