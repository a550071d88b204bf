"""Where jobs run: RQ on Redis when it is reachable, else a worker thread in this process.

Both paths call the same `photoai.tasks.run_job(job_id)`, so the embedded default exercises
exactly the code that production workers run.
"""

import logging
import queue
import threading
import time

from rq import Queue, Retry

from photoai.services.redis_conn import get_redis
from photoai.settings import get_settings

log = logging.getLogger(__name__)
RETRY_INTERVALS = [5, 30, 120]

_local_queue: "queue.Queue[int]" = queue.Queue()
_local_worker: threading.Thread | None = None
_local_lock = threading.Lock()


def rq_queue() -> Queue | None:
    conn = get_redis()
    if conn is None:
        return None
    return Queue(get_settings().queue_name, connection=conn)


def enqueue(job_id: int) -> str:
    """Queue a job id; returns which backend took it ("rq" or "in-process")."""
    settings = get_settings()
    rq = rq_queue()
    if rq is not None:
        rq.enqueue(
            "photoai.tasks.run_job",
            job_id,
            job_timeout=settings.job_timeout_seconds,
            retry=Retry(max=settings.job_max_attempts - 1, interval=RETRY_INTERVALS),
            result_ttl=3600,
            failure_ttl=7 * 24 * 3600,
            description=f"job {job_id}",
        )
        return "rq"
    _ensure_local_worker()
    _local_queue.put(job_id)
    return "in-process"


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
