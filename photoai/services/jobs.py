"""Jobs: a `Job` row is the truth about every long operation; a queue only carries it out.

A job is claimed with one conditional UPDATE, so two workers (or an RQ retry racing the
reaper) never run it at once; the claim records which process took it. While a handler runs, a
heartbeat thread stamps the row. `reap_stale` hands the job of a worker that is provably dead
(see `liveness`) to another attempt at once, that of a worker that merely went silent after
`job_stale_after_seconds`, or fails it and releases its held credits. Handlers register by job
kind and receive the job id only.
"""

import json
import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

import redis
from sqlalchemy import or_, select, update
from sqlmodel import Session, col

from photoai.db import session_scope
from photoai.models import Job, JobStatus, utcnow
from photoai.services import credits, job_events, liveness
from photoai.services.low_credits import notify_quietly
from photoai.settings import get_settings

log = logging.getLogger(__name__)


class Outcome(Enum):
    DONE = "done"
    WAITING = "waiting"  # handed to a provider; a webhook or the reconciler finishes it


class PermanentJobError(Exception):
    """A failure that another attempt cannot fix (bad input, provider refusal)."""


Handler = Callable[[int], Outcome]
_handlers: dict[str, Handler] = {}
_finish_hooks: dict[str, Callable[[int], None]] = {}


def register(kind: str, handler: Handler, on_finish: Callable[[int], None] | None = None) -> None:
    """Services register the code that runs their kind of job, and an optional hook called
    once the job reaches a final state (to update a model card, send an email, ...)."""
    _handlers[kind] = handler
    if on_finish is not None:
        _finish_hooks[kind] = on_finish


@dataclass(frozen=True)
class JobView:
    id: int
    user_id: int | None
    kind: str
    status: str
    progress: float
    attempts: int
    max_attempts: int
    error: str
    provider: str
    external_id: str
    credits_held: int
    payload: dict[str, Any]
    created_at: datetime
    finished_at: datetime | None


def _view(job: Job) -> JobView:
    assert job.id is not None
    return JobView(
        id=job.id,
        user_id=job.user_id,
        kind=job.kind,
        status=job.status,
        progress=job.progress,
        attempts=job.attempts,
        max_attempts=job.max_attempts,
        error=job.error,
        provider=job.provider,
        external_id=job.external_id,
        credits_held=job.credits_held,
        payload=json.loads(job.payload or "{}"),
        created_at=job.created_at,
        finished_at=job.finished_at,
    )


def _new_job(
    s: Session,
    kind: str,
    user_id: int | None,
    payload: dict[str, Any] | None,
    deadline: timedelta | None,
) -> Job:
    settings = get_settings()
    job = Job(
        kind=kind,
        user_id=user_id,
        payload=json.dumps(payload or {}),
        max_attempts=settings.job_max_attempts,
        deadline_at=utcnow() + (deadline or timedelta(seconds=settings.job_timeout_seconds)),
    )
    s.add(job)
    s.flush()
    return job


def _hold_for(
    s: Session, job: Job, user_id: int, amount: int, reference: str, description: str
) -> None:
    job.credits_held = amount
    job.hold_reference = reference
    credits.hold(user_id, amount, reference=reference, description=description, session=s)


def _after_create(job_ids: list[int], user_id: int | None, held: bool, enqueue_now: bool) -> None:
    if enqueue_now:
        dispatch(job_ids)
    if held and user_id is not None:
        notify_quietly(user_id)


def _check_queue() -> None:
    from photoai.services.queue import check_available

    check_available()


def dispatch(job_ids: list[int]) -> None:
    """Queue jobs just created. If the queue is unavailable, every one of them is failed as
    "not started" (which releases its credits: nothing stays held for a job nobody will run)
    and `QueueUnavailable` is raised with its message for the user; a job already sent to RQ
    then finds its row finished and does nothing."""
    from photoai.services.queue import QueueUnavailable, enqueue

    try:
        for job_id in job_ids:
            enqueue(job_id)
    except QueueUnavailable as exc:
        for job_id in job_ids:
            fail(job_id, f"Not started: {exc}")
        raise


