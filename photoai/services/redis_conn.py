"""Redis when it is reachable, and a quick answer when it is not.

The embedded default must run without Redis, so callers ask `get_redis()` and fall back to
in-process alternatives on None. A failed probe is remembered briefly so that a missing Redis
does not cost a connection timeout on every request.
"""

import threading
import time

import redis

from photoai.settings import get_settings

_lock = threading.Lock()
_cached: tuple[str, redis.Redis | None, float] | None = None
_RETRY_AFTER_SECONDS = 30.0


def get_redis() -> redis.Redis | None:
    global _cached
    settings = get_settings()
    url = settings.redis_url
    with _lock:
        if _cached is not None and _cached[0] == url:
            conn, checked_at = _cached[1], _cached[2]
            if conn is not None or time.monotonic() - checked_at < _RETRY_AFTER_SECONDS:
                return conn
        conn = None
        if url:
            candidate = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=5)
            try:
                candidate.ping()
                conn = candidate
            except redis.RedisError:
                if settings.redis_required:
                    raise
        _cached = (url, conn, time.monotonic())
        return conn


def reset_cache() -> None:
    """Forget the last probe (tests switch Redis URLs)."""
    global _cached
    with _lock:
        _cached = None
