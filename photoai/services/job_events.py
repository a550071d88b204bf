"""Job events: "a job of this user changed", pushed to the pages that show it.

The jobs service publishes whenever a job's status or progress changes, on Redis pub/sub, one
channel per user (`<queue name>:job-events:<user id>`), from whichever process ran the change
(a worker, the web process, the upkeep). Each web process holds ONE pattern subscription and
hands events to the listeners of its own open pages, so a thousand open pages cost one Redis
connection per process and nothing at all while no job changes. Pub/sub delivers at most once
(an event sent while a process reconnects is lost), so listeners also re-read now and then.

Without Redis (jobs run inside the web process) events go straight to this process's listeners.
No Reflex here: pages subscribe through `listen` and decide themselves what to re-read.
"""

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass

import redis
import redis.asyncio as aioredis

from photoai.services.redis_conn import get_redis, report_failure
from photoai.settings import get_settings

log = logging.getLogger(__name__)

RECONNECT_SECONDS = 2.0
SUBSCRIBED_WAIT_SECONDS = 1.0


@dataclass(frozen=True)
class JobEvent:
    user_id: int
    job_id: int
    status: str
    progress: float


def _prefix() -> str:
    return f"{get_settings().queue_name}:job-events:"


def publish(user_id: int | None, job_id: int, status: str, progress: float) -> None:
    """Tell the owner's open pages that a job changed; never raises (a lost event only delays
    a page until its next re-read)."""
    if user_id is None:
        return
    event = JobEvent(user_id=user_id, job_id=job_id, status=status, progress=progress)
    conn = get_redis()
    if conn is not None:
        try:
            conn.publish(f"{_prefix()}{user_id}", json.dumps(asdict(event)))
            return
        except redis.RedisError as exc:
            report_failure(exc)
    _hub.deliver(event)


Listener = tuple[asyncio.AbstractEventLoop, "asyncio.Queue[JobEvent]"]


class _Hub:
    """This process's listeners by user, and one Redis reader per event loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: dict[int, set[Listener]] = {}
        self._readers: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}
        self._subscribed: dict[asyncio.AbstractEventLoop, asyncio.Event] = {}

    def deliver(self, event: JobEvent) -> None:
        """Safe from any thread: each listener's queue is filled on its own loop."""
        with self._lock:
            targets = list(self._listeners.get(event.user_id, ()))
        for loop, queue in targets:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, event)
            except RuntimeError:  # that loop is closed; its listener is gone with it
                continue

    def add(self, user_id: int, listener: Listener) -> None:
        with self._lock:
            self._listeners.setdefault(user_id, set()).add(listener)

    def remove(self, user_id: int, listener: Listener) -> None:
        with self._lock:
            mine = self._listeners.get(user_id)
            if mine is not None:
                mine.discard(listener)
                if not mine:
                    del self._listeners[user_id]

    async def subscribed(self, url: str) -> None:
        """Start this loop's reader if needed and wait (briefly) until it listens."""
        loop = asyncio.get_running_loop()
        reader = self._readers.get(loop)
        if reader is None or reader.done():
            self._subscribed[loop] = asyncio.Event()
            self._readers[loop] = loop.create_task(self._read(url, self._subscribed[loop]))
        try:
            await asyncio.wait_for(self._subscribed[loop].wait(), SUBSCRIBED_WAIT_SECONDS)
        except TimeoutError:
            log.warning("job events: Redis subscription not ready; pages re-read later")

    async def _read(self, url: str, ready: asyncio.Event) -> None:
        while True:
            client = aioredis.Redis.from_url(url, socket_connect_timeout=2)
            try:
                async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.psubscribe(f"{_prefix()}*")
                    ready.set()
                    async for message in pubsub.listen():
                        self._deliver_raw(message.get("data"))
            except (redis.RedisError, OSError) as exc:
                ready.clear()
                log.warning("job events: Redis subscription lost (%s); retrying", exc)
            finally:
                await client.aclose()
            await asyncio.sleep(RECONNECT_SECONDS)

    def _deliver_raw(self, data: object) -> None:
        try:
            fields = json.loads(data)  # type: ignore[arg-type]
            self.deliver(JobEvent(**fields))
        except (TypeError, ValueError):
            log.warning("job events: ignored a malformed message")


_hub = _Hub()


@asynccontextmanager
async def listen(user_id: int) -> AsyncIterator["asyncio.Queue[JobEvent]"]:
    """A queue that receives this user's job events while the block runs; subscribed before
    it is handed out, so a change made after entering is not missed."""
    listener: Listener = (asyncio.get_running_loop(), asyncio.Queue())
    _hub.add(user_id, listener)
    try:
        url = get_settings().redis_url
        if url:
            await _hub.subscribed(url)
        yield listener[1]
    finally:
        _hub.remove(user_id, listener)
