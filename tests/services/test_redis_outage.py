"""Redis killed while in use: fast, clear refusals that hold nothing; everything resumes when
Redis is back, without restarting the worker (issue 8, item 3).

The test runs a Redis server of its own on a free port (so killing it touches nobody else),
a real `python worker.py`, and PostgreSQL.
"""

import logging
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import select
from sqlmodel import col

from photoai.db import session_scope
from photoai.models import Job, JobStatus
from photoai.services import accounts, credits, generation, jobs, training
from photoai.services import redis_conn as redis_probe
from photoai.services.generation import GenerationOptions
from photoai.services.queue import QUEUE_UNAVAILABLE, QueueUnavailable
from photoai.settings import get_settings
from tests import jobs_support, worker_support
from tests.factories import make_user
from tests.local_servers import free_port
from tests.training_support import draft_with_photos, model_row, training_settings

log = logging.getLogger(__name__)

PASSWORD = "correct horse battery"
FAST_SECONDS = 3.0


class OwnRedis:
    """A throwaway redis-server that the test can SIGKILL and start again on the same port."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                *("--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no"),
            ],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        assert worker_support.wait_until(lambda: _answers(client), 10.0)
        client.close()

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


@pytest.fixture
def own_redis(pg: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[OwnRedis]:
    server = OwnRedis(free_port())
    server.start()
    monkeypatch.setenv("PHOTOAI_REDIS_URL", server.url)
    monkeypatch.setenv("PHOTOAI_REDIS_REQUIRED", "true")
    monkeypatch.setenv("PHOTOAI_JOB_HEARTBEAT_SECONDS", "1")
    get_settings.cache_clear()
    redis_probe.reset_cache()
    yield server
    if server.process is not None and server.process.poll() is None:
        server.kill()
    redis_probe.reset_cache()


def _unfinished(uid: int) -> list[int]:
    with session_scope() as s:
        return list(
            s.execute(
                select(col(Job.id)).where(
                    col(Job.user_id) == uid,
                    col(Job.status).in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value]),
                )
            ).scalars()
        )


def _succeeds(job_id: int, within: float) -> bool:
    return worker_support.wait_until(
        lambda: jobs.get(job_id).status == JobStatus.SUCCEEDED,  # type: ignore[union-attr]
        within,
    )


def test_redis_killed_mid_use_fails_fast_holds_nothing_and_recovers(
    own_redis: OwnRedis, tmp_path: Path
) -> None:
    uid = accounts.register("outage@example.com", PASSWORD)
    balance = credits.balance(uid)
    worker = worker_support.start_worker(tmp_path / "worker.log")
    try:
        before = jobs.create(jobs_support.KIND, user_id=uid, credits_to_hold=2)
        assert _succeeds(before, 60.0), "the worker does not run jobs with Redis up"

        # A pack's jobs are created (credits held) before they are queued.
        pending = jobs.create(jobs_support.KIND, user_id=uid, credits_to_hold=2, enqueue_now=False)
        own_redis.kill()

        # The first use finds out: a clear refusal, fast, and the unqueued job's hold is
        # released (the job fails as "not started").
        took = time.monotonic()
        with pytest.raises(QueueUnavailable) as refused:
            jobs.dispatch([pending])
        took = time.monotonic() - took
        assert str(refused.value) == QUEUE_UNAVAILABLE
        assert took < FAST_SECONDS, f"took {took:.1f} s to refuse"
        assert credits.balance(uid) == balance == credits.ledger_sum(uid)
        assert _unfinished(uid) == []

        # Known down: refused before any row or credit moves.
        took = time.monotonic()
        jobs_before = _job_count(uid)
        with pytest.raises(QueueUnavailable):
            jobs.create(jobs_support.KIND, user_id=uid, credits_to_hold=2)
        assert time.monotonic() - took < FAST_SECONDS
        assert _job_count(uid) == jobs_before and credits.balance(uid) == balance

        # So is a generation request.
        took = time.monotonic()
        with pytest.raises(QueueUnavailable):
            generation.submit(uid, GenerationOptions("instant", prompt="a cat"), "outage-1")
        assert time.monotonic() - took < FAST_SECONDS
        assert _job_count(uid) == jobs_before and credits.balance(uid) == balance

        # Signing in does not wait for Redis: the throttle counts in this process meanwhile.
        took = time.monotonic()
        with pytest.raises(accounts.AccountError):
            accounts.authenticate("outage@example.com", "wrong password!", "10.0.0.1")
        assert accounts.authenticate("outage@example.com", PASSWORD, "10.0.0.1") == uid
        assert time.monotonic() - took < FAST_SECONDS
        log.warning("with Redis down: %s", refused.value)

        own_redis.start()  # same port, empty: everything it held is gone

        assert worker_support.wait_until(lambda: _queues(uid), 10.0), "no resume after restart"
        assert worker.poll() is None, "the worker died with Redis"
        after = _unfinished(uid)
        assert len(after) == 1
        assert _succeeds(after[0], 60.0), "the worker did not resume serving the queue"
        assert credits.balance(uid) == balance == credits.ledger_sum(uid)
    finally:
        worker_support.stop(worker)


def _job_count(uid: int) -> int:
    with session_scope() as s:
        return len(list(s.execute(select(col(Job.id)).where(col(Job.user_id) == uid)).scalars()))


def _queues(uid: int) -> bool:
    """Try to queue a job as a user would; True once it is accepted."""
    try:
        jobs.create(jobs_support.KIND, user_id=uid, credits_to_hold=2)
    except QueueUnavailable:
        return False
    return True


def test_a_training_the_queue_refuses_leaves_the_model_and_credits_as_they_were(
    own_redis: OwnRedis, monkeypatch: pytest.MonkeyPatch, data_dir: Path
) -> None:
    """Redis answers PING but refuses to queue (an ACL user without write commands): the job
    is created, then failed as not started; the model is back to draft, nothing is held and
    no "training did not finish" email goes out."""
    training_settings(monkeypatch)
    uid = make_user(100)
    model_id = draft_with_photos(uid)
    admin = redis.Redis.from_url(own_redis.url)
    admin.acl_setuser("reader", enabled=True, passwords=["+secret"], commands=["+@read", "+ping"])
    admin.close()
    monkeypatch.setenv("PHOTOAI_REDIS_URL", own_redis.url.replace("//", "//reader:secret@"))
    get_settings.cache_clear()
    redis_probe.reset_cache()
    with pytest.raises(QueueUnavailable, match="nothing was charged"):
        training.start_training(uid, model_id)
    model = model_row(model_id)
    assert (model.status, model.job_id) == ("draft", None)
    assert credits.balance(uid) == 100 == credits.ledger_sum(uid)
    assert _unfinished(uid) == []
    mails = list((data_dir / "outbox").glob("*.eml"))
    assert not any("did not finish" in mail.read_text() for mail in mails)
