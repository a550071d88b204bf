"""Retention on PostgreSQL with real storage (a local folder, and S3 through moto's server):
old training photos and abandoned drafts go, nothing a training needs is touched, and the
dry run lists exactly what a real run removes."""

import json
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import col

from photoai import cli
from photoai.db import session_scope
from photoai.models import ModelStatus, PersonalModel, TrainingPhoto, utcnow
from photoai.services import training
from photoai.services.privacy import retention
from photoai.services.storage import Storage
from photoai.settings import get_settings
from tests.factories import make_user
from tests.services.privacy.storage_support import keys_under
from tests.training_support import (
    MIN_PHOTOS,
    count,
    demo_clock,
    draft_with_photos,
    model_row,
    work_burst,
)


def age(model_id: int, **days: int) -> None:
    values = {name: utcnow() - timedelta(days=n) for name, n in days.items()}
    with session_scope() as s:
        s.execute(update(PersonalModel).where(col(PersonalModel.id) == model_id).values(**values))


def test_old_photos_and_drafts_go_and_nothing_a_training_needs(
    store: Storage, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = demo_clock(monkeypatch)
    owner, other = make_user(100), make_user(100)
    trained = draft_with_photos(owner, name="Trained")
    training.start_training(owner, trained)
    work_burst()
    clock.now += 1
    training.reconcile_trainings()
    assert model_row(trained).status == ModelStatus.READY
    running = draft_with_photos(other, name="Running")
    training.start_training(other, running)
    work_burst()
    assert model_row(running).status in (ModelStatus.QUEUED, ModelStatus.TRAINING)
    abandoned = draft_with_photos(owner, count=1, name="Abandoned")
    fresh = draft_with_photos(owner, count=1, name="Fresh")

    age(trained, trained_at=31)
    age(running, updated_at=400, trained_at=400)  # old dates, yet a training needs its photos
    age(abandoned, updated_at=61)
    age(fresh, updated_at=59, created_at=400)

    assert cli.main(["retention", "--dry-run"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["model_id"] for r in listed["photos"]] == [trained]
    assert [r["model_id"] for r in listed["drafts"]] == [abandoned]
    assert count(TrainingPhoto) == 2 * MIN_PHOTOS + 2  # the dry run removed nothing

    trained_prefix = f"users/{owner}/models/{trained}/"
    before = keys_under(store, trained_prefix)
    assert len(before) == 2 * MIN_PHOTOS + 2  # photos, thumbs, training ZIP, weights
    assert retention.apply() == {"photo_sets_removed": 1, "drafts_removed": 1}

    model = model_row(trained)
    assert model.status == ModelStatus.READY
    assert keys_under(store, trained_prefix) == [model.weights_key]  # the model still works
    assert count(TrainingPhoto, col(TrainingPhoto.model_id) == trained) == 0
    assert keys_under(store, f"users/{owner}/models/{abandoned}/") == []
    with session_scope() as s:
        assert s.get(PersonalModel, abandoned) is None
    assert count(TrainingPhoto, col(TrainingPhoto.model_id) == running) == MIN_PHOTOS
    assert len(keys_under(store, f"users/{other}/models/{running}/photos/")) == MIN_PHOTOS
    assert count(TrainingPhoto, col(TrainingPhoto.model_id) == fresh) == 1

    assert retention.apply() == {}  # nothing left to do: a second worker's run is harmless
    assert retention.plan().as_dict() == {"photos": [], "drafts": []}


def test_a_draft_changed_meanwhile_is_kept(store: Storage) -> None:
    """The plan is re-checked under the row lock: a draft touched after planning survives."""
    owner = make_user()
    draft = draft_with_photos(owner, count=1)
    age(draft, updated_at=61)
    [due] = retention.plan().drafts
    age(draft, updated_at=0)
    assert retention.remove_draft(due.model_id) is False
    assert count(TrainingPhoto, col(TrainingPhoto.model_id) == draft) == 1


def test_zero_days_keeps_training_photos(store: Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHOTOAI_PHOTO_RETENTION_DAYS", "0")
    get_settings.cache_clear()
    assert retention.photos_removed_at(utcnow(), get_settings()) is None
    assert retention.plan().photos == ()
