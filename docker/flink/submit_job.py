"""The scoring job on the compose deployment's Flink cluster (the `scoring-job` service).

What harness.pipeline.ensure_flink_job does for the local stack, from a container that has
PyFlink (`flink run --python` builds the job graph in the client): wait until the cluster has a
TaskManager, then submit the job unless it already runs. Exit 0 when it runs.
HARNESS_COMPOSE_FLINK_PARALLELISM sets its parallelism (default: the cluster's, 1).
"""

import logging
import os
import sys

from flink.control import ScoringJobControl, job_config
from foundation.settings import get_settings
from harness.stack import probes


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per REST poll otherwise
    settings = get_settings()
    probes.wait_until("flink", probes.flink(settings.flink_url), settings.ready_timeout_s)
    parallelism = int(os.environ.get("HARNESS_COMPOSE_FLINK_PARALLELISM") or 0) or None
    with ScoringJobControl() as control:
        config = job_config()
        status = control.status(config.job_name)
        if status.running and status.job_id:
            print(f"{config.job_name} already {status.state}: {status.job_id}")
            return 0
        job_id = control.submit(config, parallelism=parallelism)
        print(f"{config.job_name} submitted and running: {job_id} (parallelism {parallelism or 'default'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
