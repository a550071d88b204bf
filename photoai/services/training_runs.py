"""Running trainings: the job handler, provider updates, the finish hook and the reconciler.

A training is a Job of kind "training" whose handler zips the accepted photos, hands them to
the trainer and returns WAITING. From then on three paths can report the outcome: a signed
webhook, the reconciler's poll, and the deadline. All of them go through
`apply_provider_update`, which is idempotent, and through `jobs.succeed`/`jobs.fail`, whose
single final transition triggers `on_training_finished` once: that is where the model card is
settled, a training abandoned on our side is cancelled at the provider, and the email is sent.

A POST that creates a training is never repeated blindly. Before it the job's external id is
set to SUBMITTING; a worker that dies mid-submit leaves that mark, so the job is not handed to
another attempt (which could start and bill a second training) but failed by the reconciler
with the credits returned. A submit whose answer leaves it open whether the provider accepted
it (a timeout, an unreadable 2xx: "maybe submitted") is looked up at the provider instead;
when the provider cannot say, the job fails visibly with the credits returned.
"""

import base64
import hashlib
import hmac
import json
import logging
import re
import struct
import threading
import time
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from io import BytesIO
from typing import Any
from urllib.parse import quote, urlencode

from sqlalchemy import select, update
from sqlmodel import col

from photoai.db import session_scope
from photoai.models import Job, JobStatus, ModelStatus, PersonalModel, TrainingPhoto, User, utcnow
from photoai.observe import context, metrics
from photoai.providers.base import (
    ProviderError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
    Submitted,
    Trainer,
    TrainingRequest,
    TrainingState,
    TrainingStatus,
    WebhookEvent,
)
from photoai.providers.demo_trainer import DemoTrainer
from photoai.providers.fal_trainer import FalTrainer
from photoai.providers.replicate_trainer import ReplicateTrainer
from photoai.services import analytics, credits, job_events, jobs
from photoai.services.email import send_email
from photoai.services.processed_events import claim, was_claimed
from photoai.services.storage import LinkCheck, S3Storage, Storage, get_storage
from photoai.settings import Settings, get_settings
from photoai.wording import counted

log = logging.getLogger(__name__)

KIND = "training"
SUBMITTING = "submitting"
UNCONFIRMED = "The training service did not confirm the training, so it was not repeated."
PROVIDER_FILES_ROUTE = "/provider-files"
WEBHOOK_ROUTE = "/api/webhooks"
_ACTIVE_MODEL = (ModelStatus.QUEUED.value, ModelStatus.TRAINING.value)
_ACTIVE_JOB = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)
_FINAL_JOB = (JobStatus.SUCCEEDED.value, JobStatus.FAILED.value, JobStatus.CANCELED.value)
_PROVIDER_LINK_PURPOSE = b"photoai:provider-link:v1"
# Provider links only ever open what a provider needs (a training zip, a model's weights, a
# training photo for Instant), so a leaked one exposes nothing else.
_PROVIDER_KEYS = re.compile(
    r"users/\d+/models/\d+/(training/job-\d+\.zip|weights/job-\d+\.safetensors|photos/\d+\.jpg)"
)


# --- trainers ----------------------------------------------------------------------------------

TRAINERS = ("demo", "fal", "replicate")
_trainers: dict[str, tuple[Settings, Trainer]] = {}
_trainers_lock = threading.Lock()


def trainer_problem(name: str, settings: Settings | None = None) -> str | None:
    """What an operator still has to configure before `name` can train; None when ready."""
    settings = settings or get_settings()
    if name not in TRAINERS:
        return f"unknown trainer {name!r}"
    if name == "fal" and not settings.fal_key:
        return "PHOTOAI_FAL_KEY is not set"
    if name == "replicate":
        missing = [
            env
            for env, value in (
                ("PHOTOAI_REPLICATE_API_TOKEN", settings.replicate_api_token),
                ("PHOTOAI_REPLICATE_DESTINATION_OWNER", settings.replicate_destination_owner),
                ("PHOTOAI_REPLICATE_WEBHOOK_SECRET", settings.replicate_webhook_secret),
            )
            if not value
        ]
        if missing:
            return f"{', '.join(missing)} not set"
    fewest, most = photo_range(settings)
    if most < fewest:
        return (
            f"PHOTOAI_MAX_PHOTOS is {settings.max_photos}, below the {fewest} photos the "
            f"{name} trainer needs"
        )
    return None


