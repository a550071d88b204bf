"""Periodic upkeep run by every worker (and by the web process when Redis is absent).

Every task here is idempotent, so several workers running the loop at once is harmless.
"""

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from photoai.services import jobs

log = logging.getLogger(__name__)

_tasks: list[tuple[str, Callable[[], Any], float]] = [("reap stale jobs", jobs.reap_stale, 30.0)]


def register(name: str, fn: Callable[[], Any], every_seconds: float) -> None:
    _tasks.append((name, fn, every_seconds))


def run_forever(stop: threading.Event) -> None:
    last_run: dict[str, float] = {}
    while not stop.is_set():
        now = time.monotonic()
        for name, fn, every in list(_tasks):
            if now - last_run.get(name, 0.0) >= every:
                last_run[name] = now
                try:
                    result = fn()
                    if result:
                        log.info("%s: %s", name, result)
                except Exception:
                    log.exception("%s failed", name)
        stop.wait(1.0)


def start_thread() -> threading.Event:
    stop = threading.Event()
    threading.Thread(target=run_forever, args=(stop,), daemon=True, name="maintenance").start()
    return stop
