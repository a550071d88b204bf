"""Background worker: an RQ worker on Redis, and the periodic upkeep in a process of its own.

Run `python worker.py`; `python worker.py --queue-only` serves the queue without an upkeep
process of its own (the run command starts one full worker and one queue-only worker per
further core: one upkeep loop is enough for the machine). RQ forks a work horse per job, so
start-up is fork-safe: everything is imported and the database engine built first, and the
upkeep loop (which recovers the jobs of dead workers at once, on its first pass) runs in a
spawned process, a fresh interpreter. The RQ worker process thus has no thread of ours that
could hold a lock when it forks.

Redis down is survived: the worker waits for it and serves the queue again when it answers,
without a restart. Without Redis at all, jobs run inside the web process and this process keeps
only the upkeep going.
"""

import logging
import multiprocessing
import os
import signal
import sys
import time
from types import FrameType

import redis
from rq import Queue, Worker

import photoai.tasks
from photoai import db
from photoai.settings import get_settings

log = logging.getLogger("worker")
WAIT_FOR_REDIS_SECONDS = 2.0


class _Worker(Worker):
    """RQ's worker, remembering whether it was asked to stop (else its loop lost Redis)."""

    stop_asked = False

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stop_asked = True
        super().request_stop(signum, frame)


def _connect(url: str) -> redis.Redis | None:
    conn = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        conn.ping()
    except redis.RedisError:
        conn.close()
        return None
    return conn


def serve_queue(url: str, queue_name: str) -> None:
    """Run RQ's worker loop until asked to stop, waiting out any Redis outage."""
    waiting = False
    while True:
        conn = _connect(url)
        if conn is None:
            if not waiting:
                log.warning(
                    "Redis does not answer: waiting for it (meanwhile jobs run inside the web "
                    "process unless PHOTOAI_REDIS_REQUIRED is set)."
                )
                waiting = True
            time.sleep(WAIT_FOR_REDIS_SECONDS)
            continue
        if waiting:
            log.warning("Redis answers: serving the queue again.")
            waiting = False
        worker = _Worker([Queue(queue_name, connection=conn)], connection=conn)
        try:
            worker.work(with_scheduler=True)
        except redis.RedisError as exc:
            log.warning("the worker lost Redis (%s)", exc)
        if worker.stop_asked:
            return
        # RQ's signal handlers belong to the loop that ended; stop on a signal while waiting.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        time.sleep(WAIT_FOR_REDIS_SECONDS)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    db.get_engine()  # imports the database driver here, once, instead of in every work horse
    settings = get_settings()
    if "--queue-only" in sys.argv[1:]:
        if settings.redis_url:
            serve_queue(settings.redis_url, settings.queue_name)
        return
    upkeep = multiprocessing.get_context("spawn").Process(
        target=photoai.tasks.run_upkeep, args=(os.getpid(),), name="photoai-upkeep", daemon=True
    )
    upkeep.start()
    try:
        if settings.redis_url:
            serve_queue(settings.redis_url, settings.queue_name)
        else:
            log.warning(
                "No Redis configured: jobs run inside the web process; this worker "
                "keeps only the upkeep."
            )
            upkeep.join()
    finally:
        upkeep.terminate()


if __name__ == "__main__":
    main()