def photo_range(settings: Settings | None = None) -> tuple[int, int]:
    """(fewest, most) photos a training takes here: the operator's PHOTOAI_MIN_PHOTOS and
    PHOTOAI_MAX_PHOTOS narrowed to what the configured trainer itself accepts, so a model is
    never sent with fewer photos than its trainer needs (fal's portrait trainer: 10)."""
    settings = settings or get_settings()
    fewest, most = settings.min_photos, settings.max_photos
    if settings.trainer in TRAINERS:
        own = trainer_for(settings.trainer).photo_limits
        fewest = max(fewest, own.min_photos)
        if own.max_photos is not None:
            most = min(most, own.max_photos)
    return fewest, most


def trainer_for(name: str) -> Trainer:
    """One trainer per provider and settings object, so HTTP connections and looked-up
    versions are reused; a new settings object (tests, reload) gets fresh trainers."""
    settings = get_settings()
    with _trainers_lock:
        cached = _trainers.get(name)
        if cached is not None and cached[0] is settings:
            return cached[1]
        trainer: Trainer
        if name == "demo":
            trainer = DemoTrainer(get_storage(settings), settings.demo_training_seconds)
        elif name == "fal":
            trainer = FalTrainer(settings)
        elif name == "replicate":
            trainer = ReplicateTrainer(settings)
        else:
            raise ProviderRejected(f"unknown trainer {name!r}")
        _trainers[name] = (settings, trainer)
        return trainer


# --- links a provider can fetch its input files from -----------------------------------


def _provider_signature(secret: str, key: str, expires_at: int) -> str:
    message = b"\n".join((_PROVIDER_LINK_PURPOSE, key.encode(), str(expires_at).encode()))
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def verify_provider_link(
    secret: str, key: str, expires_at: str, signature: str, *, now: float | None = None
) -> LinkCheck:
    """Check a session-less link made by `provider_files_url` (local storage only)."""
    if not _PROVIDER_KEYS.fullmatch(key):
        return LinkCheck.INVALID
    if not (expires_at.isascii() and expires_at.isdigit() and len(expires_at) <= 12):
        return LinkCheck.INVALID
    expected = _provider_signature(secret, key, int(expires_at))
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        return LinkCheck.INVALID
    if int(expires_at) <= (time.time() if now is None else now):
        return LinkCheck.EXPIRED
    return LinkCheck.VALID


def provider_files_url(storage: Storage, key: str, user_id: int, expires_in: int) -> str:
    """An absolute URL a provider can download `key` from without a session.

    S3 presigns its own; local files go through our /provider-files route under the public
    base URL. Either way the link lives as long as the training may wait in a queue.
    """
    if isinstance(storage, S3Storage):
        return storage.signed_url(key, user_id, expires_in)
    settings = get_settings()
    expires_at = int(time.time()) + expires_in
    query = urlencode(
        {"exp": expires_at, "sig": _provider_signature(settings.signing_key, key, expires_at)}
    )
    return f"{settings.resolved_public_base_url}{PROVIDER_FILES_ROUTE}/{quote(key)}?{query}"


# --- the job handler ---------------------------------------------------------------------------


def training_zip_key(user_id: int, model_id: int, job_id: int) -> str:
    return f"users/{user_id}/models/{model_id}/training/job-{job_id}.zip"


def weights_key(user_id: int, model_id: int, job_id: int) -> str:
    return f"users/{user_id}/models/{model_id}/weights/job-{job_id}.safetensors"


@dataclass(frozen=True)
class _Work:
    user_id: int
    model_id: int
    trigger_word: str
    subject: str
    photo_keys: list[str]


