import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from rq import SimpleWorker
from sqlalchemy import delete, text
from sqlmodel import col

from photoai.db import session_scope
from photoai.models import Job, JobStatus
from photoai.services import credits, jobs, queue
from photoai.services import redis_conn as redis_probe
from photoai.settings import PROJECT_ROOT, get_settings
from tests import jobs_support
from tests.factories import make_user


@pytest.fixture
def fast_jobs(monkeypatch: pytest.MonkeyPatch, redis_conn: redis.Redis) -> None:
    monkeypatch.setenv("PHOTOAI_JOB_HEARTBEAT_SECONDS", "1")
    monkeypatch.setenv("PHOTOAI_JOB_STALE_AFTER_SECONDS", "3")
    get_settings.cache_clear()
    redis_probe.reset_cache()


def work_burst() -> None:
    q = queue.rq_queue()
    assert q is not None
    SimpleWorker([q], connection=q.connection).work(burst=True)


def wait_for(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def test_job_runs_through_rq_and_captures_nothing_it_did_not_use(pg: str, fast_jobs: None) -> None:
    uid = make_user(10)
    job_id = jobs.create(jobs_support.KIND, user_id=uid, credits_to_hold=4)
    assert credits.balance(uid) == 6
    work_burst()
    view = jobs.get(job_id)
    assert view is not None and view.status == JobStatus.SUCCEEDED and view.progress == 1.0
    assert credits.balance(uid) == 10  # nothing captured: the hold went back
    assert jobs.run(job_id) == "skipped"  # idempotent: a finished job is never run again


def test_permanent_error_fails_once_and_releases_credits(pg: str, fast_jobs: None) -> None:
    uid = make_user(10)
    job_id = jobs.create(
        jobs_support.KIND, user_id=uid, credits_to_hold=5, payload={"raise": "permanent"}
    )
    work_burst()
    view = jobs.get(job_id)
    assert view is not None
    assert (view.status, view.attempts, view.error) == ("failed", 1, "the input is not usable")
    assert credits.balance(uid) == 10 == credits.ledger_sum(uid)


def test_transient_errors_retry_then_fail_visibly(pg: str, fast_jobs: None) -> None:
    uid = make_user(10)
    job_id = jobs.create(
        jobs_support.KIND, user_id=uid, credits_to_hold=3, payload={"raise": "transient"}
    )
    for attempt in (1, 2):
        with pytest.raises(RuntimeError):
            jobs.run(job_id)
        assert jobs.get(job_id).status == "queued"  # type: ignore[union-attr]
        assert credits.balance(uid) == 7, f"credits stay held after attempt {attempt}"
    assert jobs.run(job_id) == "failed"
    view = jobs.get(job_id)
    assert view is not None and view.status == "failed" and view.attempts == 3
    assert "provider timed out" in view.error
    assert credits.balance(uid) == 10


def test_cancel_only_own_queued_job(pg: str, fast_jobs: None) -> None:
    owner, other = make_user(10), make_user(10)
    job_id = jobs.create(jobs_support.KIND, user_id=owner, credits_to_hold=2, enqueue_now=False)
    assert jobs.for_user(other, job_id) is None
    assert not jobs.cancel(job_id, other)
    assert jobs.cancel(job_id, owner)
    assert not jobs.cancel(job_id, owner)
    assert jobs.get(job_id).status == "canceled"  # type: ignore[union-attr]
    assert credits.balance(owner) == 10


def test_killed_worker_job_is_recovered_at_once_by_the_reaper(
    pg: str, fast_jobs: None, tmp_path: Path
) -> None:
    """SIGKILL the worker and its work horse mid-job: the job runs again and succeeds."""
    uid = make_user(10)
    pid_file = tmp_path / "horse.pid"
    job_id = jobs.create(
        jobs_support.KIND,
        user_id=uid,
        credits_to_hold=2,
        payload={"first_attempt_seconds": 60, "pid_file": str(pid_file)},
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    worker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import tests.jobs_support; from photoai.services.queue import rq_queue; "
            "from rq import Worker; q = rq_queue(); Worker([q], connection=q.connection).work()",
        ],
        cwd=PROJECT_ROOT,
        env=env,
        start_new_session=True,
    )
    try:
        wait_for(pid_file.exists)
        os.kill(int(pid_file.read_text()), signal.SIGKILL)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
    # The claimant is provably dead once its process is gone: no waiting for the heartbeat
    # (which would count as "requeued", after 3 s here).
    wait_for(lambda: jobs.reap_stale() == {"recovered": 1}, timeout=2.5)
    assert jobs.reap_stale() == {}  # nothing more to do: a falsy report, so upkeep stays quiet
    work_burst()
    view = jobs.get(job_id)
    assert view is not None and view.status == "succeeded" and view.attempts == 2
    assert credits.balance(uid) == 10


def test_reaper_fails_job_past_its_deadline(pg: str, fast_jobs: None) -> None:
    from datetime import timedelta

    uid = make_user(10)
    job_id = jobs.create(
        jobs_support.KIND,
        user_id=uid,
        credits_to_hold=4,
        deadline=timedelta(seconds=-1),
        enqueue_now=False,
    )
    assert jobs.reap_stale()["expired"] == 1
    view = jobs.get(job_id)
    assert view is not None and view.status == "failed" and "deadline" in view.error
    assert credits.balance(uid) == 10


