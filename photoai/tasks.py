"""RQ entry points: they take ids, call services, and are safe to run more than once."""

import logging
import os

# Importing the services registers their job kinds (and upkeep) with the job runner.
from photoai.services import gallery as _gallery  # noqa: F401
from photoai.services import generation as _generation  # noqa: F401
from photoai.services import jobs, maintenance
from photoai.services import training as _training  # noqa: F401


def run_job(job_id: int) -> str:
    return jobs.run(job_id)


def run_upkeep(parent_pid: int) -> None:
    """The upkeep loop of a worker, in a spawned process of its own; it ends with its parent."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    maintenance.run_forever(lambda: os.getppid() == parent_pid)
