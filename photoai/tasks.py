"""RQ entry points: they take ids, call services, and are safe to run more than once."""

import logging
import os
import time

from photoai.observe import context, metrics, startup

# Importing the services registers their job kinds (and upkeep) with the job runner.
from photoai.services import gallery as _gallery  # noqa: F401
from photoai.services import generation as _generation  # noqa: F401
from photoai.services import jobs, maintenance
from photoai.services import training as _training  # noqa: F401
from photoai.services.privacy import deletion as _deletion  # noqa: F401
from photoai.services.privacy import export as _export  # noqa: F401
from photoai.services.privacy import retention as _retention  # noqa: F401

log = logging.getLogger("photoai.jobs")

# A worker imports this module before it takes any job: logging and error reporting start here.
startup.start()


def run_job(job_id: int) -> str:
    """One attempt, logged as one line when it starts and one when it ends, with its ids."""
    view = jobs.get(job_id)
    kind = view.kind if view else "unknown"
    with context.unit(job_id=job_id, job_kind=kind):
        if view is not None:
            context.bind(provider=view.provider or None, user_id=view.user_id)
        log.info("job started", extra={"attempt": view.attempts + 1 if view else 0})
        started = time.perf_counter()
        outcome = "retry"
        try:
            outcome = jobs.run(job_id)
            return outcome
        finally:
            seconds = time.perf_counter() - started
            metrics.JOB_ATTEMPTS.labels(kind, outcome).inc()
            metrics.JOB_ATTEMPT_SECONDS.labels(kind, outcome).observe(seconds)
            log.info(
                "job finished", extra={"outcome": outcome, "duration_ms": round(seconds * 1000)}
            )


def run_upkeep(parent_pid: int) -> None:
    """The upkeep loop of a worker, in a spawned process of its own; it ends with its parent."""
    maintenance.run_forever(lambda: os.getppid() == parent_pid)
