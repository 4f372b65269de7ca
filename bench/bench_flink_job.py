"""Sustained throughput of the scoring job on the Flink cluster, with each scorer at parallelism
1 and 2, beside the bare scorer's throughput measured in the same run.

    .state/venv/bin/python bench/bench_flink_job.py                 # both scorers, p = 1 and 2
    .state/venv/bin/python bench/bench_flink_job.py --scorers lexical --parallelism 1

For each (scorer, parallelism): private topics (unique prefix), N answers produced up front
(synthetic 20-120-word answers and references, every question distinct, policy threshold -1
so that each answer is accepted and leaves as one qa.results record), then the job is
submitted and drains the backlog. Throughput is measured on the results' broker append times
(LogAppendTime) between the 10th and the 90th percentile of the N, which leaves out the job's start (Python
workers, model load) and its tail. The job is cancelled and the topics deleted afterwards.

The bare scorer runs in the Flink environment (a subprocess of this script with --bare): the
same scorer options as the job (threads auto: every core, as one job worker at parallelism 1),
`score_batch` over the same kind of pairs in batches of the job's max batch, best of 3.

`--references` says what the timed pass finds of its references (the answers are always new):
- `cold` (the default): references never seen, anywhere: two texts encoded per answer. Each job
  run's references carry a run-unique tag, so neither the job's memory cache nor the reference
  store (docs/architecture.md#reference-embeddings) has them.
- `warm`: every reference was scored once before the timed pass by the same job (a first pass
  of the same N pairs under other question ids, not timed): found in the job's memory cache.
- `stored`: the first pass runs in a first job, which is then cancelled; the timed pass runs in
  a new job, whose Python worker starts empty and finds the references in the reference store:
  a job restarted (`harness down`/`up`, a failover) before a run over questions scored before.
In the bare scorer, `warm` and `stored` both score the pairs once before the timed pass.

Needs the stack (`harness up`) and both task slots free for parallelism 2 (one for
parallelism 1: the pipeline's scoring job may hold the other).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
DEFAULT_N = {"lexical": 20_000, "minilm": 1_200}
BARE_N = {"lexical": 20_000, "minilm": 128}
REFERENCES = {
    "cold": "cold (never seen)",
    "warm": "warm (scored before by the same job)",
    "stored": "stored (scored before by an earlier job)",
}


# --- the bare scorer (runs in the Flink environment) ------------------------------------------


def bare(scorer_name: str, n: int, batch: int, params: dict, references: str = "cold") -> dict:
    sys.path.insert(0, str(BENCH_DIR))
    from bench_scorers import make_pairs  # the scorer bench's synthetic answers

    from flink.scoring import get_scorer

    pairs = make_pairs(n, seed=11)
    best = 0.0
    for _ in range(3):
        scorer = get_scorer(scorer_name, **params)  # fresh: cold reference cache
        scorer.load()
        if references != "cold":
            for i in range(0, n, batch):
                scorer.score_batch(pairs[i : i + batch])
        start = time.perf_counter()
        for i in range(0, n, batch):
            scorer.score_batch(pairs[i : i + batch])
        best = max(best, n / (time.perf_counter() - start))
    return {
        "scorer": scorer_name,
        "pairs": n,
        "batch": batch,
        "pairs_per_s": best,
        "references": references,
    }


def bare_in_flink_env(
    scorer: str, n: int, batch: int, params: dict, references: str = "cold"
) -> float:
    python = REPO / ".state" / "flink-venv" / "bin" / "python"
    out = subprocess.run(
        [
            str(python),
            __file__,
            "--bare",
            scorer,
            "--n",
            str(n),
            "--max-batch",
            str(batch),
            "--params",
            json.dumps(params),
            "--references",
            references,
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=900,
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1])["pairs_per_s"])


# --- the job ----------------------------------------------------------------------------------


def make_answers(
    n: int, scorer: str, experiment: str, id_prefix: str = "q", tag: str = ""
) -> list:
    """N answer envelopes; `tag` prefixes every reference (a run-unique tag: never stored)."""
    sys.path.insert(0, str(BENCH_DIR))
    from bench_scorers import make_pairs

    from pipeline.messages import Envelope

    pairs = make_pairs(n, seed=11)
    return [
        Envelope.model_validate(
            {
                "experiment_id": experiment,
                "question_id": f"{id_prefix}-{i}",
                "attempt": 1,
                "question": {"title": f"question {i}"},
                "reference_answer": f"{tag} {reference}" if tag else reference,
                "policy": {"score_threshold": -1.0, "max_rounds": 0, "scorer": scorer},
                "intended_at": 1.0,
                "created_at": 1.0,
                "answer": {"text": text, "model": "bench"},
            }
        )
        for i, (text, reference) in enumerate(pairs)
    ]


def free_slots() -> int:
    """Free task slots, counting none while another job is on its way in or out (a restarting
    job has released its slots but will take them back). A RUNNING job holds its slots, so the
    rest are free: the pipeline's own scoring job may run beside a parallelism-1 benchmark."""
    from flink.client import FlinkClient
    from flink.control import ACTIVE_STATES

    client = FlinkClient()
    try:
        if any(j.get("state") in ACTIVE_STATES - {"RUNNING"} for j in client.jobs()):
            return 0
        return sum(
            int(tm.get("freeSlots", 0))
            for tm in client._json("GET", "/taskmanagers")["taskmanagers"]
        )
    finally:
        client.close()


