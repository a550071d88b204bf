"""The run command's process plan: which Redis database Reflex gets, and how many processes."""

import os
import subprocess
import sys

import pytest

from photoai.serve_plan import JOB_PROCESSES_PER_CORE, MAX_JOB_PROCESSES, plan, reflex_state_url
from tests.conftest import REDIS_TEST_URL

UNREACHABLE = "redis://127.0.0.1:1/0"


def _planned(env: dict[str, str]) -> dict[str, str]:
    """What `eval "$(photoai serve-plan)"` exports in a shell, as run.sh does it."""
    script = (
        f'eval "$({sys.executable} -m photoai.cli serve-plan)"; '
        'printf "%s|%s|%s" "$REFLEX_REDIS_URL" "$GRANIAN_WORKERS" "$PHOTOAI_JOB_WORKERS"'
    )
    chosen = ("REFLEX_REDIS_URL", "PHOTOAI_JOB_WORKERS")
    base = {k: v for k, v in os.environ.items() if k not in chosen}
    out = subprocess.run(
        ["bash", "-c", script], env=base | env, capture_output=True, text=True, check=True
    ).stdout
    url, backends, jobs = out.split("|")
    return {"url": url, "backends": backends, "jobs": jobs}


@pytest.mark.parametrize(
    ("product", "reflex"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/1"),
        ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379/1"),
        ("rediss://:pw@cache.internal:6380/4", "rediss://:pw@cache.internal:6380/5"),
        ("unix:///run/redis.sock?db=2", "unix:///run/redis.sock?db=3"),
    ],
)
def test_reflex_state_goes_to_the_next_database(product: str, reflex: str) -> None:
    assert reflex_state_url(product) == reflex


def test_the_last_database_has_no_next_one() -> None:
    with pytest.raises(ValueError, match="REFLEX_REDIS_URL"):
        reflex_state_url("redis://127.0.0.1:6379/15")


def test_with_redis_every_core_serves_pages_and_several_jobs() -> None:
    plan = _planned({"PHOTOAI_REDIS_URL": REDIS_TEST_URL})
    cores = os.cpu_count() or 1
    assert plan == {
        "url": reflex_state_url(REDIS_TEST_URL),
        "backends": str(cores),
        "jobs": str(min(MAX_JOB_PROCESSES, cores * JOB_PROCESSES_PER_CORE)),
    }


@pytest.mark.parametrize(("cores", "jobs"), [(1, 10), (2, 20), (4, 40), (64, 40)])
def test_job_processes_grow_with_the_cores_up_to_a_cap(cores: int, jobs: int) -> None:
    assert plan(REDIS_TEST_URL, cores).job_workers == jobs


def test_an_operators_job_worker_count_wins() -> None:
    plan = _planned({"PHOTOAI_REDIS_URL": REDIS_TEST_URL, "PHOTOAI_JOB_WORKERS": "3"})
    assert plan["jobs"] == "3"


def test_a_job_worker_count_that_is_not_a_number_is_refused() -> None:
    script = f"{sys.executable} -m photoai.cli serve-plan"
    env = {**os.environ, "PHOTOAI_REDIS_URL": REDIS_TEST_URL, "PHOTOAI_JOB_WORKERS": "many"}
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True)
    assert done.returncode != 0 and "PHOTOAI_JOB_WORKERS must be a whole number" in done.stderr


def test_an_operators_reflex_url_wins() -> None:
    mine = "redis://127.0.0.1:6379/14"
    plan = _planned({"PHOTOAI_REDIS_URL": REDIS_TEST_URL, "REFLEX_REDIS_URL": mine})
    assert plan["url"] == mine


def test_without_redis_one_backend_runs_the_jobs_itself() -> None:
    plan = _planned({"PHOTOAI_REDIS_URL": UNREACHABLE})
    assert plan == {"url": "", "backends": "1", "jobs": "0"}
