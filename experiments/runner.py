"""One experiment run, step by step: the logic behind the `experiment` DAG and `harness run`.

The DAG calls these functions, one per task, passing small JSON-able values between them:

    validate(conf) -> spec
    register(spec, run_label) -> RunHandle (experiment ids, one per repeat, and the report folder)
    harness.pipeline.ensure_pipeline(...)    (topics, services, the Flink scoring job)
    configure_llm(spec) -> simulator counters before the load
    generate(handle, spec) -> load summaries (each repeat but the last is drained here)
    pending(handle) -> questions not yet terminal        (the DAG's sensor pokes this; what
                       counts is experiments.pending's definition, the collector's too)
    collect_and_report(handle, spec, counters_before) -> report folder
    compare_with_previous(handle) -> comparison folder or None

A repeat is a run of the same spec under its own experiment id, so each repeat's questions are
asked afresh (the answer cache is scoped to the experiment).
"""

from __future__ import annotations

import logging
import re
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from experiments import spec as spec_module
from experiments.params import spec_from_conf
from experiments.pending import Pending, acknowledged_questions, pending_from_states
from experiments.quota_watch import QuotaWatch, count_quota_errors_in
from experiments.report.settings import ReportSettings
from harness.settings import REPO_ROOT

log = logging.getLogger(__name__)


@dataclass
class RunHandle:
    """What a run's tasks share: who it is and where its report goes."""

    name: str
    label: str  # the run's folder name under reports/
    experiment_ids: list[str]
    report_dir: str
    load: list[dict[str, Any]] = field(default_factory=list)  # LoadSummary per repeat

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunHandle:
        return cls(**dict(data))


def _db():
    from pipeline.storage.db import Database

    return Database(application_name="experiment-runner", autocommit=True)


def git_revision() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT,
                             capture_output=True, text=True, timeout=10)
    except OSError:
        return None
    return out.stdout.strip() or None


# -- steps ------------------------------------------------------------------------------------


def validate(conf: Mapping[str, Any]) -> dict[str, Any]:
    """The complete spec from a trigger's conf (flat form fields or a nested spec).

    Raises experiments.spec.SpecError naming the offending field.
    """
    if any(key in spec_module.SECTIONS for key in conf):
        return spec_module.validate(dict(conf))
    return spec_from_conf(dict(conf))


def run_label(name: str, when: datetime | None = None) -> str:
    when = when or datetime.now(UTC)
    return f"{name}-{when:%Y%m%d-%H%M%S}"


def register(spec: Mapping[str, Any], label: str | None = None) -> RunHandle:
    """Record the run (one experiments row per repeat) and choose its report folder."""
    from pipeline.storage.experiments import ExperimentStore

    label = label or run_label(spec["name"])
    label = re.sub(r"[^A-Za-z0-9_.-]", "-", label)
    repeats = int(spec["repeats"])
    ids = [label if repeats == 1 else f"{label}-r{i + 1}" for i in range(repeats)]
    store = ExperimentStore(_db())
    revision = git_revision()
    for experiment_id in ids:
        store.create(experiment_id, spec["name"], spec, git_revision=revision)
    report_dir = ReportSettings().reports_root / label
    log.info("registered %s (%d repeat(s)); report: %s", label, repeats, report_dir)
    return RunHandle(name=spec["name"], label=label, experiment_ids=ids, report_dir=str(report_dir))