def create(
    kind: str,
    *,
    user_id: int | None,
    payload: dict[str, Any] | None = None,
    credits_to_hold: int = 0,
    hold_description: str = "",
    deadline: timedelta | None = None,
    enqueue_now: bool = True,
) -> int:
    """Create the row, hold its credits in the same transaction, then queue it (refused with
    `QueueUnavailable` before anything is written when the queue is known to be down)."""
    if enqueue_now:
        _check_queue()
    with session_scope() as s:
        job = _new_job(s, kind, user_id, payload, deadline)
        assert job.id is not None
        if credits_to_hold:
            if user_id is None:
                raise ValueError("only a user's job can hold credits")
            _hold_for(s, job, user_id, credits_to_hold, f"job:{job.id}", hold_description)
        job_id = job.id
    _after_create([job_id], user_id, bool(credits_to_hold), enqueue_now)
    return job_id


@dataclass(frozen=True)
class Created:
    job_id: int
    new: bool


@dataclass(frozen=True)
class NewJob:
    """One job of a `create_many` batch, keyed by its hold reference."""

    hold_reference: str
    credits_to_hold: int
    payload: dict[str, Any]
    hold_description: str = ""


def create_many(
    kind: str,
    *,
    user_id: int,
    new_jobs: list[NewJob],
    deadline: timedelta | None = None,
    enqueue_now: bool = True,
) -> list[Created]:
    """Several jobs and their holds in ONE transaction, queued only after it commits.

    All or nothing: a refused hold, an error or a crash part-way leaves none of them (a pack
    of styles is one purchase). Keyed by the hold references (one click, say): a repeat, even
    a concurrent one, gets the first batch back and holds nothing more. In PostgreSQL a twin
    waits on the first hold's unique index until the first transaction ends, then finds the
    job that owns it and rolls its own rows back. A crash between commit and queueing loses
    nothing: the reaper re-sends queued rows whose queue entry is missing.
    """
    if enqueue_now:
        _check_queue()
    with session_scope() as s:
        job_ids = _insert_batch(s, kind, user_id, new_jobs, deadline)
        if job_ids is None:
            s.rollback()
    if job_ids is None:
        return [Created(job_id, new=False) for job_id in _owners_of(user_id, new_jobs)]
    _after_create(job_ids, user_id, True, enqueue_now)
    return [Created(job_id, new=True) for job_id in job_ids]


def _insert_batch(
    s: Session, kind: str, user_id: int, new_jobs: list[NewJob], deadline: timedelta | None
) -> list[int] | None:
    """The new jobs' ids, or None as soon as another job turns out to own one of the holds."""
    job_ids: list[int] = []
    for item in new_jobs:
        job = _new_job(s, kind, user_id, item.payload, deadline)
        _hold_for(s, job, user_id, item.credits_to_hold, item.hold_reference, item.hold_description)
        twin = s.execute(
            select(col(Job.id)).where(
                col(Job.hold_reference) == item.hold_reference, col(Job.id) != job.id
            )
        ).scalar_one_or_none()
        if twin is not None:
            return None
        assert job.id is not None
        job_ids.append(job.id)
    return job_ids


def _owners_of(user_id: int, new_jobs: list[NewJob]) -> list[int]:
    """The jobs a committed twin made for these holds, in the same order."""
    references = [item.hold_reference for item in new_jobs]
    with session_scope() as s:
        rows = dict(
            s.execute(
                select(col(Job.hold_reference), col(Job.id)).where(
                    col(Job.user_id) == user_id, col(Job.hold_reference).in_(references)
                )
            ).all()
        )
    return [int(rows[reference]) for reference in references]


def get(job_id: int) -> JobView | None:
    with session_scope() as s:
        job = s.get(Job, job_id)
        return _view(job) if job else None


def for_user(user_id: int, job_id: int) -> JobView | None:
    """A user's own job, or None: another user's id looks exactly like a missing one."""
    view = get(job_id)
    return view if view is not None and view.user_id == user_id else None


