"""A job kind for exercising the jobs machinery from tests and from worker subprocesses."""

import os
import time
from pathlib import Path

from photoai.services import jobs

KIND = "test-sleep"


def _sleepy(job_id: int) -> jobs.Outcome:
    """Sleeps on the first attempt (to be killed mid-run), then fails or finishes as asked."""
    view = jobs.get(job_id)
    assert view is not None
    if view.attempts == 1:
        if "pid_file" in view.payload:
            Path(view.payload["pid_file"]).write_text(str(os.getpid()))
        time.sleep(float(view.payload.get("first_attempt_seconds", 0)))
    if view.payload.get("raise") == "permanent":
        raise jobs.PermanentJobError("the input is not usable")
    if view.payload.get("raise") == "transient":
        raise RuntimeError("provider timed out")
    return jobs.Outcome.DONE


jobs.register(KIND, _sleepy)
