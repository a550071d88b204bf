"""Personal models as the UI sees them: drafts, training photos, starting and deleting trainings.

No Reflex here: pages call these functions with the signed-in user's id and show what comes
back. Every function checks ownership itself, and another user's ids look exactly like missing
ones. Errors a user can act on are `TrainingError` with a message to show as it is.

Starting a training first flips the model from draft/failed to queued with one conditional
UPDATE, so a double click (or two tabs) starts one training and holds credits once. The running
side (job handler, provider updates, reconciler) is in `training_runs`; importing this module
registers it with the job runner and the maintenance loop.
"""

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlmodel import Session, col

from photoai.db import session_scope
from photoai.models import (
    GeneratedImage,
    Job,
    JobStatus,
    ModelStatus,
    PersonalModel,
    TrainingPhoto,
    User,
    utcnow,
)
from photoai.services import analytics, faces, jobs, maintenance, model_quality
from photoai.services.likeness import (
    DIFFERENT_PERSON,
    NO_CLEAR_PERSON,
    Identity,
    held_out,
    majority_identity,
)
from photoai.services.photo_checks import PhotoLimits, find_duplicate, inspect_photo
from photoai.services.privacy import consent
from photoai.services.queue import QueueUnavailable, check_available, enqueue
from photoai.services.storage import get_storage, photo_key, thumb_key
from photoai.services.training_runs import (
    KIND,
    SUBMITTING,
    apply_provider_update,
    handle_webhook,
    on_training_finished,
    photo_range,
    reconcile_trainings,
    run_training,
    trainer_for,
    trainer_problem,
)
from photoai.settings import get_settings

__all__ = [
    "KIND",
    "ModelDetail",
    "ModelView",
    "PhotoView",
    "TrainingError",
    "add_photo",
    "apply_provider_update",
    "clear_refused",
    "create_draft",
    "delete_model",
    "get_model",
    "handle_webhook",
    "list_models",
    "photo_range",
    "reconcile_trainings",
    "remove_photo",
    "retry_training",
    "start_training",
    "training_cost",
]

log = logging.getLogger(__name__)

SUBJECTS = ("woman", "man", "person", "pet")
# A pet has no human face: its photos skip the face checks and the likeness check.
PET = "pet"
NAME_MAX = 80
DUPLICATE = "duplicate of a photo already added"
# Rejected uploads are kept (to show their reason) but must not pile up without end.
UPLOADS_PER_PHOTO_SLOT = 3
RECONCILE_EVERY_SECONDS = 5.0
_EDITABLE = (ModelStatus.DRAFT.value, ModelStatus.FAILED.value)


class TrainingError(Exception):
    """A refusal with a message meant for the user."""


@dataclass(frozen=True)
class PhotoView:
    id: int
    filename: str
    accepted: bool
    reason: str
    thumb_url: str
    width: int
    height: int


@dataclass(frozen=True)
class ModelView:
    id: int
    name: str
    subject: str
    status: str
    progress: float
    cost_credits: int
    photo_count: int
    provider: str
    is_demo: bool
    error: str
    created_at: datetime
    updated_at: datetime
    trained_at: datetime | None
    # "Model quality: Strong likeness (0.21)" once the sample after training was measured.
    quality_line: str = ""
    quality_weak: bool = False
    can_retrain_free: bool = False
    quality_pending: bool = False


@dataclass(frozen=True)
class ModelDetail:
    model: ModelView
    photos: tuple[PhotoView, ...]
    min_photos: int
    max_photos: int
    can_edit_photos: bool
    can_train: bool
    training_cost: int
    job_id: int | None
    # Why the set cannot train as it is, beyond the photo count ("" when nothing stops it).
    identity_problem: str = ""


def training_cost() -> int:
    return get_settings().training_cost_credits


# --- reading -----------------------------------------------------------------------------------


def _owned_model(s: Session, user_id: int, model_id: int, *, lock: bool = False) -> PersonalModel:
    query = select(PersonalModel).where(
        col(PersonalModel.id) == model_id, col(PersonalModel.user_id) == user_id
    )
    if lock:
        query = query.with_for_update()
    model = s.execute(query).scalar_one_or_none()
    if model is None:
        raise TrainingError("Model not found.")
    return model


