"""Redis when it answers, and an answer at once when it does not.

Callers ask `get_redis()` and get None when Redis is not configured or is down; each decides
what that means (the queue refuses with a clear message or runs jobs in-process, the login
throttle counts in this process). A command that fails is reported with `report_failure`:
Redis is then treated as down for `RETRY_AFTER_SECONDS`, so a dead Redis costs no timeouts on
every request, and the first call after that probes it again, so a Redis that comes back is
used again without a restart.
"""

import asyncio
import logging
import threading
import time
import weakref

import redis
import redis.asyncio as aioredis
from redis.backoff import NoBackoff
from redis.retry import Retry

from photoai.settings import get_settings

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5.0
CONNECT_TIMEOUT_SECONDS = 0.5
COMMAND_TIMEOUT_SECONDS = 2.0

_lock = threading.Lock()
_url: str | None = None
_conn: redis.Redis | None = None
_down_until = 0.0
_loop_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis]" = (
    weakref.WeakKeyDictionary()
)


def connect(url: str) -> redis.Redis:
    """A client that gives up quickly: short timeouts and one immediate retry (which heals a
    pooled connection that Redis closed, say after its restart) instead of redis-py's backoff."""
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        socket_timeout=COMMAND_TIMEOUT_SECONDS,
        retry=Retry(NoBackoff(), 1),
    )


def get_redis() -> redis.Redis | None:
    """The shared client when Redis is configured and answering, else None (never blocks
    longer than one connect timeout)."""
    global _url, _conn, _down_until
    url = get_settings().redis_url
    if not url:
        return None
    with _lock:
        if url != _url:
            _url, _conn, _down_until = url, None, 0.0
        if _conn is not None:
            return _conn
        if time.monotonic() < _down_until:
            return None
        candidate = connect(url)
        try:
            candidate.ping()
        except redis.RedisError as exc:
            candidate.close()
            _mark_down(exc)
            return None
        if _down_until:
            log.warning("Redis answers again at %s", _safe(url))
        _conn, _down_until = candidate, 0.0
        return candidate


def report_failure(exc: BaseException) -> None:
    """A Redis command failed: answer 'down' for a few seconds, then probe again."""
    with _lock:
        _mark_down(exc)


def _mark_down(exc: BaseException) -> None:
    global _conn, _down_until
    if _conn is not None or not _down_until:
        log.warning("Redis at %s is unavailable (%s)", _safe(_url or ""), exc)
    if _conn is not None:
        _conn.close()
    _conn, _down_until = None, time.monotonic() + RETRY_AFTER_SECONDS


def _safe(url: str) -> str:
    """The address without a password, for logs."""
    return url.rsplit("@", 1)[-1]


def reset_cache() -> None:
    """Forget the last probe (tests switch Redis URLs)."""
    global _url, _conn, _down_until
    with _lock:
        if _conn is not None:
            _conn.close()
        _url, _conn, _down_until = None, None, 0.0


def event_loop_client() -> aioredis.Redis | None:
    """An asyncio client for the running event loop (Reflex handlers, middleware), or None
    without Redis. Callers catch `redis.RedisError`/`OSError` and fall back themselves."""
    url = get_settings().redis_url
    if not url:
        return None
    loop = asyncio.get_running_loop()
    client = _loop_clients.get(loop)
    if client is None:
        # Not shorter: on a busy event loop a short timeout fires while Redis is fine.
        client = aioredis.Redis.from_url(
            url,
            socket_connect_timeout=COMMAND_TIMEOUT_SECONDS,
            socket_timeout=COMMAND_TIMEOUT_SECONDS,
        )
        _loop_clients[loop] = client
    return client
