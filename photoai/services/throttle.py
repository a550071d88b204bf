"""Failure counters with a sliding window, shared through Redis when it is there.

Used for login throttling per account and per client address. Without Redis the counters live
in this process, which is enough for the single-process embedded default. When Redis fails,
sign-in goes on with this process's counters (and a warning in the log) rather than waiting.
"""

import logging
import threading
import time

import redis

from photoai.services.redis_conn import get_redis, report_failure

log = logging.getLogger(__name__)

_local: dict[str, tuple[int, float]] = {}
_local_lock = threading.Lock()


def _key(name: str) -> str:
    return f"photoai:throttle:{name}"


def _fall_back(exc: redis.RedisError) -> None:
    report_failure(exc)
    log.warning("login throttle counts in this process while Redis is unavailable: %s", exc)


def failures(name: str) -> int:
    conn = get_redis()
    if conn is not None:
        try:
            value = conn.get(_key(name))
        except redis.RedisError as exc:
            _fall_back(exc)
        else:
            return int(value) if value else 0  # type: ignore[arg-type]
    with _local_lock:
        count, expires = _local.get(name, (0, 0.0))
        return count if expires > time.monotonic() else 0


def record_failure(name: str, window_seconds: int) -> int:
    conn = get_redis()
    if conn is not None:
        pipe = conn.pipeline()
        pipe.incr(_key(name))
        pipe.expire(_key(name), window_seconds, nx=True)
        try:
            count, _ = pipe.execute()
        except redis.RedisError as exc:
            _fall_back(exc)
        else:
            return int(count)
    with _local_lock:
        now = time.monotonic()
        count, expires = _local.get(name, (0, 0.0))
        if expires <= now:
            count, expires = 0, now + window_seconds
        _local[name] = (count + 1, expires)
        return count + 1


def clear(name: str) -> None:
    conn = get_redis()
    if conn is not None:
        try:
            conn.delete(_key(name))
        except redis.RedisError as exc:
            _fall_back(exc)
    with _local_lock:
        _local.pop(name, None)