def _require_editable(model: PersonalModel) -> None:
    if model.status in _EDITABLE:
        return
    if model.status == ModelStatus.READY:
        raise TrainingError("This model is trained; its photos can no longer change.")
    raise TrainingError("This model is training; its photos can change again if it fails.")


def _accepted_count(s: Session, model_id: int) -> int:
    return int(
        s.execute(
            select(func.count())
            .select_from(TrainingPhoto)
            .where(col(TrainingPhoto.model_id) == model_id, col(TrainingPhoto.accepted))
        ).scalar_one()
    )


def _model_view(model: PersonalModel, photo_count: int) -> ModelView:
    assert model.id is not None
    provider = model.provider or get_settings().trainer
    quality = model_quality.quality_of(model)
    return ModelView(
        id=model.id,
        name=model.name,
        subject=model.subject,
        status=model.status,
        progress=model.progress,
        cost_credits=model.cost_credits,
        photo_count=photo_count,
        provider=provider,
        is_demo=provider == "demo",
        error=model.error,
        created_at=model.created_at,
        updated_at=model.updated_at,
        trained_at=model.trained_at,
        quality_line=quality.line,
        quality_weak=quality.weak,
        can_retrain_free=quality.can_retrain_free,
        quality_pending=quality.pending,
    )


def _photo_view(photo: TrainingPhoto, thumb_url: str) -> PhotoView:
    assert photo.id is not None
    return PhotoView(
        id=photo.id,
        filename=photo.original_filename,
        accepted=photo.accepted,
        reason=photo.reject_reason,
        thumb_url=thumb_url,
        width=photo.width,
        height=photo.height,
    )


def list_models(user_id: int) -> list[ModelView]:
    """The user's models, newest first, each with its number of accepted photos."""
    accepted = (
        select(col(TrainingPhoto.model_id), func.count().label("n"))
        .where(col(TrainingPhoto.user_id) == user_id, col(TrainingPhoto.accepted))
        .group_by(col(TrainingPhoto.model_id))
        .subquery()
    )
    with session_scope() as s:
        rows = s.execute(
            select(PersonalModel, func.coalesce(accepted.c.n, 0))
            .outerjoin(accepted, accepted.c.model_id == col(PersonalModel.id))
            .where(col(PersonalModel.user_id) == user_id)
            .order_by(col(PersonalModel.created_at).desc(), col(PersonalModel.id).desc())
        ).all()
        return [_model_view(model, int(count)) for model, count in rows]


def get_model(user_id: int, model_id: int) -> ModelDetail:
    settings = get_settings()
    storage = get_storage(settings)
    with session_scope() as s:
        model = _owned_model(s, user_id, model_id)
        photos = list(
            s.execute(
                select(TrainingPhoto)
                .where(col(TrainingPhoto.model_id) == model_id)
                .order_by(col(TrainingPhoto.created_at), col(TrainingPhoto.id))
            ).scalars()
        )
    views = tuple(
        _photo_view(p, storage.signed_url(p.thumb_key, user_id) if p.thumb_key else "")
        for p in photos
    )
    accepted = sum(1 for p in photos if p.accepted)
    editable = model.status in _EDITABLE
    fewest, most = photo_range(settings)
    problem = "" if _identity_of(photos, model.subject).clear else NO_CLEAR_PERSON
    return ModelDetail(
        model=_model_view(model, accepted),
        photos=views,
        min_photos=fewest,
        max_photos=most,
        can_edit_photos=editable,
        can_train=editable and fewest <= accepted <= most and not problem,
        training_cost=settings.training_cost_credits,
        job_id=model.job_id,
        identity_problem=problem,
    )


# --- drafts and photos -------------------------------------------------------------------------