def claim(job_id: int) -> bool:
    """Take a queued job (or one whose worker went silent) for this worker, exactly once."""
    settings = get_settings()
    now = utcnow()
    stale_before = now - timedelta(seconds=settings.job_stale_after_seconds)
    with session_scope() as s:
        claimed = s.execute(
            update(Job)
            .where(
                col(Job.id) == job_id,
                col(Job.attempts) < col(Job.max_attempts),
                or_(
                    col(Job.status) == JobStatus.QUEUED.value,
                    (col(Job.status) == JobStatus.RUNNING.value)
                    & (col(Job.heartbeat_at) < stale_before)
                    & (col(Job.external_id) == ""),
                ),
            )
            .values(
                status=JobStatus.RUNNING.value,
                attempts=col(Job.attempts) + 1,
                started_at=now,
                heartbeat_at=now,
                updated_at=now,
                claimed_by=liveness.current().to_text(),
            )
            .returning(col(Job.user_id), col(Job.progress))
        ).one_or_none()
    if claimed is None:
        return False
    job_events.publish(claimed.user_id, job_id, JobStatus.RUNNING.value, claimed.progress)
    return True


def heartbeat(job_id: int, progress: float | None = None) -> None:
    """Stamp a running job; a new progress is also pushed to its owner's open pages."""
    values: dict[str, Any] = {"heartbeat_at": utcnow(), "updated_at": utcnow()}
    if progress is not None:
        values["progress"] = max(0.0, min(1.0, progress))
    with session_scope() as s:
        owner = s.execute(
            update(Job)
            .where(col(Job.id) == job_id, col(Job.status) == JobStatus.RUNNING.value)
            .values(**values)
            .returning(col(Job.user_id))
        ).one_or_none()
    if owner is not None and progress is not None:
        job_events.publish(owner.user_id, job_id, JobStatus.RUNNING.value, values["progress"])


def set_external(job_id: int, provider: str, external_id: str) -> None:
    with session_scope() as s:
        s.execute(
            update(Job)
            .where(col(Job.id) == job_id)
            .values(provider=provider, external_id=external_id, updated_at=utcnow())
        )


_UNFINISHED = (JobStatus.QUEUED, JobStatus.RUNNING)


def _finish(
    job_id: int,
    status: JobStatus,
    error: str = "",
    from_statuses: tuple[JobStatus, ...] = _UNFINISHED,
) -> bool:
    """Move a job to a final state once; releases whatever credits are still held."""
    now = utcnow()
    with session_scope() as s:
        job = s.execute(
            update(Job)
            .where(
                col(Job.id) == job_id,
                col(Job.status).in_([state.value for state in from_statuses]),
            )
            .values(
                status=status.value,
                error=error[:2000],
                finished_at=now,
                updated_at=now,
                progress=1.0 if status is JobStatus.SUCCEEDED else col(Job.progress),
            )
            .returning(col(Job.hold_reference), col(Job.kind), col(Job.user_id), col(Job.progress))
        ).one_or_none()
        if job is None:
            return False
        if job.hold_reference:
            credits.release(
                job.hold_reference, description=f"Released: job {job_id} {status.value}", session=s
            )
        kind = job.kind
    hook = _finish_hooks.get(kind)
    if hook is not None:
        hook(job_id)
    job_events.publish(job.user_id, job_id, status.value, job.progress)
    return True


def succeed(job_id: int) -> bool:
    return _finish(job_id, JobStatus.SUCCEEDED)


def fail(job_id: int, error: str) -> bool:
    return _finish(job_id, JobStatus.FAILED, error)


def cancel(job_id: int, user_id: int) -> bool:
    """Users cancel their own queued jobs; anything already running goes on."""
    with session_scope() as s:
        owned = s.execute(
            select(col(Job.id)).where(
                col(Job.id) == job_id,
                col(Job.user_id) == user_id,
                col(Job.status) == JobStatus.QUEUED.value,
            )
        ).scalar_one_or_none()
    if owned is None:
        return False
    return _finish(job_id, JobStatus.CANCELED, "Canceled by you.")


