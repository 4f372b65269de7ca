"""The Workers section of a run report: questions and LLM calls per worker, shown only when the
run's attempts name their workers."""

from __future__ import annotations

from pathlib import Path

from experiments.metrics import compute, read_metrics, write_metrics
from experiments.metrics.synthetic import SyntheticProfile, make_run
from experiments.report.content import run_document, worker_rows
from experiments.report.html import to_html
from experiments.report.markdown import to_markdown

SMALL = SyntheticProfile(duration_s=20.0, warmup_s=5.0, rate=5.0)
FLEET = ("3f2a9c1b7d4e-0-1", "8b01d2aa0000-0-1")


def _metrics(tmp_path: Path, *, workers: bool):
    run = make_run(2, profile=SMALL)
    if workers:
        order = sorted({a.question_id for a in run.attempts})
        for a in run.attempts:
            # every tenth question's calls lost their events: an "unknown" row
            i = order.index(a.question_id)
            a.worker = None if i % 10 == 9 else FLEET[i % 2]
    write_metrics(compute(run), tmp_path)
    return read_metrics(tmp_path)  # the report reads metrics.json only


def test_the_section_lists_each_worker_with_its_share(tmp_path: Path) -> None:
    m = _metrics(tmp_path, workers=True)
    rows = worker_rows(m)
    assert [r[0] for r in rows] == ["3f2a9c", "8b01d2", "unknown"]
    answered = sum(w.questions_answered for w in m.workers)
    assert [r[1] for r in rows] == [str(w.questions_answered) for w in m.workers]
    assert rows[0][2] == f"{100 * m.workers[0].questions_answered / answered:.1f}%"
    md = to_markdown(run_document(m, {}))
    assert "## Workers" in md
    assert "| worker | questions answered | share | LLM calls | errors | call p50 | call p99 |" in md
    assert "3f2a9c = 3f2a9c1b7d4e-0-1" in md  # the label's full id
    html = to_html(run_document(m, {}))
    assert ">Workers<" in html and "<td>8b01d2</td>" in html.replace(' class="num"', "")


def test_no_section_without_workers(tmp_path: Path) -> None:
    m = _metrics(tmp_path, workers=False)
    assert m.workers == []
    assert "## Workers" not in to_markdown(run_document(m, {}))
    assert ">Workers<" not in to_html(run_document(m, {}))



def _with_spec_workers(m, count: int):
    return m.model_copy(update={"spec": {**m.spec, "workers": {"count": count, "concurrency": 64}}})


def test_what_was_tested_names_the_workers_that_ran_when_the_deployment_ran_more(tmp_path: Path) -> None:
    from experiments.report.tested import setting_rows, workers_seen

    m = _with_spec_workers(_metrics(tmp_path, workers=True), 1)
    assert workers_seen(m) == 2  # the unknown row is not a worker
    row = dict(setting_rows(m))["workers"]
    assert row == "1 x 64 concurrent calls in the spec; 2 made the run's LLM calls (the deployment's count)"
    assert workers_seen(_metrics(tmp_path, workers=False)) == 0


def test_a_restarted_worker_is_the_same_slot_and_a_matching_count_says_nothing_more(tmp_path: Path) -> None:
    from experiments.report.tested import setting_rows, workers_seen

    m = _with_spec_workers(_metrics(tmp_path, workers=True), 2)
    restarted = [w.model_copy(update={"worker": w.worker.rsplit("-", 1)[0] + "-99"})
                 for w in m.workers if w.worker]
    m = m.model_copy(update={"workers": [*m.workers, *restarted]})
    assert workers_seen(m) == 2
    assert dict(setting_rows(m))["workers"] == "2 x 64 concurrent calls"