def create_draft(user_id: int, name: str, subject: str) -> int:
    """A new model waiting for photos; each user may have PHOTOAI_MAX_DRAFTS_PER_USER at once,
    so nobody fills the database (and the models page) with empty models."""
    clean = " ".join(name.split())
    if not 1 <= len(clean) <= NAME_MAX:
        raise TrainingError(f"Give the model a name of 1 to {NAME_MAX} characters.")
    if subject not in SUBJECTS:
        raise TrainingError("Choose who the model is of: a woman, a man, a person or a pet.")
    limit = get_settings().max_drafts_per_user
    with session_scope() as s:
        # Lock the user's row so two tabs creating drafts at once cannot both pass the count.
        s.execute(select(col(User.id)).where(col(User.id) == user_id).with_for_update())
        drafts = s.execute(
            select(func.count())
            .select_from(PersonalModel)
            .where(
                col(PersonalModel.user_id) == user_id,
                col(PersonalModel.status) == ModelStatus.DRAFT.value,
            )
        ).scalar_one()
        if drafts >= limit:
            raise TrainingError(
                f"You already have {drafts} models waiting for photos, the most at once. "
                "Train or delete one of them before starting another."
            )
        model = PersonalModel(user_id=user_id, name=clean, subject=subject)
        s.add(model)
        s.flush()
        assert model.id is not None
        model_id = model.id
    analytics.track(user_id, analytics.Funnel.MODEL_CREATED, {"subject": subject})
    return model_id


def _clean_filename(filename: str) -> str:
    """Only the last path part of what the browser sent, as a label."""
    return re.split(r"[\\/]", filename)[-1].strip()[:255] or "photo"


def check_room_for_photo(user_id: int, model_id: int) -> None:
    """Whether the user may add a photo to this model now (consent, owner, state, count).

    Asked before a browser is handed a direct-upload link; `add_photo` asks again, under
    the model's lock, when the photo arrives.
    """
    if not consent.has_consented(user_id):
        raise TrainingError(consent.MISSING)
    _, most = photo_range(get_settings())
    with session_scope() as s:
        _require_room(s, _owned_model(s, user_id, model_id), most)


def add_photo(user_id: int, model_id: int, filename: str, data: bytes) -> PhotoView:
    """Check one upload and record it.

    An accepted photo stores its training copy and thumbnail; a refused one that decodes
    stores only its thumbnail, so the user can see which picture was refused (file names like
    IMG_1234.jpg say nothing). Thumbnails are private files, served like accepted ones.

    The expensive inspection runs between two short transactions; the second one locks the
    model and checks its state, the photo limit and duplicates again, so parallel uploads
    cannot slip past any of them.
    """
    if not consent.has_consented(user_id):
        raise TrainingError(consent.MISSING)
    settings = get_settings()
    label = _clean_filename(filename)
    if len(data) > settings.max_upload_bytes:
        limit_mb = settings.max_upload_bytes // (1024 * 1024)
        raise TrainingError(f"Larger than the {limit_mb} MB limit for one photo.")
    _, most = photo_range(settings)
    with session_scope() as s:
        model = _owned_model(s, user_id, model_id)
        _require_room(s, model, most)
        face_needed = model.subject != PET
    limits = PhotoLimits.from_settings(settings)
    verdict = inspect_photo(data, label, limits, face_needed=face_needed)
    storage = get_storage(settings)
    with session_scope() as s:
        model = _owned_model(s, user_id, model_id, lock=True)
        _require_room(s, model, most)
        reason = verdict.reason
        if verdict.accepted:
            earlier = s.execute(
                select(
                    col(TrainingPhoto.id), col(TrainingPhoto.phash), col(TrainingPhoto.sha256)
                ).where(col(TrainingPhoto.model_id) == model_id, col(TrainingPhoto.accepted))
            ).all()
            earlier_rows = [(int(i), str(p), str(h)) for i, p, h in earlier]
            if find_duplicate(
                verdict.phash, verdict.sha256, earlier_rows, max_distance=limits.dedupe_max_distance
            ):
                reason = DUPLICATE
        photo = TrainingPhoto(
            model_id=model_id,
            user_id=user_id,
            original_filename=label,
            accepted=not reason,
            reject_reason=reason[:200],
            width=verdict.width,
            height=verdict.height,
            sha256=verdict.sha256,
            phash=verdict.phash,
            blur_score=verdict.blur_score,
            face_count=verdict.face_count,
            face_ratio=verdict.face_ratio,
            face_embedding=verdict.embedding if not reason else b"",
        )
        s.add(photo)
        s.flush()
        assert photo.id is not None
        if photo.accepted:
            photo.storage_key = photo_key(user_id, model_id, photo.id)
            storage.put(photo.storage_key, verdict.training_jpeg, "image/jpeg")
            model.updated_at = utcnow()
        if verdict.thumbnail_webp:
            photo.thumb_key = thumb_key(user_id, model_id, photo.id)
            storage.put(photo.thumb_key, verdict.thumbnail_webp, "image/webp")
        if photo.accepted:
            _recheck_identity(s, model)
    thumb_url = storage.signed_url(photo.thumb_key, user_id) if photo.thumb_key else ""
    return _photo_view(photo, thumb_url)


