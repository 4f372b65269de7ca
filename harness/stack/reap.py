"""``python -m harness.stack.reap``: end the PyFlink Python workers a dead TaskManager left behind.

A TaskManager killed with SIGKILL (a crash, the OOM killer, a fault of an experiment) cannot stop
its PyFlink Python workers: they are re-parented to init and keep their memory until `harness
down`. The TaskManager's supervised command runs this first, so every (re)start of the TaskManager
ends the orphans of the previous one: processes of our Flink environment running
``pyflink.fn_execution`` whose parent is init and that carry this stack's mark.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from foundation.layout import Layout
from foundation.settings import get_settings
from harness.stack import marks
from harness.stack.procs import cmdline, matching, terminate

log = logging.getLogger(__name__)


def _parent(pid: int, proc: Path = Path("/proc")) -> int | None:
    try:
        stat = (proc / str(pid) / "stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def orphaned_pyflink_workers(layout: Layout) -> set[int]:
    """Our Flink environment's Python workers whose TaskManager is gone (parent: init)."""
    mark = marks.stack_id(layout)
    ours = marks.marked(mark)
    workers = matching(str(layout.flink_venv), "pyflink.fn_execution")
    return {pid for pid in workers & ours if _parent(pid) == 1}


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    layout = Layout.of(get_settings())
    orphans = orphaned_pyflink_workers(layout)
    if orphans:
        log.warning("ending %d PyFlink worker(s) left by a dead TaskManager: %s", len(orphans),
                    "; ".join(f"{p} {cmdline(p)[:60]}" for p in sorted(orphans)))
        left = terminate(orphans)
        if left:
            log.error("still alive: %s", sorted(left))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
