"""One experiment run, step by step: the logic behind the `experiment` DAG and `harness run`.

A run's state lives in PostgreSQL (the runs table, :mod:`pipeline.storage.runs`), not in the
process that drives it, so every step can be retried and every wait survives a restart of its
orchestrator. The DAG's tasks, in order:

    validate(conf) -> spec
    register(spec, label) -> RunHandle (a runs row, one experiments row per repeat)
    (wait until no other run has questions in the pipeline: experiments.lifecycle)
    harness.pipeline.ensure_pipeline(...)     (topics, services, the Flink scoring job)
    start_load(label) -> the detached load process (experiments.loader): isolation, the
                         simulator's profile, the load of every repeat
    (wait until the run drains, fails, or its drain times out: experiments.lifecycle)
    finish(label) -> report folder: metrics.json and the report, partial when the run failed;
                     the run's status (finished | failed) and reason recorded
    compare_with_previous(handle) -> comparison folder or None

`harness run` calls :func:`run_experiment`, which does the same in this process.
A repeat is a run of the same spec under its own experiment id, so each repeat's questions are
asked afresh (the answer cache is scoped to the experiment).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from experiments import spec as spec_module
from experiments.collect_meta import git_revision
from experiments.lifecycle import Assessment, LifecycleSettings, assess_drain, last_pending
from experiments.params import spec_from_conf
from experiments.pending import Pending, pending_for_experiment
from experiments.quota_watch import QuotaWatch, count_quota_errors_in
from experiments.report.settings import ReportSettings
from pipeline.storage.runs import RunRow, RunStore

log = logging.getLogger(__name__)


@dataclass
class RunHandle:
    """What a run's tasks share: who it is and where its report goes."""

    name: str
    label: str  # the run's folder name under reports/
    experiment_ids: list[str]
    report_dir: str
    load: list[dict[str, Any]] = field(default_factory=list)  # LoadSummary per repeat
    #: the fault schedules still running in this process (not part of the handle's data)
    fault_runners: list[Any] = field(default_factory=list, repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("fault_runners", None)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunHandle:
        return cls(**dict(data))

    @classmethod
    def from_row(cls, run: RunRow) -> RunHandle:
        return cls(name=run.name, label=run.label, experiment_ids=list(run.experiment_ids),
                   report_dir=str(report_dir_for(run.label)))


def _db():
    from pipeline.storage.db import Database

    return Database(application_name="experiment-runner", autocommit=True)


def report_dir_for(label: str) -> Path:
    return ReportSettings().reports_root / label


# -- steps ------------------------------------------------------------------------------------


def validate(conf: Mapping[str, Any]) -> dict[str, Any]:
    """The complete spec from a trigger's conf (flat form fields or a nested spec).

    Raises experiments.spec.SpecError naming the offending field.
    """
    if any(key in spec_module.SECTIONS for key in conf):
        return spec_module.validate(dict(conf))
    return spec_from_conf(dict(conf))


_LABEL_CHARS = re.compile(r"[^A-Za-z0-9_.-]")
#: run ids Airflow makes itself (manual__2026-..., scheduled__...): they do not name a run
_GENERATED_RUN_ID = re.compile(r"^(manual|scheduled|backfill|asset_triggered|dataset_triggered)__")


def run_label(name: str, when: datetime | None = None) -> str:
    when = when or datetime.now(UTC)
    return f"{name}-{when:%Y%m%d-%H%M%S}"


def label_for_dag_run(name: str, run_id: str, run_after: datetime | None) -> str:
    """The run's label (report folder) from its Airflow run: the run id itself when the caller
    named it (`harness trigger`, the sweep: ``demo-20261201-194058``), else ``<name>-<run_after>``.
    The same for every try of every task of the run, so a retried step finds its own run."""
    if not _GENERATED_RUN_ID.match(run_id):
        return _LABEL_CHARS.sub("-", run_id)
    return run_label(name, run_after)


def register(spec: Mapping[str, Any], label: str | None = None,
             dag_run_id: str | None = None) -> RunHandle:
    """Record the run (a runs row, one experiments row per repeat) and choose its report folder.
    Idempotent: registering the same label again returns the run as it is."""
    from pipeline.storage.experiments import ExperimentStore

    label = _LABEL_CHARS.sub("-", label or run_label(spec["name"]))
    repeats = int(spec["repeats"])
    ids = [label if repeats == 1 else f"{label}-r{i + 1}" for i in range(repeats)]
    db = _db()
    try:
        store = ExperimentStore(db)
        revision = git_revision()
        existing = RunStore(db).get(label)
        if existing is None:
            for experiment_id in ids:
                store.create(experiment_id, spec["name"], spec, git_revision=revision)
        run = RunStore(db).create(label, spec["name"], spec, ids, dag_run_id=dag_run_id)
    finally:
        db.close()
    handle = RunHandle.from_row(run)
    log.info("registered %s (%d repeat(s)); report: %s", label, repeats, handle.report_dir)
    return handle


def configure_llm(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Switch the simulator to the run's fault profile (seeded), with the spec's
    ``llm.profile_overrides`` merged over it by the simulator (nested objects merge, lists
    replace: pipeline.llm.sim.profiles.resolve_profile); return its counters before the load so
    the report can show this run's ground truth. Real backends have no counters: {}."""
    if spec["llm"]["backend"] != "simulator":
        return {}
    from pipeline.llm.settings import LLMSettings
    from pipeline.llm.sim.runner import SimulatorAdmin

    overrides = dict(spec["llm"].get("profile_overrides") or {})
    admin = SimulatorAdmin(_sim_root(LLMSettings().base_url))
    admin.set_profile({"name": spec["llm"]["profile"], **overrides, "seed": int(spec["seed"])})
    log.info("simulator profile: %s%s (seed %s)", spec["llm"]["profile"],
             f" with overrides {sorted(overrides)}" if overrides else "", spec["seed"])
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
    """Send the load of every repeat (the load process's step). Each repeat but the last is
    drained before the next starts (so repeats do not overlap); the drain wait takes the last.
    Each repeat's load summary is stored in its experiments row as soon as it is sent."""
    from experiments.faults import FaultRunner, LocalStackInjector, parse_faults, record_in_events
    from pipeline.generator.load import run_load
    from pipeline.storage.experiments import ExperimentStore

    questions = questions_for(spec)
    store = ExperimentStore(_db())
    arrival = spec_module.arrival_spec(spec)
    faults = parse_faults(spec.get("faults"))
    quota_db = _db()
    fault_runners: list[FaultRunner] = []
    handle.fault_runners = fault_runners  # on the handle at once: the loader closes them if this fails
    try:
        for index, experiment_id in enumerate(handle.experiment_ids):
            store.mark_started(experiment_id)
            if faults:  # the schedule, relative to each repeat's load start
                fault_runners.append(FaultRunner(faults, LocalStackInjector(),
                                                 record=record_in_events(experiment_id)).start())
            stop_event = threading.Event()
            with QuotaWatch(experiment_id, int(spec["llm"]["stop_after_quota_errors"]),
                            stop_event, count=count_quota_errors_in(quota_db)) as watch:
                summary = run_load(experiment_id, questions, arrival, experiment_policy(spec),
                                   duration_s=float(spec["arrival"]["duration_s"]),
                                   repeat_share=float(spec["dataset"]["repeat_share"]),
                                   seed=int(spec["seed"]) + index, stop=stop_event)
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
                if fault_runners:
                    fault_runners[-1].wait()
                wait_until_drained(handle, experiment_id, float(spec["drain_timeout_s"]))
    finally:
        quota_db.close()
        store.db.close()
    return handle


def pending_of(experiment_id: str, load: Mapping[str, Any]) -> Pending:
    """The passes of EXPERIMENT_ID not terminal yet, given its load summary (see
    :mod:`experiments.pending`)."""
    with _db() as db:
        return pending_for_experiment(db, experiment_id, load)


def pending(handle: RunHandle) -> int:
    """Questions of the run not yet terminal."""
    total = 0
    for experiment_id, load in zip(handle.experiment_ids, handle.load, strict=False):
        left = pending_of(experiment_id, load)
        if left.total:
            log.info("%s: %d pending (%s)", experiment_id, left.total, left.describe())
        total += left.total
    return total


class DrainTimeout(TimeoutError):
    """Questions were still in flight at the drain deadline."""


def wait_until_drained(handle: RunHandle, experiment_id: str, timeout_s: float,
                       poll_s: float = 2.0) -> None:
    """Block until one repeat of HANDLE has nothing pending; :class:`DrainTimeout` after
    TIMEOUT_S (the load process's wait between repeats, and tests')."""
    load = handle.load[handle.experiment_ids.index(experiment_id)]
    deadline = time.monotonic() + timeout_s
    while (left := pending_of(experiment_id, load)).total > 0:
        if time.monotonic() > deadline:
            raise DrainTimeout(f"{left.total} questions of {experiment_id} still in flight "
                               f"after {timeout_s:.0f} s ({left.describe()})")
        time.sleep(poll_s)


def start_load(label: str) -> dict[str, Any]:
    """Start the run's detached load process unless it has one (or has ended): idempotent, so a
    retried task never sends the load twice. Returns the run's phase and load process."""
    from experiments.loader import start_detached

    with _db() as db:
        run = RunStore(db).get(label)
    if run is None:
        raise LookupError(f"no run {label!r} is registered")
    if run.loader_pid is None and not run.ended:
        with _db() as db:
            RunStore(db).request_load(label)
        pid = start_detached(label)
        return {"label": label, "phase": run.phase, "loader_pid": pid, "started": True}
    log.info("run %s already has its load process (pid %s, phase %s, status %s)", label,
             run.loader_pid, run.phase, run.status)
    return {"label": label, "phase": run.phase, "loader_pid": run.loader_pid, "started": False}


def assess(label: str, now: float | None = None) -> Assessment:
    """The drain wait's poll: the run's state, its pending questions, the drain deadline."""
    with _db() as db:
        run = RunStore(db).get(label)
        if run is None:
            return Assessment("failed", f"no run {label!r} is registered")
        left = last_pending(db, run) if run.phase == "draining" and not run.ended else None
    return assess_drain(run, left, time.time() if now is None else now,
                        float(run.spec.get("drain_timeout_s", 600)))


def wait_for_run(label: str, settings: LifecycleSettings | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 progress: Callable[[str], None] | None = None) -> Assessment:
    """Poll :func:`assess` until the run drained or failed (`harness run`'s wait; the DAG waits
    on the triggerer with the same decision)."""
    settings = settings or LifecycleSettings()
    said = ""
    while not (verdict := assess(label)).done:
        if progress and verdict.message != said:
            progress(verdict.message)
            said = verdict.message
        sleep(settings.poll_interval_s)
    return verdict


def finish(label: str, verdict: Mapping[str, Any] | None = None) -> str:
    """The report step, whatever happened before it: end the run (``finished`` when it drained,
    else ``failed`` with the reason), collect every repeat's telemetry, write metrics.json and the
    report (partial, headed by what went wrong, when the run did not finish). Idempotent: run
    again, it rewrites the same folder. VERDICT is the drain wait's assessment if it ran."""
    from experiments.collect import collect, counter_delta, snapshot_sim_counters
    from experiments.lifecycle import last_durable, overlapping_runs, run_pending
    from experiments.report import build_report
    from pipeline.llm.settings import LLMSettings
    from pipeline.storage.experiments import ExperimentStore
    from pipeline.storage.settings import DatabaseSettings

    with _db() as db:
        runs = RunStore(db)
        run = runs.get(label)
        if run is None:
            raise LookupError(f"no run {label!r} is registered")
        left = run_pending(db, run) or 0
        if not run.ended:
            if verdict and verdict.get("outcome") == "failed":
                runs.end(label, "failed", str(verdict.get("message")), in_flight=left)
            elif run.phase in ("draining", "drained", "reported") and left == 0:
                # the drain ended when its last question became durable, not when this step ran
                # (another run may have taken the pipeline in between)
                drained = last_durable(db, run.experiment_ids) or time.time()
                runs.set_phase(label, "drained", drained_at=drained)
                runs.end(label, "finished", in_flight=0)
            else:
                runs.end(label, "failed", f"the run stopped in phase {run.phase!r} before its "
                         f"questions drained (a step of the run failed)", in_flight=left)
        run = runs.get(label)
        assert run is not None
        overlaps = overlapping_runs(db, run, until=run.drained_at or time.time())
    spec = run.spec
    sim_counters: dict[str, Any] | None = None
    if spec["llm"]["backend"] == "simulator" and run.sim_counters is not None:
        try:
            after = snapshot_sim_counters(_sim_root(LLMSettings().base_url))
            sim_counters = counter_delta(dict(run.sim_counters), after)
        except OSError as exc:  # the simulator is down: the report goes without ground truth
            log.warning("simulator counters unavailable: %s", exc)
    dsn = DatabaseSettings().dsn.get_secret_value()
    collected = []
    for experiment_id in run.experiment_ids:
        data = collect(dsn, experiment_id, spec=dict(spec), sim_counters=sim_counters)
        data.meta.status = run.status if run.status != "running" else "finished"
        data.meta.failure = run.reason
        data.meta.overlapping_runs = overlaps
        collected.append(data)
    target = report_dir_for(label)
    try:
        audit_run(label)  # audit.json first: the report opens with its verdict
    except Exception as exc:  # the report goes out without it, saying so in the log
        log.warning("audit of %s failed: %s: %s", label, type(exc).__name__, exc)
    build_report(collected if len(collected) > 1 else collected[0], target)
    with _db() as db:
        store = ExperimentStore(db)
        for experiment_id in run.experiment_ids:
            loaded = store.get(experiment_id) or {}
            summary = dict(loaded.get("summary") or {})
            store.mark_finished(experiment_id, "finished" if run.status == "finished" else "failed",
                                summary={**summary, "report_dir": str(target),
                                         "reason": run.reason})
        RunStore(db).record_report(label, str(target))
    log.info("report (%s): %s", run.status, target / "index.html")
    return str(target)


def audit_run(label: str) -> dict[str, Any]:
    """The audit step: prove that every question the run sent ended in exactly one terminal state
    (:mod:`experiments.audit`); writes ``audit.json`` into the run's report folder, which the
    report opens with. Returns the verdict and its counts."""
    from experiments.audit import audit, write_audit

    with _db() as db:
        result = audit(db, label)
    write_audit(result, report_dir_for(label))
    for line in result.lines():
        log.info("audit %s: %s", label, line)
    return {"verdict": result.verdict, "exit_code": result.exit_code, **result.totals}


def read_audit(label: str) -> dict[str, Any] | None:
    """The run's audit.json (None when it has none)."""
    import json

    path = report_dir_for(label) / "audit.json"
    try:
        return dict(json.loads(path.read_text()))
    except (FileNotFoundError, ValueError):
        return None


def conclude(label: str) -> RunRow | None:
    """The run as it ended; a run still ``running`` here lost a step for good (its report step
    included): it is ended as ``failed`` with that reason."""
    with _db() as db:
        runs = RunStore(db)
        run = runs.get(label)
        if run is not None and not run.ended:
            run = runs.end(label, "failed", f"a step of the run failed in phase {run.phase!r} "
                           "(see the Airflow task logs)")
        return run


def run_status(label: str) -> RunRow | None:
    with _db() as db:
        return RunStore(db).get(label)


def previous_run_dir(handle: RunHandle) -> Path | None:
    """The newest earlier finished run with the same name that has a report."""
    with _db() as db:
        runs = RunStore(db)
        this = runs.get(handle.label)
        before = this.created_at if this is not None else time.time()
        previous = runs.previous_finished(handle.name, before, exclude=handle.label)
    if previous is None or previous.report_dir is None:
        return None
    path = Path(previous.report_dir)
    return path if (path / "metrics.json").exists() else None


def compare_with_previous(handle: RunHandle) -> str | None:
    """Compare a finished run with the previous finished run of the same name (a failed run is
    not compared: its figures are partial). Rebuilds the reports index either way."""
    from experiments.compare import compare
    from experiments.report import build_index

    root = ReportSettings().reports_root
    this = run_status(handle.label)
    previous = previous_run_dir(handle) if this is not None and this.status == "finished" else None
    if previous is None:
        build_index(root)
        log.info("%s: nothing to compare with", handle.label)
        return None
    out = root / "compare" / f"{handle.name}-latest"
    compare([previous, Path(handle.report_dir)], out)
    build_index(root)
    log.info("compared %s with %s: %s", handle.label, previous.name, out)
    return str(out)


def run_experiment(spec: Mapping[str, Any], label: str | None = None,
                   progress: Callable[[str], None] | None = None) -> RunHandle:
    """Every step in this process (`harness run`): the pipeline must be up. The report is
    written whatever happens; a run that did not finish raises :class:`RunFailed` after it."""
    from experiments.loader import load_run

    handle = register(spec, label)
    verdict: Assessment | None = None
    try:
        load_run(handle.label, progress)
        verdict = wait_for_run(handle.label, progress=progress)
    except Exception as exc:
        verdict = Assessment("failed", f"{type(exc).__name__}: {exc}")
        raise
    finally:
        finish(handle.label, verdict.as_dict() if verdict else None)
    run = run_status(handle.label)
    if run is not None and run.status != "finished":
        raise RunFailed(run.reason or run.status, handle)
    return handle


class RunFailed(RuntimeError):
    """The run ended without finishing; its (partial) report was written."""

    def __init__(self, reason: str, handle: RunHandle) -> None:
        super().__init__(reason)
        self.handle = handle