def _require_room(s: Session, model: PersonalModel, max_photos: int) -> None:
    _require_editable(model)
    assert model.id is not None
    if _accepted_count(s, model.id) >= max_photos:
        raise TrainingError(f"This model has {max_photos} photos, the most it takes.")
    total = int(
        s.execute(
            select(func.count())
            .select_from(TrainingPhoto)
            .where(col(TrainingPhoto.model_id) == model.id)
        ).scalar_one()
    )
    if total >= max_photos * UPLOADS_PER_PHOTO_SLOT:
        raise TrainingError("Too many uploads for this model; remove the rejected ones first.")


def remove_photo(user_id: int, photo_id: int) -> None:
    """Remove one photo. An accepted one only while the model's photos can change; a refused
    one at any time, since it never took part in a training."""
    storage = get_storage()
    with session_scope() as s:
        photo = s.get(TrainingPhoto, photo_id)
        if photo is None or photo.user_id != user_id:
            raise TrainingError("Photo not found.")
        model = _owned_model(s, user_id, photo.model_id, lock=True)
        if photo.accepted:
            _require_editable(model)
        keys = [key for key in (photo.storage_key, photo.thumb_key) if key]
        s.delete(photo)
        s.flush()
        if model.status in _EDITABLE:
            _recheck_identity(s, model)
    for key in keys:  # after the commit: a failed delete must not leave a row without files
        storage.delete(key)


def clear_refused(user_id: int, model_id: int) -> int:
    """Remove every refused photo of the model, whatever its state; how many went."""
    with session_scope() as s:
        _owned_model(s, user_id, model_id, lock=True)
        rows = s.execute(
            delete(TrainingPhoto)
            .where(col(TrainingPhoto.model_id) == model_id, ~col(TrainingPhoto.accepted))
            .returning(col(TrainingPhoto.thumb_key), col(TrainingPhoto.storage_key))
        ).all()
    storage = get_storage()
    for row in rows:
        for key in row:
            if key:
                storage.delete(key)
    return len(rows)


# --- who the photos are of ---------------------------------------------------------------------


def _identity_of(photos: list[TrainingPhoto], subject: str) -> Identity:
    """The majority identity of the photos that take part in it: those with a face embedding
    that are accepted or refused only for being someone else. A pet has none."""
    embeddings = {}
    if subject != PET:
        for photo in photos:
            if photo.accepted or photo.reject_reason == DIFFERENT_PERSON:
                embedding = faces.from_bytes(photo.face_embedding)
                if embedding is not None and photo.id is not None:
                    embeddings[photo.id] = embedding
    return majority_identity(embeddings, get_settings().likeness_threshold)


def _likeness_references(accepted: list[TrainingPhoto]) -> bytes:
    """The faces the model's pictures are scored against: the held-out photos', or every
    embedded photo's when none is held out. Kept on the model, not read from its photos, because
    retention removes the photos while the model goes on making pictures."""
    embedded = [(p.held_out, faces.from_bytes(p.face_embedding)) for p in accepted]
    held = [e for is_held, e in embedded if is_held and e is not None]
    return faces.many_to_bytes(held or [e for _, e in embedded if e is not None])