def test_without_redis_jobs_run_in_process(sqlite_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHOTOAI_REDIS_URL", "redis://127.0.0.1:1/0")
    get_settings.cache_clear()
    redis_probe.reset_cache()
    uid = make_user(5)
    job_id = jobs.create(jobs_support.KIND, user_id=uid, credits_to_hold=5)
    queue.drain_local()
    view = jobs.get(job_id)
    assert view is not None and view.status == "succeeded"
    assert credits.balance(uid) == 5
    redis_probe.reset_cache()


def test_a_hold_that_drops_below_the_threshold_sends_one_email(
    pg: str, fast_jobs: None, data_dir: Path
) -> None:
    uid = make_user(14)  # threshold 10
    jobs.create(jobs_support.KIND, user_id=uid, credits_to_hold=2, enqueue_now=False)
    outbox = data_dir / "outbox"
    assert not outbox.exists()
    jobs.create(jobs_support.KIND, user_id=uid, credits_to_hold=3, enqueue_now=False)
    jobs.create(jobs_support.KIND, user_id=uid, credits_to_hold=1, enqueue_now=False)
    [mail] = list(outbox.glob("*.eml"))
    assert "balance is down to 9 credits" in mail.read_text()


def test_create_many_returns_the_first_batch_for_repeated_references(
    pg: str, fast_jobs: None
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    uid = make_user(20)

    def make() -> list[jobs.Created]:
        return jobs.create_many(
            jobs_support.KIND,
            user_id=uid,
            new_jobs=[
                jobs.NewJob("click:1:0", credits_to_hold=4, payload={}),
                jobs.NewJob("click:1:1", credits_to_hold=3, payload={}),
            ],
            enqueue_now=False,
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        made = list(pool.map(lambda _: make(), range(16)))
    assert len({tuple(c.job_id for c in batch) for batch in made}) == 1
    assert sum(all(c.new for c in batch) for batch in made) == 1
    assert all(len({c.new for c in batch}) == 1 for batch in made), "a batch is made whole"
    assert credits.balance(uid) == 13 == credits.ledger_sum(uid)
    with session_scope() as s:
        assert s.query(Job).filter(col(Job.user_id) == uid).count() == 2  # no twin rows left


def test_silent_worker_on_another_host_is_recovered_after_the_stale_timeout(
    pg: str, fast_jobs: None
) -> None:
    """What cannot be proven dead (another host, RQ unaware of it) waits for the heartbeat."""
    from sqlalchemy import update

    uid = make_user(10)
    job_id = jobs.create(jobs_support.KIND, user_id=uid, credits_to_hold=2, enqueue_now=False)
    assert jobs.claim(job_id)
    elsewhere = '{"host":"other-host","pid":1,"started":0,"rq_worker":""}'
    with session_scope() as s:
        s.execute(update(Job).where(col(Job.id) == job_id).values(claimed_by=elsewhere))
    assert not jobs.reap_stale()
    time.sleep(3.5)
    assert jobs.reap_stale() == {"requeued": 1}
    work_burst()
    view = jobs.get(job_id)
    assert view is not None and view.status == "succeeded" and view.attempts == 2
    assert credits.balance(uid) == 10


def test_sending_a_job_again_never_duplicates_its_queue_entry(pg: str, fast_jobs: None) -> None:
    """Repeated enqueues and reaper re-sends of a queued job leave exactly one entry."""
    from concurrent.futures import ThreadPoolExecutor
    from datetime import timedelta

    from sqlalchemy import update

    from photoai.models import utcnow

    uid = make_user(10)
    job_id = jobs.create(jobs_support.KIND, user_id=uid, credits_to_hold=1)
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(lambda _: queue.enqueue(job_id), range(16)))
    assert set(outcomes) == {"already queued"}
    for _ in range(5):
        with session_scope() as s:  # make the row look forgotten, as after a Redis restart
            s.execute(
                update(Job)
                .where(col(Job.id) == job_id)
                .values(updated_at=utcnow() - timedelta(minutes=10))
            )
        assert not jobs.reap_stale()
    q = queue.rq_queue()
    assert q is not None
    assert q.job_ids == [queue.rq_job_id(job_id)]
    work_burst()
    assert jobs.get(job_id).status == "succeeded"  # type: ignore[union-attr]
    # A finished job sent again (a lost entry) is queued once more, and again only once.
    assert queue.enqueue(job_id) == "rq" and queue.enqueue(job_id) == "already queued"
    assert q.job_ids == [queue.rq_job_id(job_id)]


def test_installations_sharing_a_redis_never_take_each_others_job_ids(
    pg: str, fast_jobs: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another installation (or an earlier database) left job 1 queued on the same Redis under
    its own queue name: our job 1 must still be queued and run here, not taken for a duplicate."""
    uid = make_user(10)
    monkeypatch.setenv("PHOTOAI_QUEUE_NAME", "another-installation")
    get_settings.cache_clear()
    theirs = jobs.create(jobs_support.KIND, user_id=uid, credits_to_hold=1)
    monkeypatch.setenv("PHOTOAI_QUEUE_NAME", "photoai")
    get_settings.cache_clear()
    with session_scope() as s:  # our own database, whose ids start where theirs did
        s.execute(delete(Job))
        s.execute(text("ALTER SEQUENCE jobs_id_seq RESTART WITH 1"))
    ours = jobs.create(jobs_support.KIND, user_id=uid, credits_to_hold=1)
    assert ours == theirs == 1
    q = queue.rq_queue()
    assert q is not None and q.count == 1
    SimpleWorker([q], connection=q.connection).work(burst=True)
    assert jobs.get(ours).status == JobStatus.SUCCEEDED  # type: ignore[union-attr]
