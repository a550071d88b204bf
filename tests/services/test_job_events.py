"""Job changes are pushed to the owner's listeners: through Redis pub/sub across processes,
and inside the web process when jobs run there (no Redis)."""

import asyncio
import threading
import time

import pytest
import redis

from photoai.services import job_events, jobs
from photoai.services import redis_conn as redis_probe
from photoai.settings import get_settings
from tests import async_support, jobs_support
from tests.factories import make_user

PUSH_WITHIN_SECONDS = 1.0


def _run_job_steps(job_id: int) -> None:
    """What a worker does: claim, report progress, finish."""
    assert jobs.claim(job_id)
    jobs.heartbeat(job_id, 0.5)
    jobs.heartbeat(job_id)  # a bare heartbeat changes nothing anyone sees: no event
    assert jobs.succeed(job_id)


async def _receive(user_id: int, job_id: int, other_user: int) -> list[tuple[str, float, float]]:
    """Events of `user_id` with the delay from the change that published them."""
    got: list[tuple[str, float, float]] = []
    async with job_events.listen(user_id) as events, job_events.listen(other_user) as others:
        started = time.monotonic()
        worker = threading.Thread(target=_run_job_steps, args=(job_id,))
        worker.start()
        while len(got) < 3:
            event = await asyncio.wait_for(events.get(), timeout=5)
            assert event.job_id == job_id
            got.append((event.status, event.progress, time.monotonic() - started))
        worker.join()
        await asyncio.sleep(0.2)
        assert others.empty()  # another user's pages hear nothing of it
        assert events.empty()
    return got


def _events_of_a_job() -> list[tuple[str, float, float]]:
    owner, other = make_user(), make_user()
    job_id = jobs.create(jobs_support.KIND, user_id=owner, enqueue_now=False)
    return async_support.run(_receive(owner, job_id, other))


def _assert_pushed(got: list[tuple[str, float, float]]) -> None:
    assert [(status, progress) for status, progress, _ in got] == [
        ("running", 0.0),
        ("running", 0.5),
        ("succeeded", 1.0),
    ]
    assert max(delay for _, _, delay in got) < PUSH_WITHIN_SECONDS


def test_progress_and_completion_reach_the_owner_through_redis(
    pg: str, redis_conn: redis.Redis
) -> None:
    seen: list[bytes] = []
    spy = redis_conn.pubsub(ignore_subscribe_messages=True)
    spy.psubscribe(f"{get_settings().queue_name}:job-events:*")
    _assert_pushed(_events_of_a_job())
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        message = spy.get_message(timeout=0.1)  # None also for the subscription's own reply
        if message is not None:
            seen.append(message["channel"])
    spy.close()
    assert len(seen) == 3  # they did travel through Redis


def test_without_redis_events_stay_in_the_web_process(
    pg: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHOTOAI_REDIS_URL", "")
    get_settings.cache_clear()
    redis_probe.reset_cache()
    _assert_pushed(_events_of_a_job())