def _recheck_identity(s: Session, model: PersonalModel) -> None:
    """Refuse the photos of someone other than the set's person, and take back those that
    are of the person again (after the photos around them changed). The caller holds the
    model's row lock, so two uploads cannot recheck at once."""
    photos = list(
        s.execute(select(TrainingPhoto).where(col(TrainingPhoto.model_id) == model.id)).scalars()
    )
    identity = _identity_of(photos, model.subject)
    for photo in photos:
        if photo.id in identity.strangers and photo.accepted:
            photo.accepted, photo.reject_reason = False, DIFFERENT_PERSON
        elif photo.id not in identity.strangers and photo.reject_reason == DIFFERENT_PERSON:
            photo.accepted, photo.reject_reason = True, ""


# --- training ----------------------------------------------------------------------------------


def start_training(user_id: int, model_id: int) -> int:
    """Queue a training and hold its cost; returns the job id.

    Raises TrainingError for anything the user can fix, and the credits module's
    InsufficientCredits / SpendingBlocked (user-facing messages too) when the hold is refused;
    in every refusal the model is left as it was, also when the queue cannot take the job
    (`QueueUnavailable`, whose message is for the user too).
    """
    check_available()
    settings = get_settings()
    provider = settings.trainer
    problem = trainer_problem(provider, settings)
    if problem:
        log.error("training is unavailable: %s", problem)
        raise TrainingError("Training is not available on this server right now.")
    cost = training_cost()
    with session_scope() as s:
        model = _owned_model(s, user_id, model_id)
        if model.status not in _EDITABLE:
            raise TrainingError(
                "This model is already trained."
                if model.status == ModelStatus.READY
                else "This model is already training."
            )
        accepted = _accepted_count(s, model_id)
        fewest, most = photo_range(settings)
        if accepted < fewest:
            raise TrainingError(
                f"Add at least {fewest} good photos to start training (this model has {accepted})."
            )
        if accepted > most:
            raise TrainingError(f"Remove some photos: a model takes at most {most}.")
        photos = list(
            s.execute(
                select(TrainingPhoto)
                .where(col(TrainingPhoto.model_id) == model_id)
                .order_by(col(TrainingPhoto.created_at), col(TrainingPhoto.id))
            ).scalars()
        )
        identity = _identity_of(photos, model.subject)
        if not identity.clear:
            raise TrainingError(NO_CLEAR_PERSON)
        person = [p.id for p in photos if p.accepted and p.id in identity.majority]
        kept_back = held_out([i for i in person if i is not None], accepted, fewest)
        for photo in photos:
            photo.held_out = photo.id in kept_back
        references = _likeness_references([p for p in photos if p.accepted])
        previous = (model.status, model.error, model.provider, model.cost_credits, model.job_id)
        name = model.name
        claimed = s.execute(
            update(PersonalModel)
            .where(
                col(PersonalModel.id) == model_id,
                col(PersonalModel.user_id) == user_id,
                col(PersonalModel.status).in_(_EDITABLE),
            )
            .values(
                status=ModelStatus.QUEUED.value,
                progress=0.0,
                error="",
                provider=provider,
                cost_credits=cost,
                likeness_references=references,
                quality_likeness=None,
                quality_checked_at=None,
                updated_at=utcnow(),
            )
            .returning(col(PersonalModel.id))
        ).scalar_one_or_none()
        if claimed is None:
            raise TrainingError("This model is already training.")
    try:
        job_id = jobs.create(
            KIND,
            user_id=user_id,
            payload={"model_id": model_id, "provider": provider},
            credits_to_hold=cost,
            hold_description=f"Training “{name}”",
            deadline=timedelta(minutes=settings.training_deadline_minutes),
            enqueue_now=False,
        )
    except BaseException:
        _put_back(model_id, previous)
        raise
    with session_scope() as s:
        s.execute(
            update(PersonalModel).where(col(PersonalModel.id) == model_id).values(job_id=job_id)
        )
    try:
        enqueue(job_id)
    except QueueUnavailable as exc:
        # Unlinked first, so failing the job (which releases its credits) neither marks the
        # model failed nor emails the user about a training that never started.
        _put_back(model_id, previous)
        jobs.fail(job_id, f"Not started: {exc}")
        raise
    analytics.track(
        user_id, analytics.Funnel.TRAINING_STARTED, {"provider": provider, "photos": accepted}
    )
    return job_id