def cancel_queued(job_id: int, note: str) -> bool:
    """An operator cancels a queued job (whoever owns it), releasing its hold; False when
    it is not queued (a worker that claimed it first wins, and the job runs)."""
    return _finish(job_id, JobStatus.CANCELED, note, from_statuses=(JobStatus.QUEUED,))


def _requeue(job_id: int, error: str) -> None:
    with session_scope() as s:
        owner = s.execute(
            update(Job)
            .where(col(Job.id) == job_id, col(Job.status) == JobStatus.RUNNING.value)
            .values(status=JobStatus.QUEUED.value, error=error[:2000], updated_at=utcnow())
            .returning(col(Job.user_id), col(Job.progress))
        ).one_or_none()
    if owner is not None:
        job_events.publish(owner.user_id, job_id, JobStatus.QUEUED.value, owner.progress)


class _Heartbeat(threading.Thread):
    def __init__(self, job_id: int, every: float) -> None:
        super().__init__(daemon=True, name=f"heartbeat-{job_id}")
        self.job_id = job_id
        self.every = every
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.every):
            try:
                heartbeat(self.job_id)
            except Exception:
                log.exception("heartbeat for job %s failed", self.job_id)


def run(job_id: int) -> str:
    """Carry out one attempt of a job; safe to call any number of times for the same id.

    Returns what happened, for logs and tests. A transient error re-raises after putting the
    job back in the queue so that the queue's retry runs the next attempt; the last attempt
    fails the job visibly instead.
    """
    if not claim(job_id):
        return "skipped"
    view = get(job_id)
    assert view is not None
    handler = _handlers.get(view.kind)
    if handler is None:
        fail(job_id, f"No handler for job kind {view.kind!r}.")
        return "failed"
    beat = _Heartbeat(job_id, get_settings().job_heartbeat_seconds)
    beat.start()
    try:
        outcome = handler(job_id)
    except PermanentJobError as exc:
        fail(job_id, str(exc))
        return "failed"
    except Exception as exc:
        log.exception("job %s attempt %s failed", job_id, view.attempts)
        if view.attempts >= view.max_attempts:
            fail(job_id, f"Failed after {view.attempts} attempts: {exc}")
            return "failed"
        _requeue(job_id, str(exc))
        raise
    finally:
        beat.stopped.set()
    if outcome is Outcome.DONE:
        succeed(job_id)
        return "succeeded"
    return "waiting"


def _dead_claims(s: Session) -> list[tuple[int, int, int, str]]:
    """Running jobs (not yet handed to a provider) whose claiming process is provably dead."""
    from photoai.services.redis_conn import get_redis

    rows = s.execute(
        select(
            col(Job.id),
            col(Job.attempts),
            col(Job.max_attempts),
            col(Job.claimed_by),
            col(Job.heartbeat_at),
        ).where(
            col(Job.status) == JobStatus.RUNNING.value,
            col(Job.external_id) == "",
            col(Job.claimed_by) != "",
        )
    ).all()
    # Another host's worker is dead when RQ says so and the job's heartbeat (stamped by the
    # work horse itself, which can outlive its worker) has missed two beats.
    silent_before = utcnow() - timedelta(seconds=2 * get_settings().job_heartbeat_seconds)
    conn = get_redis()
    dead = []
    for job_id, attempts, max_attempts, claimed_by, heartbeat_at in rows:
        claimant = liveness.Claimant.from_text(claimed_by)
        if claimant is None:
            continue
        if liveness.process_gone(claimant) or (
            conn is not None
            and claimant.rq_worker
            and heartbeat_at is not None
            and heartbeat_at < silent_before
            and _rq_forgot(conn, claimant.rq_worker)
        ):
            dead.append((int(job_id), int(attempts), int(max_attempts), str(claimed_by)))
    return dead


def _rq_forgot(conn: redis.Redis, worker_name: str) -> bool:
    """RQ no longer knows the worker; a Redis failure proves nothing."""
    from photoai.services.redis_conn import report_failure

    try:
        return not liveness.rq_worker_alive(conn, worker_name)
    except redis.RedisError as exc:
        report_failure(exc)
        return False