def _load_work(job_id: int, model_id: int) -> _Work:
    with session_scope() as s:
        model = s.get(PersonalModel, model_id)
        if model is None or model.job_id != job_id:
            raise jobs.PermanentJobError("The model was deleted before training started.")
        keys = list(
            s.execute(
                select(col(TrainingPhoto.storage_key))
                .where(
                    col(TrainingPhoto.model_id) == model_id,
                    col(TrainingPhoto.accepted),
                    ~col(TrainingPhoto.held_out),  # kept back to score the pictures against
                )
                .order_by(col(TrainingPhoto.created_at), col(TrainingPhoto.id))
            ).scalars()
        )
        return _Work(model.user_id, model_id, model.trigger_word, model.subject, keys)


def _zip_photos(storage: Storage, keys: list[str]) -> bytes:
    """JPEGs are already compressed, so they are stored, not deflated."""
    out = BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for number, key in enumerate(keys, start=1):
            archive.writestr(f"{number:02d}.jpg", storage.get(key))
    return out.getvalue()


def run_training(job_id: int) -> jobs.Outcome:
    """Zip the photos, submit them once, and leave the rest to webhooks and the reconciler."""
    settings = get_settings()
    view = jobs.get(job_id)
    assert view is not None
    provider = str(view.payload["provider"])
    context.bind(provider=provider)
    work = _load_work(job_id, int(view.payload["model_id"]))
    fewest, _ = photo_range(settings)
    if len(work.photo_keys) < fewest:
        raise jobs.PermanentJobError(f"Training needs at least {fewest} photos.")
    storage = get_storage(settings)
    zip_key = training_zip_key(work.user_id, work.model_id, job_id)
    storage.put(zip_key, _zip_photos(storage, work.photo_keys), "application/zip")
    request = TrainingRequest(
        reference=f"job-{job_id}",
        images_url=provider_files_url(
            storage, zip_key, work.user_id, settings.training_deadline_minutes * 60
        ),
        images_key=zip_key,
        trigger_word=work.trigger_word,
        subject=work.subject,
        steps=settings.training_steps,
        webhook_url=f"{settings.resolved_public_base_url}{WEBHOOK_ROUTE}/{provider}",
    )
    trainer = trainer_for(provider)
    jobs.set_external(job_id, provider, SUBMITTING)
    try:
        submitted = trainer.submit(request)
    except ProviderRejected as exc:
        raise jobs.PermanentJobError(f"The training service refused the request: {exc}") from exc
    except ProviderUnavailable as exc:
        if exc.maybe_submitted:
            submitted = _find_unconfirmed(trainer, request, exc)
        else:
            jobs.set_external(job_id, provider, "")
            raise
    except ProviderRateLimited:
        jobs.set_external(job_id, provider, "")
        raise
    jobs.set_external(job_id, provider, submitted.external_id)
    with session_scope() as s:
        training = s.execute(
            update(PersonalModel)
            .where(
                col(PersonalModel.id) == work.model_id,
                col(PersonalModel.job_id) == job_id,
                col(PersonalModel.status) == ModelStatus.QUEUED.value,
            )
            .values(status=ModelStatus.TRAINING.value, progress=0.0, updated_at=utcnow())
            .returning(col(PersonalModel.id))
        ).scalar_one_or_none()
    if training is not None:  # the model page shows "Training 0 %" from now on
        job_events.publish(work.user_id, job_id, JobStatus.RUNNING.value, 0.0)
    after = jobs.get(job_id)
    if after is not None and JobStatus(after.status).finished:
        # Deleted or expired while we were submitting: do not let the provider train for nothing.
        _cancel_quietly(provider, submitted.external_id)
    return jobs.Outcome.WAITING


def _find_unconfirmed(
    trainer: Trainer, request: TrainingRequest, failure: ProviderUnavailable
) -> Submitted:
    """A submit that may have been accepted is looked up, never sent again (a second POST
    could start, and bill, a second training). Not found, or no way to look: the job fails
    visibly and its credits go back."""
    log.warning("training %s may have been submitted: %s", request.reference, failure)
    try:
        found = trainer.find_submitted(request)
    except ProviderError as exc:
        log.warning("looking up training %s failed: %s", request.reference, exc)
        found = None
    if found is None:
        raise jobs.PermanentJobError(UNCONFIRMED) from failure
    return found