def _put_back(model_id: int, previous: tuple[str, str, str, int, int | None]) -> None:
    """Return a model whose training did not start to the state it was in."""
    status, error, provider, cost, job_id = previous
    with session_scope() as s:
        s.execute(
            update(PersonalModel)
            .where(
                col(PersonalModel.id) == model_id,
                col(PersonalModel.status) == ModelStatus.QUEUED.value,
            )
            .values(status=status, error=error, provider=provider, cost_credits=cost, job_id=job_id)
        )


def retry_training(user_id: int, model_id: int) -> int:
    """Train a failed model again with its photos (which may have been changed meanwhile)."""
    with session_scope() as s:
        if _owned_model(s, user_id, model_id).status != ModelStatus.FAILED:
            raise TrainingError("Only a failed training can be retried.")
    return start_training(user_id, model_id)


def retrain_for_free(user_id: int, model_id: int) -> int:
    """Retrain a model whose quality sample did not look like its person: its training's cost
    is refunded through the ledger (`model_quality.refund_for_retrain`), then a new training
    starts and holds its cost as usual. If that training cannot start, the model stays usable
    as it was, and the refund stays (the ledger already says why)."""
    fewest, _ = photo_range()
    with session_scope() as s:
        _owned_model(s, user_id, model_id)
        if _accepted_count(s, model_id) < fewest:
            raise TrainingError(
                "This model's photos were removed after training, so it cannot be retrained; "
                "make a new model with new photos."
            )
    try:
        model_quality.refund_for_retrain(user_id, model_id)
    except model_quality.QualityError as exc:
        raise TrainingError(str(exc)) from exc
    try:
        return start_training(user_id, model_id)
    except BaseException:
        model_quality.restore_after_failed_start(model_id)
        raise


def forget_at_provider(provider: str, external_id: str, trained_version: str) -> None:
    """Delete the provider's copies of a training where its API allows (see each trainer's
    `forget`). Best effort: a provider that is down must not keep a user's model, or account,
    from being deleted here; the failure is logged for the operator."""
    try:
        trainer_for(provider).forget(external_id, trained_version)
    except Exception:
        log.exception("could not delete %s's copies of training %s", provider, external_id)


def delete_model(user_id: int, model_id: int) -> None:
    """Remove a model, its photos and weights, and the provider's copies where its API allows;
    a training under way is stopped and refunded.

    The model is first detached from its job, so the job's failure below neither emails the
    user nor touches a row that is about to go. Generated images made with the model stay
    (they are the user's pictures) and simply lose the link to it.
    """
    with session_scope() as s:
        model = _owned_model(s, user_id, model_id, lock=True)
        job = s.get(Job, model.job_id) if model.job_id else None
        model.job_id = None
        model.updated_at = utcnow()
        trained_version = model.provider_version
    if job is not None and job.id is not None and not JobStatus(job.status).finished:
        if job.external_id and job.external_id != SUBMITTING:
            try:
                trainer_for(job.provider).cancel(job.external_id)
            except Exception:
                log.exception("could not cancel training %s of a deleted model", job.external_id)
        jobs.fail(job.id, "The model was deleted.")
    if job is not None and job.external_id and job.external_id != SUBMITTING:
        forget_at_provider(job.provider, job.external_id, trained_version)
    get_storage().delete_prefix(f"users/{user_id}/models/{model_id}/")
    with session_scope() as s:
        s.execute(delete(TrainingPhoto).where(col(TrainingPhoto.model_id) == model_id))
        s.execute(
            update(GeneratedImage)
            .where(col(GeneratedImage.model_id) == model_id)
            .values(model_id=None)
        )
        s.execute(delete(PersonalModel).where(col(PersonalModel.id) == model_id))


def _on_training_finished(job_id: int) -> None:
    """Settle the model, then queue its quality sample (each never raises)."""
    on_training_finished(job_id)
    model_quality.after_training(job_id)


jobs.register(KIND, run_training, on_finish=_on_training_finished)
maintenance.register("reconcile trainings", reconcile_trainings, RECONCILE_EVERY_SECONDS)