def _give_back(job_id: int, claimed_by: str) -> bool:
    """Put a dead claimant's job back in the queue, unless it moved on meanwhile."""
    with session_scope() as s:
        owner = s.execute(
            update(Job)
            .where(
                col(Job.id) == job_id,
                col(Job.status) == JobStatus.RUNNING.value,
                col(Job.claimed_by) == claimed_by,
            )
            .values(
                status=JobStatus.QUEUED.value,
                error="The worker running it stopped; retrying.",
                updated_at=utcnow(),
            )
            .returning(col(Job.user_id), col(Job.progress))
        ).one_or_none()
    if owner is None:
        return False
    job_events.publish(owner.user_id, job_id, JobStatus.QUEUED.value, owner.progress)
    return True


REAP_OUTCOMES = ("recovered", "requeued", "resent", "failed", "expired")


def reap_stale() -> Counter[str]:
    """Recover jobs whose worker died and fail jobs past their deadline; says what it did
    (an empty, falsy Counter when nothing needed doing).

    A running job whose claimant is provably dead goes back to the queue at once; one with no
    heartbeat for `job_stale_after_seconds` (and no provider attached) too. Either fails
    instead when no attempts remain. Any unfinished job past `deadline_at` fails, so nothing
    stays queued or running forever; failures release held credits. Queued rows whose queue
    entry was lost are sent again (a no-op for those the queue still holds). When the queue
    is down, sending waits for a later pass.
    """
    from photoai.services.queue import QueueUnavailable, enqueue

    settings = get_settings()
    now = utcnow()
    stale_before = now - timedelta(seconds=settings.job_stale_after_seconds)
    counts: Counter[str] = Counter()
    with session_scope() as s:
        expired = set(
            s.execute(
                select(col(Job.id)).where(
                    col(Job.status).in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value]),
                    col(Job.deadline_at) < now,
                )
            ).scalars()
        )
        dead = _dead_claims(s)
        stale = list(
            s.execute(
                select(col(Job.id), col(Job.attempts), col(Job.max_attempts)).where(
                    col(Job.status) == JobStatus.RUNNING.value,
                    col(Job.external_id) == "",
                    col(Job.heartbeat_at) < stale_before,
                )
            ).all()
        )
        # Queued rows whose queue entry was lost (Redis keeps nothing across a restart).
        forgotten = list(
            s.execute(
                update(Job)
                .where(
                    col(Job.status) == JobStatus.QUEUED.value, col(Job.updated_at) < stale_before
                )
                .values(updated_at=now)
                .returning(col(Job.id))
            ).scalars()
        )
    for job_id in expired:
        if fail(job_id, "Timed out: the job did not finish before its deadline."):
            counts["expired"] += 1
    to_send: list[tuple[int, str]] = []
    handled = set(expired)
    for job_id, attempts, max_attempts, claimed_by in dead:
        if job_id in handled:
            continue
        handled.add(job_id)
        if attempts >= max_attempts:
            if fail(job_id, f"The worker stopped during attempt {attempts} of {max_attempts}."):
                counts["failed"] += 1
        elif _give_back(job_id, claimed_by):
            counts["recovered"] += 1
            to_send.append((job_id, "recovered"))
    for job_id, attempts, max_attempts in stale:
        if job_id in handled:
            continue
        handled.add(job_id)
        if attempts >= max_attempts:
            if fail(job_id, f"The worker stopped during attempt {attempts} of {max_attempts}."):
                counts["failed"] += 1
        else:
            to_send.append((job_id, "requeued"))
    to_send += [(job_id, "resent") for job_id in forgotten if job_id not in handled]
    for job_id, what in to_send:
        try:
            outcome = enqueue(job_id)
        except QueueUnavailable:
            log.warning("the queue is unavailable: %s jobs wait for the next pass", len(to_send))
            break
        if what != "recovered" and not outcome.startswith("already"):
            counts[what] += 1
    return counts
