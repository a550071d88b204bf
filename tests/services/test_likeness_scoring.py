"""Held-out photos and likeness scores: a picture is paid for only when it looks like the user.

A real demo training and demo generation (RQ on the test Redis, worked in this process),
PostgreSQL, real faces: the demo generator builds its pictures from the user's photos, so they
must score as the user; pictures made from someone else's photos must score low, stay in the
gallery and cost nothing, with the ledger saying why.
"""

import io
import zipfile
from dataclasses import replace
from datetime import timedelta

import pytest
import redis
from sqlalchemy import select, update
from sqlmodel import col

from photoai.db import session_scope
from photoai.models import (
    CreditEntry,
    CreditHold,
    GeneratedImage,
    PersonalModel,
    TrainingPhoto,
    utcnow,
)
from photoai.providers.demo_generator import DemoGenerator
from photoai.providers.generation_base import GeneratedOutput, GenerationRequest
from photoai.services import credits, gallery, generation, generation_runs, training
from photoai.services.generation import GenerationOptions
from photoai.services.likeness_score import NOT_YOU, Badge, badge
from photoai.services.privacy import retention
from photoai.services.storage import get_storage
from photoai.settings import get_settings
from tests import photos
from tests.factories import make_user
from tests.training_support import (
    Clock,
    demo_clock,
    draft_with_photos,
    job_row,
    training_settings,
    work_burst,
)

SIX = 6  # the test settings' most photos; 4 are the fewest, so up to 2 can be held out


@pytest.fixture
def clock(pg: str, redis_conn: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> Clock:
    training_settings(monkeypatch)
    return demo_clock(monkeypatch)


def train(uid: int, clock: Clock, count: int = SIX) -> tuple[int, int]:
    model_id = draft_with_photos(uid, count=count)
    job_id = training.start_training(uid, model_id)
    work_burst()
    clock.now += 1
    training.reconcile_trainings()
    assert training.get_model(uid, model_id).model.status == "ready"
    return model_id, job_id


def model_photos(model_id: int) -> list[TrainingPhoto]:
    with session_scope() as s:
        return list(
            s.execute(
                select(TrainingPhoto)
                .where(col(TrainingPhoto.model_id) == model_id)
                .order_by(col(TrainingPhoto.created_at), col(TrainingPhoto.id))
            ).scalars()
        )


def generate(
    uid: int, model_id: int, key: str, count: int = 2
) -> tuple[list[GeneratedImage], CreditHold]:
    options = GenerationOptions(f"model:{model_id}", style_id="studio-headshot", count=count)
    [job_id] = generation.submit(uid, options, key)
    work_burst()
    reference = job_row(job_id).hold_reference
    with session_scope() as s:
        images = list(
            s.execute(
                select(GeneratedImage)
                .where(col(GeneratedImage.job_id) == job_id)
                .order_by(col(GeneratedImage.id))
            ).scalars()
        )
        hold = s.execute(
            select(CreditHold).where(col(CreditHold.reference) == reference)
        ).scalar_one()
    return images, hold


def test_every_fifth_photo_is_held_out_of_training_but_never_below_the_minimum(
    clock: Clock,
) -> None:
    uid = make_user(100)
    model_id, job_id = train(uid, clock)
    held = [p.held_out for p in model_photos(model_id)]
    assert held == [False, False, False, False, True, False]
    zip_key = f"users/{uid}/models/{model_id}/training/job-{job_id}.zip"
    with zipfile.ZipFile(io.BytesIO(get_storage().get(zip_key))) as archive:
        assert len(archive.namelist()) == SIX - 1, "the held-out photo is never sent"

    small_id, _ = train(make_user(100), clock, count=4)
    assert not any(p.held_out for p in model_photos(small_id)), "4 is the trainer's minimum"


def test_demo_pictures_made_from_the_users_photos_score_as_them_and_are_charged(
    clock: Clock,
) -> None:
    uid = make_user(100)
    model_id, _ = train(uid, clock)
    balance = credits.balance(uid)
    images, hold = generate(uid, model_id, "likeness-mine")
    threshold = get_settings().likeness_threshold
    scores = [image.likeness for image in images]
    assert all(s is not None and s <= threshold for s in scores), scores
    print(f"demo pictures of the user: likeness {scores}")
    shown = gallery.get_image(uid, images[0].id or 0)
    assert shown.likeness == scores[0] and shown.likeness_badge in (
        "Strong likeness",
        "Good likeness",
    )
    assert (hold.captured, hold.released) == (2, 0)
    assert credits.balance(uid) == balance - 2


def test_a_picture_of_someone_else_is_kept_but_its_credit_released(clock: Clock) -> None:
    uid = make_user(100)
    model_id, _ = train(uid, clock)
    # The generator is handed Grace Hopper's photos instead of the user's (the held-out
    # photo, which the scores are measured against, stays the user's).
    storage = get_storage()
    for photo, data in zip(model_photos(model_id), photos.training_jpegs()[8:14], strict=True):
        if not photo.held_out:
            storage.put(photo.storage_key, data, "image/jpeg")
    balance = credits.balance(uid)
    images, hold = generate(uid, model_id, "likeness-someone-else")
    threshold = get_settings().likeness_threshold
    assert len(images) == 2, "the pictures are kept"
    for image in images:
        assert image.likeness is not None and image.likeness > threshold, image.likeness
        assert badge(image.likeness, threshold) == Badge.WEAK
        assert gallery.get_image(uid, image.id or 0).likeness_badge == "Weak likeness"
        assert storage.exists(image.storage_key)
    assert (hold.captured, hold.released) == (0, 2)
    assert credits.balance(uid) == balance == credits.ledger_sum(uid)
    with session_scope() as s:
        released = list(
            s.execute(
                select(col(CreditEntry.description), col(CreditEntry.delta)).where(
                    col(CreditEntry.user_id) == uid,
                    col(CreditEntry.kind) == "release",
                    col(CreditEntry.description).contains(NOT_YOU),
                )
            ).all()
        )
    assert len(released) == 2 and all(delta == 1 for _, delta in released), released
    print(f"pictures of someone else: likeness {[i.likeness for i in images]}; ledger {released}")
    assert NOT_YOU == "doesn't look like you"


class SomeoneElsesLora(DemoGenerator):
    """A generator whose pictures show Grace Hopper, whatever model it is asked for: the demo
    generator handed her photos, standing in for a provider whose LoRA drifted."""

    def generate(self, request: GenerationRequest) -> list[GeneratedOutput]:
        hopper = list(photos.training_jpegs()[8:10])
        return super().generate(replace(request, reference_images=hopper))


def test_a_model_keeps_its_likeness_check_after_its_photos_are_removed(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    uid = make_user(100)
    model_id, _ = train(uid, clock)
    days = get_settings().photo_retention_days + 1
    with session_scope() as s:
        s.execute(
            update(PersonalModel)
            .where(col(PersonalModel.id) == model_id)
            .values(trained_at=utcnow() - timedelta(days=days))
        )
    assert retention.apply()["photo_sets_removed"] == 1
    assert model_photos(model_id) == [], "retention removed the training photos"

    monkeypatch.setattr(generation_runs, "DemoGenerator", SomeoneElsesLora)
    balance = credits.balance(uid)
    images, hold = generate(uid, model_id, "likeness-after-retention")
    threshold = get_settings().likeness_threshold
    scores = [image.likeness for image in images]
    assert len(images) == 2, "the pictures are kept"
    assert all(s is not None and s > threshold for s in scores), scores
    assert (hold.captured, hold.released) == (0, 2)
    assert credits.balance(uid) == balance == credits.ledger_sum(uid)
