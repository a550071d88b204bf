"""RQ entry points: they take ids, call services, and are safe to run more than once."""

# Importing the services registers their job kinds (and upkeep) with the job runner.
from photoai.services import generation as _generation  # noqa: F401
from photoai.services import jobs
from photoai.services import training as _training  # noqa: F401
from photoai.services.privacy import deletion as _deletion  # noqa: F401
from photoai.services.privacy import export as _export  # noqa: F401
from photoai.services.privacy import retention as _retention  # noqa: F401


def run_job(job_id: int) -> str:
    return jobs.run(job_id)
