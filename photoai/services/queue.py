"""Where jobs run: RQ on Redis when it is reachable, else a worker thread in this process.

Both paths call the same `photoai.tasks.run_job(job_id)`, so the embedded default exercises
exactly the code that production workers run. With `redis_required`, a Redis that does not
answer is an error the user sees (`QueueUnavailable`), never a hang; without it, jobs fall back
to this process.

Each photoai job has one RQ job id, so sending a job again while it is queued, scheduled for a
retry or running on a live worker changes nothing: the reaper and a user's repeat cannot pile
up duplicates. RQ's job ids are global to a Redis database, so the id starts with the queue's
name (`photoai-job-<id>` for the default queue): installations sharing a Redis, each with its
own queue name, never mistake another's job 1 for their own.
"""

import logging
import queue
import threading
import time

import redis
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job as RQJob
from rq.job import JobStatus as RQStatus
from rq.registry import StartedJobRegistry

from photoai.services.liveness import rq_worker_alive
from photoai.services.redis_conn import get_redis, report_failure
from photoai.settings import get_settings

log = logging.getLogger(__name__)
RETRY_INTERVALS = [5, 30, 120]
QUEUE_UNAVAILABLE = (
    "The job queue is unavailable right now; nothing was charged. Please try again in a minute."
)
_WAITING = (RQStatus.QUEUED, RQStatus.SCHEDULED, RQStatus.DEFERRED)

_local_queue: "queue.Queue[int]" = queue.Queue()
_local_worker: threading.Thread | None = None
_local_lock = threading.Lock()


class QueueUnavailable(Exception):
    """Redis is required for jobs and does not answer; the message is meant for the user."""

    def __init__(self, message: str = QUEUE_UNAVAILABLE) -> None:
        super().__init__(message)


def rq_job_id(job_id: int) -> str:
    return f"{get_settings().queue_name}-job-{job_id}"


def rq_queue() -> Queue | None:
    conn = get_redis()
    if conn is None:
        return None
    return Queue(get_settings().queue_name, connection=conn)


def check_available() -> None:
    """Refuse up front (before any row or credit moves) when jobs could not be queued."""
    if not get_settings().redis_required:
        return
    conn = get_redis()
    if conn is None:
        raise QueueUnavailable()
    try:
        conn.ping()
    except redis.RedisError as exc:
        report_failure(exc)
        raise QueueUnavailable() from exc


def enqueue(job_id: int) -> str:
    """Queue a job id; says what happened ("rq", "already queued", "already running" or
    "in-process"). Raises `QueueUnavailable` when Redis is required and down."""
    required = get_settings().redis_required
    rq = rq_queue()
    if rq is not None:
        try:
            return _enqueue_once(rq, job_id)
        except redis.exceptions.LockError:
            return "already queued"  # another process is queueing it right now
        except redis.RedisError as exc:
            report_failure(exc)
            if required:
                raise QueueUnavailable() from exc
            log.warning("job %s runs in this process: Redis failed (%s)", job_id, exc)
    elif required:
        raise QueueUnavailable()
    _ensure_local_worker()
    _local_queue.put(job_id)
    return "in-process"


def _enqueue_once(rq: Queue, job_id: int) -> str:
    rq_id = rq_job_id(job_id)
    settings = get_settings()
    with rq.connection.lock(f"photoai:enqueue:{rq_id}", timeout=10, blocking_timeout=5):
        try:
            existing: RQJob | None = RQJob.fetch(rq_id, connection=rq.connection)
        except NoSuchJobError:
            existing = None
        if existing is not None:
            status = existing.get_status(refresh=False)
            if status in _WAITING:
                return "already queued"
            if status == RQStatus.STARTED and rq_worker_alive(
                rq.connection, existing.worker_name or ""
            ):
                return "already running"
            # Finished, failed, or left behind by a dead worker: replace it.
            StartedJobRegistry(queue=rq).remove_executions(existing)
            existing.delete()
        rq.enqueue(
            "photoai.tasks.run_job",
            job_id,
            job_id=rq_id,
            job_timeout=settings.job_timeout_seconds,
            retry=Retry(max=settings.job_max_attempts - 1, interval=RETRY_INTERVALS),
            result_ttl=3600,
            failure_ttl=7 * 24 * 3600,
            description=f"job {job_id}",
        )
    return "rq"


STRANDED_AFTER_SECONDS = 5.0
_first_seen_stranded: dict[str, float] = {}


def rescue_stranded() -> int:
    """Put back on the queue the jobs a worker took and died with before starting them; says
    how many.

    RQ hands a job over by moving its id to an intermediate list, and the worker moves it on to
    its started registry a moment later. A worker killed in between strands the job: RQ's own
    cleanup fails it ten minutes on, and until then it counts as queued, so sending it again
    is a no-op. An id seen in that list, outside the started registry, on two passes at least
    `STRANDED_AFTER_SECONDS` apart belongs to no live worker; removing it from the list is
    atomic, so of several upkeep loops only one pushes it back.
    """
    rq = rq_queue()
    if rq is None:
        return 0
    try:
        waiting = set(rq.intermediate_queue.get_job_ids())
        started = set(rq.started_job_registry.get_job_ids()) if waiting else set()
    except redis.RedisError as exc:
        report_failure(exc)
        return 0
    now = time.monotonic()
    for job_id in list(_first_seen_stranded):
        if job_id not in waiting or job_id in started:
            del _first_seen_stranded[job_id]
    rescued = 0
    for job_id in waiting - started:
        first_seen = _first_seen_stranded.setdefault(job_id, now)
        if now - first_seen < STRANDED_AFTER_SECONDS:
            continue
        del _first_seen_stranded[job_id]
        if rq.connection.lrem(rq.intermediate_queue_key, 1, job_id):
            rq.push_job_id(job_id, at_front=True)
            rescued += 1
    return rescued


def _ensure_local_worker() -> None:
    global _local_worker
    with _local_lock:
        if _local_worker is None or not _local_worker.is_alive():
            _local_worker = threading.Thread(target=_local_loop, daemon=True, name="photoai-jobs")
            _local_worker.start()


def _local_loop() -> None:
    from photoai.tasks import run_job

    while True:
        job_id = _local_queue.get()
        try:
            run_job(job_id)
        except Exception:
            delay = RETRY_INTERVALS[0]
            log.warning("job %s will be retried in %s s", job_id, delay)
            threading.Timer(delay, _local_queue.put, args=(job_id,)).start()
        finally:
            _local_queue.task_done()


def drain_local(timeout: float = 30.0) -> None:
    """Wait until the in-process worker has nothing left (tests and shutdown)."""
    deadline = time.monotonic() + timeout
    while _local_queue.unfinished_tasks and time.monotonic() < deadline:
        time.sleep(0.05)