# --- provider updates --------------------------------------------------------------------------


def _find_job(provider: str, external_id: str) -> Job | None:
    if not external_id or external_id == SUBMITTING:
        return None
    with session_scope() as s:
        return s.execute(
            select(Job).where(
                col(Job.kind) == KIND,
                col(Job.provider) == provider,
                col(Job.external_id) == external_id,
            )
        ).scalar_one_or_none()


def _model_id(job: Job) -> int:
    return int(json.loads(job.payload)["model_id"])


def looks_like_safetensors(data: bytes) -> bool:
    """A u64 header length followed by that many bytes of JSON object: enough to refuse an
    error page or an archive stored as weights."""
    if len(data) < 10:
        return False
    (size,) = struct.unpack("<Q", data[:8])
    if size > len(data) - 8 or size > 100 * 1024 * 1024:
        return False
    try:
        header = json.loads(data[8 : 8 + size])
    except ValueError:
        return False
    return isinstance(header, dict)


def apply_provider_update(
    provider: str, external_id: str, status: TrainingStatus, *, event_id: str | None = None
) -> str:
    """Bring our records in line with what the provider says; safe to repeat.

    Returns "unknown" (no such training of ours), "finished" (already final, nothing to do),
    "duplicate" (this webhook event was applied before), "progress" or "applied". With an
    `event_id` the event is recorded in the same transaction as its database effect.
    """
    job = _find_job(provider, external_id)
    if job is None:
        return "unknown"
    if JobStatus(job.status).finished:
        return "finished"
    if event_id and was_claimed(provider, event_id):
        return "duplicate"
    if status.state is TrainingState.SUCCEEDED:
        return _apply_success(job, provider, status, event_id)
    if status.state.finished:
        reason = (
            "The training was canceled at the provider."
            if status.state is TrainingState.CANCELED
            else f"Training failed at the provider: {status.error or 'no reason given'}"
        )
        return _apply_failure(job, provider, reason, event_id)
    with session_scope() as s:
        if event_id and not claim(s, provider, event_id, "training.progress"):
            return "duplicate"
        values: dict[str, Any] = {"status": ModelStatus.TRAINING.value, "updated_at": utcnow()}
        if status.progress is not None:
            values["progress"] = max(0.0, min(1.0, status.progress))
        s.execute(
            update(PersonalModel)
            .where(
                col(PersonalModel.id) == _model_id(job),
                col(PersonalModel.job_id) == job.id,
                col(PersonalModel.status).in_(_ACTIVE_MODEL),
            )
            .values(**values)
        )
    assert job.id is not None
    jobs.heartbeat(job.id, status.progress)
    return "progress"


def _apply_success(job: Job, provider: str, status: TrainingStatus, event_id: str | None) -> str:
    """Copy the weights into our storage first (provider links expire), then capture the
    cost and mark the model ready in one transaction, then finish the job."""
    assert job.id is not None and job.user_id is not None
    model_id = _model_id(job)
    data = trainer_for(provider).fetch_weights(status.weights_url)
    if not looks_like_safetensors(data):
        return _apply_failure(
            job, provider, "The provider's weights file is not a .safetensors file.", event_id
        )
    key = weights_key(job.user_id, model_id, job.id)
    get_storage().put(key, data, "application/octet-stream")
    with session_scope() as s:
        if event_id and not claim(s, provider, event_id, "training.succeeded"):
            return "duplicate"
        ready = s.execute(
            update(PersonalModel)
            .where(
                col(PersonalModel.id) == model_id,
                col(PersonalModel.job_id) == job.id,
                col(PersonalModel.status).in_(_ACTIVE_MODEL),
            )
            .values(
                status=ModelStatus.READY.value,
                weights_key=key,
                provider_version=status.trained_version,
                progress=1.0,
                error="",
                trained_at=utcnow(),
                updated_at=utcnow(),
            )
            .returning(col(PersonalModel.id))
        ).scalar_one_or_none()
        if ready is None:
            s.rollback()  # deleted meanwhile; its job was failed and its credits returned
            return "finished"
        try:
            credits.capture(
                job.hold_reference,
                job.credits_held,
                reference=f"{job.hold_reference}:capture",
                description=f"Training of model {model_id}",
                session=s,
            )
        except credits.HoldError:
            return "finished"  # the hold was released: the job failed a moment ago
    jobs.succeed(job.id)
    return "applied"


