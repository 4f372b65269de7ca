"""``harness topics ensure | list``: create the pipeline's topics from the spec, list them."""

from __future__ import annotations

import argparse
from typing import Any

from pipeline.topics import load_topics


def _ensure(args: argparse.Namespace) -> int:
    from pipeline.kafka.admin import ensure_topics
    from pipeline.kafka.clients import make_admin
    from pipeline.kafka.settings import KafkaSettings

    topics = load_topics(prefix=args.prefix)
    reports = ensure_topics(make_admin(KafkaSettings()), topics, grow_partitions=args.grow)
    for report in reports:
        print(report.line())
    bad = [r for r in reports if r.action == "partitions_mismatch"]
    return 1 if bad else 0


def _list(args: argparse.Namespace) -> int:
    from pipeline.kafka.admin import list_topics
    from pipeline.kafka.clients import make_admin
    from pipeline.kafka.settings import KafkaSettings

    prefix = args.prefix if args.prefix is not None else load_topics().prefix
    for name, partitions in list_topics(make_admin(KafkaSettings()), prefix=prefix).items():
        print(f"{name:40s} {partitions:3d} partition(s)")
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("topics", help="create (ensure) or list the pipeline's topics")
    sub = parser.add_subparsers(dest="topics_command", metavar="ACTION")
    sub.required = True
    ensure = sub.add_parser("ensure", help="create missing topics from the spec; verify the rest")
    ensure.add_argument("--prefix", default=None, help="topic name prefix (default: the setting)")
    ensure.add_argument("--grow", action="store_true", help="add partitions up to the spec")
    ensure.set_defaults(func=_ensure)
    lst = sub.add_parser("list", help="topics on the broker and their partition counts")
    lst.add_argument("--prefix", default=None, help="only names starting with this")
    lst.set_defaults(func=_list)
