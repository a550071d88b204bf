"""A burst of one-image generations from many users at once, through the run command's workers.

    .venv/bin/python bench/job_burst.py                # workers as `photoai serve-plan` says
    .venv/bin/python bench/job_burst.py --workers 1    # any other number of worker processes

Needs Redis at PHOTOAI_REDIS_URL. Runs on a fresh SQLite database and local storage in a
temporary folder (the run command's defaults) unless PHOTOAI_DATABASE_URL points at a
database. Each of `--users` users (20) gets an account with credits and consent and four real
face photos through the training service (Instant needs them), which is set-up, not timed.
Then the workers start exactly as `scripts/run.sh` starts them (`worker.py --processes N`),
the bench waits until all N have registered with RQ and the machine has settled, and every
user submits one Instant picture with the demo provider at the same moment, through
`generation.submit` as the Generate page does.

Prints, from the job rows: the wait from submit to start (p50/p95/max), the run time of an
attempt, and the time until the last job finished. The per-job fork and start-up cost is
measured apart, on one idle worker process: the wall time per no-op job through RQ (dequeue,
fork, the work horse's bookkeeping, exit), and, in the burst, the time from each work horse's
birth (the start time in its job row's claimant) to its claim of the job.
"""

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("PHOTOAI_BCRYPT_ROUNDS", "4")  # bench users never type a password
os.environ.setdefault("PHOTOAI_MIN_PHOTOS", "4")  # Instant from four photos: a shorter set-up

import psutil
import redis
from process_stats import cpu_seconds, percentile
from rq import Queue, Worker
from sqlalchemy import select
from sqlmodel import col

from photoai import cli, serve_plan
from photoai.db import get_engine, session_scope
from photoai.models import Job, JobStatus, LedgerKind
from photoai.services import accounts, credits, generation, liveness, training
from photoai.services.privacy import consent
from photoai.settings import PROJECT_ROOT, get_settings

sys.path.insert(0, str(PROJECT_ROOT))
from tests import photos  # the tests' real face photos, made offline

FINISH_WITHIN_SECONDS = 120.0
NOOP_JOBS = 30
_FINAL = (JobStatus.SUCCEEDED.value, JobStatus.FAILED.value, JobStatus.CANCELED.value)


def _user_with_photos(n: int, pictures: tuple[bytes, ...]) -> int:
    uid = accounts.register(f"burst-{n}-{secrets.token_hex(3)}@example.com", secrets.token_hex(12))
    credits.grant(uid, 50, kind=LedgerKind.ADJUSTMENT, reference=f"bench:{uid}")
    consent.record_consent(uid)
    model_id = training.create_draft(uid, "Me", "woman")
    for number, data in enumerate(pictures):
        view = training.add_photo(uid, model_id, f"IMG_{number}.jpg", data)
        if not view.accepted:
            raise RuntimeError(f"a bench photo was refused: {view.reason}")
    return uid


def _tree_cpu_seconds(root: int) -> float:
    """CPU seconds of the worker and every live process under it."""
    top = psutil.Process(root)
    return cpu_seconds([top, *top.children(recursive=True)])