def wait_for_slots(n: int, timeout_s: float) -> bool:
    """True once n task slots are free and no other job runs (the cluster is shared), False
    at the deadline."""
    deadline = time.monotonic() + timeout_s
    while free_slots() < n:
        if time.monotonic() > deadline:
            return False
        time.sleep(5)
    return True


def run_job(
    scorer: str,
    parallelism: int,
    n: int,
    max_batch: int,
    params: dict,
    timeout_s: float,
    references: str = "cold",
    **overrides: object,
) -> dict:
    from confluent_kafka import Consumer, KafkaException, Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    from flink.control import ScoringJobControl, job_config
    from foundation.settings import get_settings
    from pipeline.messages import encode
    from pipeline.topics import load_topics

    bootstrap = get_settings().kafka_bootstrap_servers
    catalog = load_topics(prefix=f"bench{uuid.uuid4().hex[:6]}.")
    specs = [catalog.answers, catalog.questions, catalog.results, catalog.dlq, catalog.events]
    admin = AdminClient({"bootstrap.servers": bootstrap})
    new_topics = [NewTopic(**s.new_topic_kwargs()) for s in specs]
    # Results stamped by the broker when written (the job's sink would otherwise copy the input
    # records' timestamps, i.e. when the backlog was produced).
    new_topics[2].config["message.timestamp.type"] = "LogAppendTime"
    control = ScoringJobControl()
    config = job_config(
        catalog=catalog,
        bootstrap_servers=bootstrap,
        default_scorer=scorer,
        scorer_params={scorer: params} if params else {},
        max_batch=max_batch,
        checkpoint_interval_s=5.0,
        window_s=5.0,
        **overrides,
    )
    experiment = f"bench-{scorer}-p{parallelism}"
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    tag = f"[run {uuid.uuid4().hex[:12]}]"

    def produce(id_prefix: str) -> None:
        for env in make_answers(n, scorer, experiment, id_prefix, tag):
            producer.produce(catalog.answers.name, key=env.kafka_key(), value=encode(env))
            producer.poll(0)
        assert producer.flush(60) == 0

    def collect(consumer: Consumer, id_prefix: str, deadline: float) -> list[int]:
        """The broker append times of the N results of one pass (duplicates dropped)."""
        stamps: list[int] = []
        seen: set[bytes] = set()
        while len(seen) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(seen)} of {n} results after {timeout_s:.0f} s")
            for msg in consumer.consume(1000, timeout=1.0):
                key = msg.key() if msg.error() is None else None
                if key is not None and key.startswith(id_prefix.encode()) and key not in seen:
                    seen.add(key)
                    stamps.append(msg.timestamp()[1])
        return stamps

    try:  # the topics are the benchmark's own: whatever fails, none is left behind
        for future in admin.create_topics(new_topics).values():
            future.result(timeout=30)
        consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": uuid.uuid4().hex,
                "auto.offset.reset": "earliest",
            }
        )
        consumer.subscribe([catalog.results.name])
        if references != "cold":  # the same references first, other question ids (not timed)
            produce("warm")
            control.submit(config, parallelism=parallelism)
            collect(consumer, "warm-", time.monotonic() + timeout_s)
            if references == "stored":  # a new job: an empty Python worker, the store kept
                control.stop(config.job_name)
                produce("q")
                control.submit(config, parallelism=parallelism)
            else:
                produce("q")
            t_submit = time.monotonic()
        else:
            produce("q")
            t_submit = time.monotonic()
            control.submit(config, parallelism=parallelism)
        stamps = collect(consumer, "q-", time.monotonic() + timeout_s)
        wall = time.monotonic() - t_submit
        consumer.close()
    finally:
        try:
            control.stop(config.job_name)
        finally:
            control.close()
            producer.flush(10)
            for name, future in admin.delete_topics([s.name for s in specs]).items():
                try:
                    future.result(timeout=30)
                except KafkaException as exc:  # never created (creation failed part way)
                    print(f"topic {name} not deleted: {exc}", file=sys.stderr)
    stamps.sort()
    lo, hi = stamps[int(0.1 * n)], stamps[int(0.9 * n) - 1]
    rate = (int(0.9 * n) - int(0.1 * n) - 1) / max((hi - lo) / 1000.0, 1e-3)
    return {
        "scorer": scorer,
        "parallelism": parallelism,
        "answers": n,
        "answers_per_s": rate,
        "wall_s": wall,
        "references": references,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scorers", nargs="+", default=["lexical", "minilm"])
    parser.add_argument("--parallelism", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--n", type=int, help="answers per job run (default: by scorer)")
    parser.add_argument("--max-batch", type=int, default=64)
    parser.add_argument(
        "--params", default="{}", help="scorer options as JSON, e.g. '{\"threads\": 1}'"
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="per job run, seconds")
    parser.add_argument(
        "--score-timeout",
        type=float,
        default=0.0,
        help="the job's per-record scoring timeout (0: none)",
    )
    parser.add_argument(
        "--slot-wait",
        type=float,
        default=600.0,
        help="seconds to wait for free task slots (the cluster is shared) before skipping a run",
    )
    parser.add_argument(
        "--references",
        choices=REFERENCES,
        default="cold",
        help="cold: never seen; warm: scored before by the same job (memory cache); stored: "
        "scored before by an earlier job (reference store)",
    )
    parser.add_argument(
        "--baseline",
        type=float,
        metavar="ANSWERS_PER_S",
        help="an earlier job answers/s to print the ratio against (e.g. 16.8, MiniLM at p=1 "
        "before the reference store)",
    )
    parser.add_argument("--bare", metavar="SCORER", help=argparse.SUPPRESS)
    args = parser.parse_args()
    params = json.loads(args.params)
    if args.bare:
        n = args.n or BARE_N[args.bare]
        print(json.dumps(bare(args.bare, n, args.max_batch, params, args.references)))
        return 0

    rows = []
    for scorer in args.scorers:
        bare_rate = bare_in_flink_env(
            scorer, BARE_N[scorer], args.max_batch, params, args.references
        )
        print(f"bare {scorer}: {bare_rate:,.0f} pairs/s", file=sys.stderr, flush=True)
        for p in args.parallelism:
            if not wait_for_slots(p, args.slot_wait):
                print(
                    f"skipping {scorer} p={p}: fewer than {p} free task slots "
                    f"after {args.slot_wait:.0f} s",
                    file=sys.stderr,
                )
                continue
            row = run_job(
                scorer,
                p,
                args.n or DEFAULT_N[scorer],
                args.max_batch,
                params,
                args.timeout,
                references=args.references,
                score_timeout_s=args.score_timeout,
            )
            row["bare_pairs_per_s"] = bare_rate
            rows.append(row)
            print(
                f"job {scorer} p={p}: {row['answers_per_s']:,.0f} answers/s",
                file=sys.stderr,
                flush=True,
            )

    print(f"\nreferences: {REFERENCES[args.references]}; scorer options: {params or 'defaults'}")
    baseline = f" {'x baseline':>10}" if args.baseline else ""
    print(
        f"{'scorer':<9} {'p':>2} {'answers':>8} {'job answers/s':>14} "
        f"{'bare pairs/s':>13} {'job/bare':>9} {'wall s':>7}{baseline}"
    )
    for r in rows:
        ratio = f" {r['answers_per_s'] / args.baseline:>10.2f}" if args.baseline else ""
        print(
            f"{r['scorer']:<9} {r['parallelism']:>2} {r['answers']:>8} "
            f"{r['answers_per_s']:>14,.1f} {r['bare_pairs_per_s']:>13,.1f} "
            f"{r['answers_per_s'] / r['bare_pairs_per_s']:>9.3f} {r['wall_s']:>7.0f}{ratio}"
        )
    if args.baseline:
        print(f"baseline: {args.baseline:,.1f} answers/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
