"""The job controller and `harness flink` against a fake cluster: one copy per name, savepoints
remembered and resumed, status from the REST answers, and the job's config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flink.client import FlinkError
from flink.control import JobAlreadyRunning, ScoringJobControl, job_config
from flink.job_config import JobConfig
from foundation.settings import StackSettings
from harness import cli
from harness.commands import flink as flink_command
from pipeline.topics import load_topics


class FakeFlink:
    """Just enough of FlinkClient: jobs by id, submissions recorded, REST answers canned."""

    def __init__(self) -> None:
        self.jobs_by_id: dict[str, dict[str, Any]] = {}
        self.submitted: list[dict[str, Any]] = []
        self.rest: dict[str, Any] = {}
        self.cancelled: list[str] = []

    def add_job(self, jid: str, name: str, state: str, start: int = 1_000) -> None:
        self.jobs_by_id[jid] = {"jid": jid, "name": name, "state": state, "start-time": start}

    def jobs(self) -> list[dict[str, Any]]:
        return list(self.jobs_by_id.values())

    def job(self, job_id: str) -> dict[str, Any]:
        return {**self.jobs_by_id[job_id], "vertices": [{"parallelism": 2}, {"parallelism": 1}]}

    def submit(self, python_file: Path, args, *, parallelism=None, from_savepoint=None) -> str:
        jid = f"job{len(self.submitted)}"
        self.submitted.append(
            {
                "file": python_file,
                "args": list(args),
                "parallelism": parallelism,
                "from_savepoint": from_savepoint,
            }
        )
        config = JobConfig.from_json(args[1])
        self.add_job(jid, config.job_name, "RUNNING", start=2_000 + len(self.submitted))
        return jid

    def wait_until_running(self, job_id: str, timeout_s: float = 120.0) -> None:
        assert self.jobs_by_id[job_id]["state"] == "RUNNING"

    def stop_with_savepoint(self, job_id: str, target=None, timeout_s: float = 180.0) -> str:
        self.jobs_by_id[job_id]["state"] = "FINISHED"
        return f"file:/sp/savepoint-{job_id}"

    def cancel(self, job_id: str) -> None:
        self.cancelled.append(job_id)
        self.jobs_by_id[job_id]["state"] = "CANCELED"

    def wait_for_state(self, job_id: str, states: set[str], timeout_s: float = 120.0) -> str:
        assert self.jobs_by_id[job_id]["state"] in states
        return str(self.jobs_by_id[job_id]["state"])

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        if path not in self.rest:
            raise FlinkError(f"{method} {path}: HTTP 404")
        return self.rest[path]

    def close(self) -> None:
        pass


@pytest.fixture
def fake() -> FakeFlink:
    return FakeFlink()


@pytest.fixture
def settings(tmp_path) -> StackSettings:
    return StackSettings(home=tmp_path)


@pytest.fixture
def control(fake, settings) -> ScoringJobControl:
    return ScoringJobControl(fake, settings=settings)  # type: ignore[arg-type]


@pytest.fixture
def config(settings) -> JobConfig:
    return job_config(
        catalog=load_topics(prefix="t1."), bootstrap_servers="k:9092", settings=settings
    )


def test_job_config_follows_the_topic_spec_and_its_prefix(settings):
    plain = job_config(catalog=load_topics(prefix=""), settings=settings)
    assert plain.job_name == "qa-scoring" and plain.group_id == "flink-scoring"
    assert plain.topics.answers == "qa.answers" and plain.topics.events == "qa.events"
    assert plain.bootstrap_servers == settings.kafka_bootstrap_servers
    test = job_config(
        catalog=load_topics(prefix="t1."), settings=settings, window_s=2.0, default_scorer="minilm"
    )
    assert test.job_name == "qa-scoring[t1.]" and test.group_id == "flink-scoring.t1"
    assert test.topics.results == "t1.qa.results"
    assert (test.window_s, test.default_scorer) == (2.0, "minilm")
    assert test.defaults.scorer == "minilm"


def test_job_config_round_trips_through_the_job_arguments(config):
    flag, text = config.to_args()
    assert flag == "--config"
    assert JobConfig.from_json(text) == config


def test_job_config_rejects_bad_values(settings):
    with pytest.raises(ValueError):
        job_config(settings=settings, default_threshold=2)
    with pytest.raises(ValueError):
        job_config(settings=settings, checkpoint_interval_s=0)
    with pytest.raises(ValueError):
        job_config(settings=settings, unknown_option=1)


def test_submit_passes_parallelism_and_config(control, fake, config):
    job_id = control.submit(config, parallelism=2)
    [sub] = fake.submitted
    assert job_id == "job0"
    assert sub["file"].name == "job.py" and sub["parallelism"] == 2
    assert JobConfig.from_json(sub["args"][1]) == config


def test_a_second_copy_is_refused_unless_forced(control, fake, config):
    fake.add_job("old", config.job_name, "RESTARTING")
    fake.add_job("other", "someone-elses-job", "RUNNING")
    with pytest.raises(JobAlreadyRunning, match="old"):
        control.submit(config)
    assert not fake.submitted
    control.submit(config, force=True)
    assert len(fake.submitted) == 1


def test_finished_jobs_of_the_same_name_do_not_block(control, fake, config):
    fake.add_job("old", config.job_name, "CANCELED")
    control.submit(config)
    assert len(fake.submitted) == 1


def test_stop_with_savepoint_remembers_it_and_submit_resumes_from_latest(
    control, fake, config, settings
):
    control.submit(config)
    result = control.stop(config.job_name, savepoint=True)
    assert result.job_ids == ["job0"] and result.savepoint == "file:/sp/savepoint-job0"
    state = json.loads((settings.home / "flink" / "scoring-savepoints.json").read_text())
    assert state[config.job_name]["path"] == "file:/sp/savepoint-job0"
    assert control.last_savepoint(config.job_name)["job_id"] == "job0"

    control.submit(config, from_savepoint="latest")
    assert fake.submitted[-1]["from_savepoint"] == "file:/sp/savepoint-job0"


def test_a_forgotten_savepoint_is_not_resumed(control, config):
    control.submit(config)
    control.stop(config.job_name, savepoint=True)
    assert control.forget_savepoint(config.job_name)["path"] == "file:/sp/savepoint-job0"
    assert control.last_savepoint(config.job_name) is None
    assert control.forget_savepoint(config.job_name) is None
    with pytest.raises(FlinkError, match="no savepoint"):
        control.submit(config, from_savepoint="latest")


def test_resuming_from_latest_without_a_savepoint_fails(control, config):
    with pytest.raises(FlinkError, match="no savepoint"):
        control.submit(config, from_savepoint="latest")


def test_stop_without_savepoint_cancels_every_active_copy(control, fake, config):
    fake.add_job("a", config.job_name, "RUNNING")
    fake.add_job("b", config.job_name, "RUNNING", start=5)
    fake.add_job("c", "other", "RUNNING")
    result = control.stop(config.job_name)
    assert sorted(result.job_ids) == ["a", "b"] and result.savepoint is None
    assert sorted(fake.cancelled) == ["a", "b"]


def test_status_reads_state_checkpoints_and_restore(control, fake, config):
    fake.add_job("old", config.job_name, "CANCELED", start=1_000)
    fake.add_job("cur", config.job_name, "RUNNING", start=9_000)
    fake.rest["/jobs/cur/metrics?get=numRestarts"] = [{"id": "numRestarts", "value": "2"}]
    fake.rest["/jobs/cur/checkpoints"] = {
        "counts": {"completed": 7, "failed": 1, "in_progress": 0},
        "latest": {
            "completed": {
                "id": 9,
                "external_path": "file:/cp/chk-9",
                "latest_ack_timestamp": 12_000,
                "state_size": 4096,
            },
            "restored": {"id": 3, "external_path": "file:/sp/x", "is_savepoint": True},
            "savepoint": None,
        },
    }
    status = control.status(config.job_name)
    assert (status.job_id, status.state, status.running) == ("cur", "RUNNING", True)
    assert status.start_time == 9.0 and status.parallelism == 2 and status.restarts == 2
    assert status.checkpoints["completed"] == 7
    assert status.last_checkpoint == {"id": 9, "path": "file:/cp/chk-9", "at": 12.0, "size": 4096}
    assert status.restored == {"id": 3, "path": "file:/sp/x", "is_savepoint": True}
    assert status.others == [{"job_id": "old", "state": "CANCELED"}]
    text = status.describe()
    assert "RUNNING (cur)" in text and "chk-9" in text and "restored from savepoint" in text


def test_status_of_a_job_never_submitted(control):
    status = control.status("qa-scoring")
    assert status.job_id is None and not status.running
    assert status.describe() == "job qa-scoring: not submitted"


# --- the CLI -----------------------------------------------------------------------------------


def test_cli_parses_the_flink_commands():
    parser = cli.build_parser()
    args = parser.parse_args(
        [
            "flink",
            "submit",
            "-p",
            "2",
            "--from-savepoint",
            "latest",
            "--checkpoint-interval",
            "3",
            "--scorer-param",
            "minilm.threads=2",
            "--force",
        ]
    )
    assert args.func is flink_command._submit
    assert (args.parallelism, args.from_savepoint, args.checkpoint_interval, args.force) == (
        2,
        "latest",
        3.0,
        True,
    )
    assert flink_command._config_overrides(args) == {
        "checkpoint_interval_s": 3.0,
        "scorer_params": {"minilm": {"threads": 2}},
    }
    assert parser.parse_args(["flink", "stop", "--savepoint"]).func is flink_command._stop
    assert parser.parse_args(["flink", "status", "--json"]).json is True


def test_scorer_params_parse_json_values_and_reject_bad_items():
    assert flink_command._scorer_params(
        ["minilm.threads=2", "minilm.model_dir=/m", "lexical.stem=false"]
    ) == {"minilm": {"threads": 2, "model_dir": "/m"}, "lexical": {"stem": False}}
    with pytest.raises(SystemExit):
        flink_command._scorer_params(["threads=2"])


def test_cli_submit_refusal_exits_2(monkeypatch, capsys, fake, settings):
    fake.add_job("x", "qa-scoring", "RUNNING")
    monkeypatch.setattr(
        flink_command, "ScoringJobControl", lambda: ScoringJobControl(fake, settings=settings)
    )  # type: ignore[arg-type]
    monkeypatch.setattr(
        flink_command,
        "job_config",
        lambda **kw: job_config(catalog=load_topics(prefix=""), settings=settings, **kw),
    )
    assert cli.main(["flink", "submit"]) == 2
    assert "already active" in capsys.readouterr().err
    assert cli.main(["flink", "submit", "--force", "--no-wait"]) == 0
    assert capsys.readouterr().out.strip() == "job0"
    assert cli.main(["flink", "stop", "--savepoint"]) == 0
    assert capsys.readouterr().out.strip().startswith("file:/sp/savepoint-")


def test_a_savepoint_is_a_resume_point_once(control, fake, config):
    """A job resumed from a savepoint moves past it; if it then ends without a savepoint (a
    crash), the next job starts from the committed offsets instead of replaying since."""
    assert control.resume_point(config.job_name) is None
    control.submit(config)
    control.stop(config.job_name, savepoint=True)
    assert control.resume_point(config.job_name) == "file:/sp/savepoint-job0"

    control.submit(config, from_savepoint=control.resume_point(config.job_name))
    remembered = control.last_savepoint(config.job_name)
    assert remembered["resumed_by"] == "job1" and remembered["resumed_at"] > 0
    assert control.resume_point(config.job_name) is None
    assert "resumed by job1" in control.status(config.job_name).describe()

    fake.jobs_by_id["job1"]["state"] = "FAILED"  # the JobManager died with it
    control.submit(config, from_savepoint="latest")  # explicit: still allowed
    assert fake.submitted[-1]["from_savepoint"] == "file:/sp/savepoint-job0"

    control.stop(config.job_name, savepoint=True)  # a new savepoint is a resume point again
    assert control.resume_point(config.job_name) == "file:/sp/savepoint-job2"


def test_ensure_flink_job_resumes_a_savepoint_once(monkeypatch, control, fake, config):
    from harness import pipeline as harness_pipeline

    class Reused:
        def __enter__(self):
            return control

        def __exit__(self, *exc):
            return None

    monkeypatch.setattr("flink.control.ScoringJobControl", lambda: Reused())
    monkeypatch.setattr("flink.control.job_config", lambda: config)
    control.submit(config)
    control.stop(config.job_name, savepoint=True)

    assert harness_pipeline.ensure_flink_job() == "job1"
    assert fake.submitted[-1]["from_savepoint"] == "file:/sp/savepoint-job0"
    fake.jobs_by_id["job1"]["state"] = "FAILED"  # crashed after running past the savepoint
    assert harness_pipeline.ensure_flink_job() == "job2"
    assert fake.submitted[-1]["from_savepoint"] is None, "replayed from a consumed savepoint"