def _apply_failure(job: Job, provider: str, reason: str, event_id: str | None) -> str:
    assert job.id is not None
    with session_scope() as s:
        if event_id and not claim(s, provider, event_id, "training.failed"):
            return "duplicate"
        s.execute(
            update(PersonalModel)
            .where(
                col(PersonalModel.id) == _model_id(job),
                col(PersonalModel.job_id) == job.id,
                col(PersonalModel.status).in_(_ACTIVE_MODEL),
            )
            .values(status=ModelStatus.FAILED.value, error=reason[:2000], updated_at=utcnow())
        )
    jobs.fail(job.id, reason)
    return "applied"


def handle_webhook(provider: str, event: WebhookEvent) -> str:
    """Apply a verified delivery; a body without a usable status makes us ask the provider."""
    status = event.status
    if status is None:
        if _find_job(provider, event.external_id) is None:
            return "unknown"
        status = trainer_for(provider).status(event.external_id)
    return apply_provider_update(provider, event.external_id, status, event_id=event.event_id)


# --- once a training job is final --------------------------------------------------------------


def _cancel_quietly(provider: str, external_id: str) -> None:
    try:
        trainer_for(provider).cancel(external_id)
    except ProviderError as exc:
        log.warning("could not cancel %s training %s: %s", provider, external_id, exc)


def on_training_finished(job_id: int) -> None:
    """Called once, right after the job's final transition; never raises into the caller
    (the reaper finishes many jobs in one loop)."""
    try:
        _count_finished(job_id)
        _settle_model(job_id)
    except Exception:
        log.exception("settling the model of training job %s failed", job_id)


def _count_finished(job_id: int) -> None:
    view = jobs.get(job_id)
    if view is None:
        return
    metrics.JOBS_FINISHED.labels(view.kind, view.provider, view.status).inc()
    if view.user_id is None or view.status == JobStatus.CANCELED:
        return
    event = (
        analytics.Funnel.TRAINING_FINISHED
        if view.status == JobStatus.SUCCEEDED
        else analytics.Funnel.TRAINING_FAILED
    )
    minutes = ((view.finished_at or view.created_at) - view.created_at).total_seconds() / 60
    analytics.track(view.user_id, event, {"provider": view.provider, "minutes": round(minutes, 1)})


def _settle_model(job_id: int) -> None:
    view = jobs.get(job_id)
    if view is None or not JobStatus(view.status).finished:
        return
    cancel_at_provider = False
    with session_scope() as s:
        model = s.execute(
            select(PersonalModel).where(col(PersonalModel.job_id) == job_id)
        ).scalar_one_or_none()
        if model is None:
            return  # the model was deleted: nobody to tell
        email = s.execute(select(col(User.email)).where(col(User.id) == model.user_id)).scalar_one()
        error = model.error
        if view.status == JobStatus.SUCCEEDED:
            if model.status != ModelStatus.READY:
                return
            outcome = "ready"
        else:
            changed = s.execute(
                update(PersonalModel)
                .where(
                    col(PersonalModel.id) == model.id,
                    col(PersonalModel.status).in_(_ACTIVE_MODEL),
                )
                .values(
                    status=ModelStatus.FAILED.value,
                    error=(view.error or "The training did not finish.")[:2000],
                    updated_at=utcnow(),
                )
                .returning(col(PersonalModel.id))
            ).scalar_one_or_none()
            # A failure that came from the provider already marked the model; any other (the
            # deadline, a dead worker) leaves the provider training, so stop it.
            cancel_at_provider = changed is not None and view.external_id not in ("", SUBMITTING)
            outcome = "failed"
            if changed is not None:
                error = view.error or "The training did not finish."
        name, cost = model.name, model.cost_credits
    if cancel_at_provider:
        _cancel_quietly(view.provider, view.external_id)
    base = get_settings().base_url.rstrip("/")
    if outcome == "ready":
        send_email(
            email,
            f"Your model “{name}” is ready",
            f"Training of “{name}” has finished. Open {base} to create photos with it.\n",
        )
    else:
        send_email(
            email,
            f"Training of “{name}” did not finish",
            f"Training of your model “{name}” did not finish: {error}\n\n"
            f"The {counted(cost, 'credit')} it held went back to your balance. You can retry "
            f"from the model's page at {base}.\n",
        )


