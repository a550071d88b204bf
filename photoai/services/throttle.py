"""Failure counters with a sliding window, shared through Redis when it is there.

Used for login throttling per account and per client address. Without Redis the counters live
in this process, which is enough for the single-process embedded default.
"""

import threading
import time

from photoai.services.redis_conn import get_redis

_local: dict[str, tuple[int, float]] = {}
_local_lock = threading.Lock()


def _key(name: str) -> str:
    return f"photoai:throttle:{name}"


def failures(name: str) -> int:
    conn = get_redis()
    if conn is not None:
        value = conn.get(_key(name))
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
        count, _ = pipe.execute()
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
        conn.delete(_key(name))
    with _local_lock:
        _local.pop(name, None)
