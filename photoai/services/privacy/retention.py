"""Retention: training photos go N days after their model finished training, and drafts nobody
trained go M days after they last changed.

The trained model keeps working from its weights (our stored `.safetensors`, or the provider's
trained version), so only the photos, their thumbnails and the training ZIP are removed. A
model is re-read under a row lock before anything is removed: photos of a model that is queued
or training are never touched, and a draft the user has just changed or started training is
left alone. Files go first, rows last, in the same transaction as the lock, so a run that dies
half-way leaves rows that the next run finds and finishes. Runs as periodic upkeep in every
worker (importing this module registers it) and as `photoai retention [--dry-run]`.
"""

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, exists, select, update
from sqlmodel import Session, col

from photoai.db import session_scope
from photoai.models import GeneratedImage, ModelStatus, PersonalModel, TrainingPhoto, utcnow
from photoai.services import maintenance
from photoai.services.storage import get_storage
from photoai.settings import Settings, get_settings

log = logging.getLogger(__name__)

EVERY_SECONDS = 900.0


@dataclass(frozen=True)
class Removal:
    model_id: int
    user_id: int
    model_name: str
    reason: str


@dataclass(frozen=True)
class RetentionPlan:
    photos: tuple[Removal, ...]
    drafts: tuple[Removal, ...]

    def as_dict(self) -> dict[str, list[dict[str, object]]]:
        return {
            "photos": [asdict(r) for r in self.photos],
            "drafts": [asdict(r) for r in self.drafts],
        }


def photos_removed_at(trained_at: datetime | None, settings: Settings) -> datetime | None:
    """When a trained model's photos are (or were) removed; None if they are kept."""
    if trained_at is None or settings.photo_retention_days <= 0:
        return None
    return trained_at + timedelta(days=settings.photo_retention_days)


def draft_removed_at(updated_at: datetime, settings: Settings) -> datetime:
    return updated_at + timedelta(days=settings.draft_retention_days)


def _photos_due(now: datetime, settings: Settings) -> tuple[ColumnElement[bool], ...]:
    has_photos = exists().where(col(TrainingPhoto.model_id) == col(PersonalModel.id))
    return (
        col(PersonalModel.status) == ModelStatus.READY.value,
        col(PersonalModel.trained_at).is_not(None),
        col(PersonalModel.trained_at) < now - timedelta(days=settings.photo_retention_days),
        has_photos,
    )


def _drafts_due(now: datetime, settings: Settings) -> tuple[ColumnElement[bool], ...]:
    return (
        col(PersonalModel.status) == ModelStatus.DRAFT.value,
        col(PersonalModel.updated_at) < now - timedelta(days=settings.draft_retention_days),
    )


def plan(now: datetime | None = None) -> RetentionPlan:
    """What a run at `now` would remove, changing nothing (the CLI's --dry-run)."""
    settings = get_settings()
    now = now or utcnow()
    columns = (col(PersonalModel.id), col(PersonalModel.user_id), col(PersonalModel.name))
    with session_scope() as s:
        photos = (
            s.execute(
                select(*columns).where(*_photos_due(now, settings)).order_by(columns[0])
            ).all()
            if settings.photo_retention_days > 0
            else []
        )
        drafts = s.execute(
            select(*columns).where(*_drafts_due(now, settings)).order_by(columns[0])
        ).all()
    return RetentionPlan(
        photos=tuple(
            Removal(m, u, n, f"trained over {settings.photo_retention_days} days ago")
            for m, u, n in photos
        ),
        drafts=tuple(
            Removal(m, u, n, f"draft unchanged for {settings.draft_retention_days} days")
            for m, u, n in drafts
        ),
    )


def _locked_if_due(
    s: Session, model_id: int, conditions: tuple[ColumnElement[bool], ...]
) -> PersonalModel | None:
    return s.execute(
        select(PersonalModel)
        .where(col(PersonalModel.id) == model_id, *conditions)
        .with_for_update()
    ).scalar_one_or_none()


def remove_training_photos(model_id: int, now: datetime | None = None) -> bool:
    """Remove a trained model's photos if they are due; False if they are not (any more)."""
    settings = get_settings()
    with session_scope() as s:
        model = _locked_if_due(s, model_id, _photos_due(now or utcnow(), settings))
        if model is None:
            return False
        base = f"users/{model.user_id}/models/{model_id}/"
        storage = get_storage(settings)
        for folder in ("photos/", "thumbs/", "training/"):
            storage.delete_prefix(base + folder)
        s.execute(delete(TrainingPhoto).where(col(TrainingPhoto.model_id) == model_id))
    return True


def remove_draft(model_id: int, now: datetime | None = None) -> bool:
    """Delete an abandoned draft with its photos if it is still due."""
    settings = get_settings()
    with session_scope() as s:
        model = _locked_if_due(s, model_id, _drafts_due(now or utcnow(), settings))
        if model is None:
            return False
        get_storage(settings).delete_prefix(f"users/{model.user_id}/models/{model_id}/")
        s.execute(delete(TrainingPhoto).where(col(TrainingPhoto.model_id) == model_id))
        s.execute(
            update(GeneratedImage)
            .where(col(GeneratedImage.model_id) == model_id)
            .values(model_id=None)
        )
        s.execute(delete(PersonalModel).where(col(PersonalModel.id) == model_id))
    return True


def apply(now: datetime | None = None) -> dict[str, int]:
    """One retention pass; safe to run in several workers at once."""
    now = now or utcnow()
    due = plan(now)
    counts = {"photo_sets_removed": 0, "drafts_removed": 0}
    for removal in due.photos:
        counts["photo_sets_removed"] += remove_training_photos(removal.model_id, now)
    for removal in due.drafts:
        counts["drafts_removed"] += remove_draft(removal.model_id, now)
    return counts if any(counts.values()) else {}


maintenance.register("apply retention", apply, EVERY_SECONDS)