# --- the reconciler ----------------------------------------------------------------------------


def reconcile_trainings() -> dict[str, int]:
    """Make sure no training waits forever on a webhook that never comes.

    Polls trainings with no news for `training_poll_after_seconds` (the demo trainer, which
    sends no webhooks, on every run), fails submissions a dead worker left unconfirmed, fails
    what is past its deadline (a late success found by the last poll still counts), and puts
    back models left half-started by a crash. Idempotent: several workers may run it at once.
    """
    settings = get_settings()
    now = utcnow()
    poll_before = now - timedelta(seconds=settings.training_poll_after_seconds)
    stale_before = now - timedelta(seconds=settings.job_stale_after_seconds)
    counts = {"polled": 0, "applied": 0, "expired": 0, "interrupted": 0, "repaired": 0}
    with session_scope() as s:
        active = list(
            s.execute(
                select(
                    col(Job.id),
                    col(Job.provider),
                    col(Job.external_id),
                    col(Job.deadline_at),
                    col(Job.heartbeat_at),
                ).where(col(Job.kind) == KIND, col(Job.status).in_(_ACTIVE_JOB))
            ).all()
        )
    rate_limited: set[str] = set()
    for job_id, provider, external_id, deadline_at, heartbeat_at in active:
        expired = deadline_at is not None and deadline_at < now
        if external_id == SUBMITTING:
            if (
                heartbeat_at is not None
                and heartbeat_at < stale_before
                and jobs.fail(job_id, UNCONFIRMED)
            ):
                counts["interrupted"] += 1
            continue
        due = expired or provider == "demo" or heartbeat_at is None or heartbeat_at < poll_before
        if external_id and due and provider not in rate_limited:
            counts["polled"] += 1
            try:
                outcome = _poll(provider, external_id)
            except ProviderRateLimited:
                rate_limited.add(provider)
            except Exception:
                log.exception("polling %s training %s failed", provider, external_id)
            else:
                counts["applied"] += outcome == "applied"
        if expired and jobs.fail(
            job_id,
            f"Training took longer than {settings.training_deadline_minutes} minutes and was "
            "stopped.",
        ):
            counts["expired"] += 1
    counts["repaired"] = _repair_models(stale_before)
    return counts


def _poll(provider: str, external_id: str) -> str:
    try:
        status = trainer_for(provider).status(external_id)
    except ProviderRejected as exc:
        if exc.status_code != 404:
            raise
        status = TrainingStatus(TrainingState.FAILED, error="the provider has no such training")
    return apply_provider_update(provider, external_id, status)


def _repair_models(stale_before: datetime) -> int:
    """Models a crash left "queued" without a job go back to draft; models whose job finished
    without settling them (a crash in the finish hook) are settled now."""
    with session_scope() as s:
        orphans = s.execute(
            update(PersonalModel)
            .where(
                col(PersonalModel.status) == ModelStatus.QUEUED.value,
                col(PersonalModel.job_id).is_(None),
                col(PersonalModel.updated_at) < stale_before,
            )
            .values(status=ModelStatus.DRAFT.value, updated_at=utcnow())
            .returning(col(PersonalModel.id))
        ).all()
        unsettled = list(
            s.execute(
                select(col(PersonalModel.job_id))
                .join(Job, col(Job.id) == col(PersonalModel.job_id))
                .where(
                    col(PersonalModel.status).in_(_ACTIVE_MODEL),
                    col(PersonalModel.updated_at) < stale_before,
                    col(Job.status).in_(_FINAL_JOB),
                )
            ).scalars()
        )
    for job_id in unsettled:
        on_training_finished(job_id)
    return len(orphans) + len(unsettled)
