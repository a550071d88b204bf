"""Jobs as an operator sees them: a filtered newest-first list, retrying a failed job and
cancelling a queued one, each through the jobs service so credits are held and released by
the same rules as for users."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlmodel import col

from photoai.db import session_scope
from photoai.models import Job, JobStatus, PersonalModel, User
from photoai.services import credits, jobs, training
from photoai.services.admin import audit
from photoai.services.admin.access import require_admin
from photoai.services.admin.audit import AdminError
from photoai.services.generation_runs import KIND as GENERATION
from photoai.services.generation_runs import GenerationSpec
from photoai.services.privacy.deletion import KIND as ACCOUNT_DELETION
from photoai.services.privacy.export import KIND as DATA_EXPORT
from photoai.services.queue import QueueUnavailable
from photoai.services.training_runs import KIND as TRAINING

KINDS = (GENERATION, TRAINING, DATA_EXPORT, ACCOUNT_DELETION)
STATUSES = tuple(status.value for status in JobStatus)
RETRYABLE = (GENERATION, TRAINING)


@dataclass(frozen=True)
class JobFilter:
    kind: str = ""
    status: str = ""
    provider: str = ""

    def checked(self) -> "JobFilter":
        if self.kind and self.kind not in KINDS:
            raise AdminError(f"Unknown job kind {self.kind[:40]!r}.")
        if self.status and self.status not in STATUSES:
            raise AdminError(f"Unknown job status {self.status[:40]!r}.")
        if len(self.provider) > 32:
            raise AdminError("Unknown provider.")
        return self


@dataclass(frozen=True)
class JobRow:
    id: int
    user_id: int | None
    user_email: str
    kind: str
    status: str
    provider: str
    attempts: int
    credits_held: int
    error: str
    created_at: datetime
    finished_at: datetime | None


def list_jobs(where: JobFilter, *, before_id: int | None = None, limit: int = 50) -> list[JobRow]:
    """Newest first, keyset-paged by id (`before_id`: the last id of the previous page), so a
    page costs the same at any depth; indexes (kind, status, id) and (status, id) serve it."""
    where = where.checked()
    with session_scope() as s:
        query = select(Job, col(User.email)).join(
            User, col(User.id) == col(Job.user_id), isouter=True
        )
        if where.kind:
            query = query.where(col(Job.kind) == where.kind)
        if where.status:
            query = query.where(col(Job.status) == where.status)
        if where.provider:
            query = query.where(col(Job.provider) == where.provider)
        if before_id is not None:
            query = query.where(col(Job.id) < before_id)
        rows = s.execute(query.order_by(col(Job.id).desc()).limit(limit)).all()
    found = []
    for job, email in rows:
        assert job.id is not None
        found.append(
            JobRow(
                id=job.id,
                user_id=job.user_id,
                user_email=email or "",
                kind=job.kind,
                status=job.status,
                provider=job.provider,
                attempts=job.attempts,
                credits_held=job.credits_held,
                error=job.error[:300],
                created_at=job.created_at,
                finished_at=job.finished_at,
            )
        )
    return found


def providers_seen() -> list[str]:
    """The providers named on jobs, for the filter's choices."""
    with session_scope() as s:
        rows = s.execute(
            select(col(Job.provider)).where(col(Job.provider) != "").distinct()
        ).scalars()
        return sorted(str(p) for p in rows)


def _check_admin(admin_id: int) -> None:
    with session_scope() as s:
        require_admin(s, admin_id)


def retry(admin_id: int, job_id: int, reason: str) -> int:
    """Run a failed generation or training again for its owner; returns the new job's id.

    A new job holds its credits again from the owner's balance (the failed one gave them
    back), refused like any request when the balance is short. A generation is retried at
    most once per failed job (a repeat returns the same new job); a training through the
    model's own retry, only while that job is the model's latest.
    """
    why = audit.clean_reason(reason)
    _check_admin(admin_id)
    view = jobs.get(job_id)
    if view is None:
        raise AdminError(f"No job #{job_id}.")
    if view.status != JobStatus.FAILED.value:
        raise AdminError(f"Only a failed job can be retried; job #{job_id} is {view.status}.")
    if view.kind not in RETRYABLE or view.user_id is None:
        raise AdminError(f"{view.kind} jobs are not retried from the console.")
    try:
        new_id = _retry_training(view) if view.kind == TRAINING else _retry_generation(view)
    except (credits.CreditError, training.TrainingError, QueueUnavailable) as exc:
        raise AdminError(f"Not retried: {exc}") from exc
    audit.record(
        None,
        actor_id=admin_id,
        action="job.retry",
        target_type="job",
        target_id=job_id,
        reason=why,
        details={"new_job": new_id, "kind": view.kind, "user": view.user_id},
    )
    return new_id


def _retry_training(view: jobs.JobView) -> int:
    assert view.user_id is not None
    model_id = int(view.payload.get("model_id") or 0)
    with session_scope() as s:
        latest = s.execute(
            select(col(PersonalModel.job_id)).where(col(PersonalModel.id) == model_id)
        ).one_or_none()
    if latest is None:
        raise AdminError("Its model was deleted.")
    if latest.job_id != view.id:
        raise AdminError("Its model was trained again since; retry the latest job instead.")
    return training.retry_training(view.user_id, model_id)


def _retry_generation(view: jobs.JobView) -> int:
    assert view.user_id is not None
    spec = GenerationSpec.from_payload(view.payload)
    created = jobs.create_many(
        GENERATION,
        user_id=view.user_id,
        new_jobs=[
            jobs.NewJob(
                hold_reference=f"retry:{view.id}",
                credits_to_hold=spec.credits,
                payload=view.payload,
                hold_description=f"{spec.count} x {spec.label} (retry of job {view.id})",
            )
        ],
    )
    return created[0].job_id


def cancel(admin_id: int, job_id: int, reason: str) -> None:
    """Cancel a queued job of any user; its held credits go back to the owner."""
    why = audit.clean_reason(reason)
    _check_admin(admin_id)
    if not jobs.cancel_queued(job_id, f"Canceled by an operator: {why}"):
        view = jobs.get(job_id)
        if view is None:
            raise AdminError(f"No job #{job_id}.")
        raise AdminError(f"Only a queued job can be canceled; job #{job_id} is {view.status}.")
    audit.record(
        None,
        actor_id=admin_id,
        action="job.cancel",
        target_type="job",
        target_id=job_id,
        reason=why,
    )
