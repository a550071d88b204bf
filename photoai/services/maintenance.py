"""Periodic upkeep run by every worker (and by the web process when Redis is absent).

Every task here is idempotent, so several workers running the loop at once is harmless. A task
is logged only when it did something: it returns a falsy result (or a mapping of zero counts)
when there was nothing to do.

A worker runs the loop in a process of its own (`photoai.tasks.run_upkeep`), never in a thread:
RQ forks a work horse per job, and a thread that holds a lock (an import, a connection pool) at
that moment leaves the horse blocked on it forever.
"""

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from photoai.services import jobs, queue

log = logging.getLogger(__name__)

_tasks: list[tuple[str, Callable[[], Any], float]] = [
    ("reap stale jobs", jobs.reap_stale, 30.0),
    ("rescue stranded jobs", queue.rescue_stranded, queue.STRANDED_AFTER_SECONDS),
]


def register(name: str, fn: Callable[[], Any], every_seconds: float) -> None:
    _tasks.append((name, fn, every_seconds))


def _did_something(result: Any) -> bool:
    if isinstance(result, Mapping):
        return any(result.values())
    return bool(result)


def _summary(result: Any) -> Any:
    """Only the counts that moved."""
    if isinstance(result, Mapping):
        return {key: value for key, value in result.items() if value}
    return result


def run_forever(keep_going: Callable[[], bool]) -> None:
    last_run: dict[str, float] = {}
    while keep_going():
        now = time.monotonic()
        for name, fn, every in list(_tasks):
            if now - last_run.get(name, 0.0) >= every:
                last_run[name] = now
                try:
                    result = fn()
                    if _did_something(result):
                        log.info("%s: %s", name, _summary(result))
                except Exception:
                    log.exception("%s failed", name)
        time.sleep(1.0)


def start_thread() -> threading.Event:
    """Upkeep inside a process that never forks (the web process without Redis)."""
    stop = threading.Event()
    threading.Thread(
        target=run_forever, args=(lambda: not stop.is_set(),), daemon=True, name="maintenance"
    ).start()
    return stop