@contextmanager
def _workers(count: int, log_dir: Path, queue: Queue) -> Iterator[int]:
    """`worker.py --processes count`, as scripts/run.sh starts it, until the block ends; its pid."""
    with (log_dir / "worker.log").open("ab") as log:
        proc = subprocess.Popen(  # noqa: S603 (our own interpreter and script)
            [sys.executable, "worker.py", "--processes", str(count)],
            cwd=PROJECT_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    started = time.monotonic()
    try:
        while len(Worker.all(queue=queue)) < count:
            if time.monotonic() - started > 120 or proc.poll() is not None:
                raise RuntimeError(f"the workers did not all start; see {log_dir}")
            time.sleep(0.2)
        print(f"{count} RQ worker processes ready after {time.monotonic() - started:.1f} s")
        time.sleep(5.0)  # let the upkeep's first pass and the start-up work finish
        yield proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _noop_cost(queue: Queue) -> float:
    """Milliseconds per no-op job sent one at a time to idle workers: RQ's dequeue, the fork,
    the work horse's bookkeeping and exit, and the result coming back."""
    times = []
    for _ in range(NOOP_JOBS):
        started = time.perf_counter()
        job = queue.enqueue("os.getpid", result_ttl=60)
        if job.latest_result(timeout=30) is None:
            raise RuntimeError("a no-op job did not finish")
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _burst(user_ids: list[int]) -> list[int]:
    """Every user submits one Instant picture at the same moment; the job ids."""
    gate = threading.Barrier(len(user_ids))
    made: list[int] = []
    lock = threading.Lock()

    def submit(uid: int) -> None:
        gate.wait()
        ids = generation.submit(
            uid,
            generation.GenerationOptions("instant", prompt="at the seaside", count=1),
            secrets.token_hex(8),
        )
        with lock:
            made.extend(ids)

    threads = [threading.Thread(target=submit, args=(uid,)) for uid in user_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return made


def _rows(job_ids: list[int]) -> list[Job]:
    with session_scope() as s:
        rows = list(s.execute(select(Job).where(col(Job.id).in_(job_ids))).scalars())
        s.expunge_all()
    return rows


def _wait_for(job_ids: list[int]) -> list[Job]:
    deadline = time.monotonic() + FINISH_WITHIN_SECONDS
    while True:
        rows = _rows(job_ids)
        if all(r.status in _FINAL for r in rows) or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def _horse_startup_ms(row: Job) -> float | None:
    """From the work horse's birth to its claim of the job (clock ticks: 10 ms resolution)."""
    claimant = liveness.Claimant.from_text(row.claimed_by)
    if claimant is None or not claimant.started or row.started_at is None:
        return None
    # Start times count from boot on the boot-time clock; /proc/stat's btime is whole seconds.
    boot = time.clock_gettime(time.CLOCK_REALTIME) - time.clock_gettime(time.CLOCK_BOOTTIME)
    born = boot + claimant.started / os.sysconf("SC_CLK_TCK")
    claimed = row.started_at.timestamp()
    return (claimed - born) * 1000


def report(rows: list[Job]) -> None:
    waits = [(r.started_at - r.created_at).total_seconds() for r in rows if r.started_at]
    runs = [
        (r.finished_at - r.started_at).total_seconds() * 1000
        for r in rows
        if r.started_at and r.finished_at
    ]
    first = min(r.created_at for r in rows)
    ends = [r.finished_at for r in rows if r.finished_at]
    statuses = sorted({r.status for r in rows})
    startups = [ms for r in rows if (ms := _horse_startup_ms(r)) is not None]
    print(f"jobs: {len(rows)}, statuses: {statuses}, attempts: {sum(r.attempts for r in rows)}")
    print(
        f"start wait: p50 {statistics.median(waits):.2f} s, p95 {percentile(waits, 0.95):.2f} s, "
        f"max {max(waits):.2f} s"
    )
    print(f"attempt run time: p50 {statistics.median(runs):.0f} ms, max {max(runs):.0f} ms")
    if len(ends) == len(rows):
        print(f"all finished {(max(ends) - first).total_seconds():.2f} s after the first submit")
    else:
        print(f"{len(rows) - len(ends)} jobs unfinished after {FINISH_WITHIN_SECONDS:.0f} s")
    if startups:
        print(
            f"work horse birth to claim: p50 {statistics.median(startups):.0f} ms, "
            f"max {max(startups):.0f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=0, help="default: as serve-plan says")
    parser.add_argument("--users", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="photoai-burst-") as workdir:
        os.environ["PHOTOAI_DATA_DIR"] = workdir
        os.environ["PHOTOAI_QUEUE_NAME"] = f"burst-{secrets.token_hex(4)}"
        get_settings.cache_clear()
        settings = get_settings()
        conn = redis.Redis.from_url(settings.redis_url)
        conn.ping()
        queue = Queue(settings.queue_name, connection=conn)
        workers = args.workers or serve_plan.current_plan().job_workers
        cli.main(["migrate"])
        print(f"database: {get_engine().dialect.name}; {os.cpu_count()} cores")
        pictures = photos.one_person_jpegs()[:4]
        user_ids = [_user_with_photos(n, pictures) for n in range(args.users)]
        print(f"{len(user_ids)} users with 4 photos each")
        with _workers(workers, Path(workdir), queue) as worker_pid:
            print(f"load: {os.getloadavg()[0]:.2f} (1 min average before the burst)")
            cpu_before = _tree_cpu_seconds(worker_pid)
            rows = _wait_for(_burst(user_ids))
            time.sleep(0.5)  # the last work horses exit and are reaped
            cpu = _tree_cpu_seconds(worker_pid) - cpu_before
            report(rows)
            print(f"worker CPU: {cpu:.2f} s in all, {cpu / len(rows) * 1000:.0f} ms per job")
            log_text = (Path(workdir) / "worker.log").read_text()
            errors = [line for line in log_text.splitlines() if "Error" in line]
            print(f"worker log lines naming an error: {len(errors)}", *errors[:5], sep="\n  ")
            time.sleep(1.0)
            print(f"no-op job through RQ, one at a time: median {_noop_cost(queue):.0f} ms")
        print(f"load: {os.getloadavg()[0]:.2f} (1 min average at the end)")


if __name__ == "__main__":
    main()
