"""Background worker: RQ workers on Redis, and the periodic upkeep in a process of its own.

Run `python worker.py --processes N`: N RQ worker processes serve the queue, each running one
job at a time (the run command starts as many as `photoai serve-plan` says, see the operator
guide's "Capacity"). `--queue-only` leaves out the upkeep process, for further machines: one
upkeep loop is enough for a whole installation.

RQ forks a work horse per job, so start-up is fork-safe and front-loaded: everything is
imported, the database engine built and the models and clients every job needs loaded
(`job_warmup`) once, in this process, before it forks the N queue processes; they and their
work horses start warm and share that memory copy-on-write. The upkeep loop (which recovers
the jobs of dead workers at once, on its first pass) runs in a spawned process, a fresh
interpreter, so no process that forks has a thread of ours that could hold a lock. A queue
process that dies is started again; the job it was running is recovered by the upkeep.

Jobs give way to pages: every process here runs at the niceness PHOTOAI_JOB_NICE (19 by
default). A burst of jobs is many runnable processes, and at the backends' own priority twenty
work horses took most of a 2-core machine's CPU from its two backends: at 50 users, opening
Models had a p95 of 2,275 ms, and 29 ms with the workers at niceness 19 (bench/load_ws.py).
Jobs still get every cycle the pages leave idle.

Redis down is survived: the worker waits for it and serves the queue again when it answers,
without a restart. Without Redis at all, jobs run inside the web process and this process keeps
only the upkeep going.
"""

import argparse
import contextlib
import gc
import logging
import multiprocessing
import os
import signal
import time
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType

import redis
from rq import Queue, Worker

import photoai.tasks
from photoai import db
from photoai.services import job_warmup
from photoai.settings import get_settings

log = logging.getLogger("worker")
WAIT_FOR_REDIS_SECONDS = 2.0
RESTART_DELAY_SECONDS = 1.0
WATCH_SECONDS = 1.0


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


def _serve_in_child(url: str, queue_name: str) -> None:
    # A process group of its own, so that the parent can end what it leaves behind (RQ's
    # scheduler is its child and would live on, orphaned, after a SIGKILL); RQ puts each work
    # horse in a process group of its own, so a running job is never in this one.
    os.setpgid(0, 0)
    # The parent's stop handler is no business of a queue process: RQ installs its own.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    serve_queue(url, queue_name)


class _QueueProcesses:
    """N forks of this (warm) process serving the queue; a dead one is started again."""

    def __init__(self, url: str, queue_name: str, count: int) -> None:
        self.url, self.queue_name, self.count = url, queue_name, count
        self.stopping = False
        self.running: list[BaseProcess] = []

    def _start_one(self) -> None:
        process = multiprocessing.get_context("fork").Process(
            target=_serve_in_child, args=(self.url, self.queue_name), name="photoai-rq"
        )
        process.start()
        self.running.append(process)

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        """Warm shutdown: each RQ worker finishes the job it is running, then exits."""
        self.stopping = True
        for process in self.running:
            if process.pid is not None and process.is_alive():
                os.kill(process.pid, signal.SIGTERM)

    def run(self) -> None:
        for _ in range(self.count):
            self._start_one()
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        while self.running:
            # A queue process's horse or scheduler inherits its sentinel and may outlive it:
            # look at the processes themselves every second too.
            wait([p.sentinel for p in self.running], timeout=WATCH_SECONDS)
            ended = [p for p in self.running if not p.is_alive()]
            for process in ended:
                process.join()
                self.running.remove(process)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)  # type: ignore[arg-type]
                if not self.stopping:
                    log.warning(
                        "queue process %s ended (exit code %s): starting another",
                        process.pid,
                        process.exitcode,
                    )
            if not self.stopping and ended:
                time.sleep(RESTART_DELAY_SECONDS)
                for _ in ended:
                    self._start_one()


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=1, help="RQ worker processes (>= 1)")
    parser.add_argument("--queue-only", action="store_true", help="no upkeep process here")
    args = parser.parse_args()
    args.processes = max(1, args.processes)
    return args


def _give_way(nice: int) -> None:
    """Run at niceness `nice` or lower priority (everything forked from here inherits it); an
    operator who started the worker at a higher niceness keeps theirs."""
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if nice > current:
        os.nice(nice - current)


def main() -> None:
    args = _parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = get_settings()
    _give_way(settings.job_nice)
    db.get_engine()  # imports the database driver here, once, instead of in every work horse
    if settings.redis_url:
        job_warmup.preload()
    # Everything loaded so far lives as long as this process: out of the collector's sight, a
    # work horse's collections no longer touch (and so copy) the pages its forks share.
    gc.collect()
    gc.freeze()
    queues = _QueueProcesses(settings.redis_url, settings.queue_name, args.processes)
    if args.queue_only:
        if settings.redis_url:
            queues.run()
        return
    upkeep = multiprocessing.get_context("spawn").Process(
        target=photoai.tasks.run_upkeep, args=(os.getpid(),), name="photoai-upkeep", daemon=True
    )
    upkeep.start()
    try:
        if settings.redis_url:
            queues.run()
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