def configure_llm(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Switch the simulator to the run's fault profile (seeded); return its counters before the
    load so the report can show this run's ground truth. Real backends have no counters: {}."""
    if spec["llm"]["backend"] != "simulator":
        return {}
    from pipeline.llm.settings import LLMSettings
    from pipeline.llm.sim.runner import SimulatorAdmin

    admin = SimulatorAdmin(_sim_root(LLMSettings().base_url))
    admin.set_profile({"name": spec["llm"]["profile"], "seed": int(spec["seed"])})
    log.info("simulator profile: %s (seed %s)", spec["llm"]["profile"], spec["seed"])
    return dict(admin.counters())


def _sim_root(base_url: str) -> str:
    return base_url.rstrip("/").removesuffix("/v1")


def questions_for(spec: Mapping[str, Any]) -> list[Any]:
    from pipeline.datasets import load_questions, synthesize

    dataset = spec["dataset"]
    if dataset["source"] == "synthetic":
        rows = synthesize(int(dataset["offset"]) + int(dataset["size"]), seed=int(spec["seed"]))
        return list(rows)[int(dataset["offset"]):]
    return list(load_questions(dataset["path"], offset=int(dataset["offset"]),
                               limit=int(dataset["size"])))


def experiment_policy(spec: Mapping[str, Any]) -> dict[str, Any]:
    """What every record carries: retry policy, scoring settings, LLM request parameters."""
    return {
        "ref": f"{spec['retry']['kind']}/{spec['retry'].get('jitter', 'none')}",
        # max_deferrals is the worker's routing knob; it travels with the policy (stripped by the
        # worker before the policy is built).
        "retry": {**spec_module.retry_policy(spec), "max_deferrals": spec["retry"]["max_deferrals"]},
        "score_threshold": spec["scoring"]["threshold"],
        "max_rounds": spec["scoring"]["max_rounds"],
        "scorer": spec["scoring"]["scorer"],
        # base_url: the workers call it instead of their own endpoint (backend openai only).
        "llm": {"model": spec["llm"]["model"], "max_tokens": spec["llm"]["max_tokens"],
                "timeout_s": spec["llm"]["timeout_s"],
                "base_url": spec["llm"]["base_url"] if spec["llm"]["backend"] == "openai" else ""},
    }


def generate(handle: RunHandle, spec: Mapping[str, Any],
             progress: Callable[[str], None] | None = None) -> RunHandle:
    """Generate the load of every repeat. Each repeat but the last is drained before the next
    starts (so repeats do not overlap); the DAG's sensor waits for the last one."""
    from pipeline.generator.load import run_load
    from pipeline.storage.experiments import ExperimentStore

    questions = questions_for(spec)
    store = ExperimentStore(_db())
    arrival = spec_module.arrival_spec(spec)
    quota_db = _db()
    try:
        for index, experiment_id in enumerate(handle.experiment_ids):
            store.mark_started(experiment_id)
            stop = threading.Event()
            with QuotaWatch(experiment_id, int(spec["llm"]["stop_after_quota_errors"]), stop,
                            count=count_quota_errors_in(quota_db)) as watch:
                summary = run_load(experiment_id, questions, arrival, experiment_policy(spec),
                                   duration_s=float(spec["arrival"]["duration_s"]),
                                   repeat_share=float(spec["dataset"]["repeat_share"]),
                                   seed=int(spec["seed"]) + index, stop=stop)
            if summary.stopped_early:
                summary.stop_reason = watch.reason
            data = summary.to_dict()
            handle.load.append(data)
            store.mark_finished(experiment_id, status="running", summary={"load": data})
            message = (f"repeat {index + 1}/{len(handle.experiment_ids)}: sent {data['sent']}, "
                       f"cache hits {data['cache_hits']}, failed sends {data['failed']}")
            if summary.stop_reason:
                message += f"; stopped early: {summary.stop_reason}"
            log.info(message)
            if progress:
                progress(message)
            if index < len(handle.experiment_ids) - 1:
                wait_until_drained(handle, experiment_id, float(spec["drain_timeout_s"]))
    finally:
        quota_db.close()
    return handle


def pending_of(experiment_id: str, load: Mapping[str, Any]) -> Pending:
    """The passes of EXPERIMENT_ID not terminal yet, given its load summary: the passes the
    collector would count in flight, plus those sent but not in the database yet (see
    :mod:`experiments.pending`)."""
    from experiments.collect_sql import pass_states

    with _db() as db, db.conn().cursor() as cur:
        states = pass_states(cur, experiment_id)
    return pending_from_states(states, acknowledged_questions(load))


def pending(handle: RunHandle) -> int:
    """Questions of the run not yet terminal (the sensor's poke)."""
    total = 0
    for experiment_id, load in zip(handle.experiment_ids, handle.load, strict=False):
        left = pending_of(experiment_id, load)
        if left.total:
            log.info("%s: %d pending (%s)", experiment_id, left.total, left.describe())
        total += left.total
    return total


class DrainTimeout(TimeoutError):
    """Questions were still in flight at the drain deadline."""


def wait_until_drained(handle: RunHandle, experiment_id: str, timeout_s: float) -> None:
    load = handle.load[handle.experiment_ids.index(experiment_id)]
    deadline = time.monotonic() + timeout_s
    while (left := pending_of(experiment_id, load)).total > 0:
        if time.monotonic() > deadline:
            raise DrainTimeout(f"{left.total} questions of {experiment_id} still in flight "
                               f"after {timeout_s:.0f} s ({left.describe()})")
        time.sleep(2.0)


def collect_and_report(handle: RunHandle, spec: Mapping[str, Any],
                       counters_before: Mapping[str, Any]) -> str:
    """Collect every repeat's telemetry, write metrics.json first, then the report."""
    from experiments.collect import collect, counter_delta, snapshot_sim_counters
    from experiments.report import build_report
    from pipeline.llm.settings import LLMSettings
    from pipeline.storage.experiments import ExperimentStore
    from pipeline.storage.settings import DatabaseSettings

    sim_counters: dict[str, Any] | None = None
    if spec["llm"]["backend"] == "simulator":
        after = snapshot_sim_counters(_sim_root(LLMSettings().base_url))
        sim_counters = counter_delta(dict(counters_before), after)
    dsn = DatabaseSettings().dsn.get_secret_value()
    runs = [collect(dsn, experiment_id, spec=dict(spec), sim_counters=sim_counters)
            for experiment_id in handle.experiment_ids]
    target = Path(handle.report_dir)
    build_report(runs if len(runs) > 1 else runs[0], target)
    store = ExperimentStore(_db())
    for index, experiment_id in enumerate(handle.experiment_ids):
        # each repeat keeps its own load summary: a mapping, which the collector reads (the
        # load window, the questions sent) when the run is collected again
        load = handle.load[index] if index < len(handle.load) else None
        store.mark_finished(experiment_id, "finished",
                            summary={"report_dir": str(target), "load": load})
    log.info("report: %s", target / "index.html")
    return str(target)


def previous_run_dir(handle: RunHandle) -> Path | None:
    """The newest earlier report of a run with the same name."""
    root = ReportSettings().reports_root
    pattern = re.compile(rf"^{re.escape(handle.name)}-\d{{8}}-\d{{6}}$")
    earlier = sorted(p for p in root.iterdir()
                     if p.is_dir() and pattern.match(p.name) and p.name < handle.label
                     and (p / "metrics.json").exists()) if root.exists() else []
    return earlier[-1] if earlier else None


def compare_with_previous(handle: RunHandle) -> str | None:
    from experiments.compare import compare
    from experiments.report import build_index

    previous = previous_run_dir(handle)
    root = ReportSettings().reports_root
    if previous is None:
        build_index(root)
        log.info("no earlier run named %s: nothing to compare", handle.name)
        return None
    out = root / "compare" / f"{handle.name}-latest"
    compare([previous, Path(handle.report_dir)], out)
    build_index(root)
    log.info("compared %s with %s: %s", handle.label, previous.name, out)
    return str(out)


def run_experiment(spec: Mapping[str, Any], label: str | None = None,
                   progress: Callable[[str], None] | None = None) -> RunHandle:
    """Every step in one call (the sweep's mapped task and `harness run`): the pipeline must be up."""
    from harness import pipeline

    handle = register(spec, label)
    pipeline.ensure_pipeline(workers=spec["workers"]["count"],
                             concurrency=spec["workers"]["concurrency"])
    counters = configure_llm(spec)
    generate(handle, spec, progress)
    wait_until_drained(handle, handle.experiment_ids[-1], float(spec["drain_timeout_s"]))
    collect_and_report(handle, spec, counters)
    return handle
