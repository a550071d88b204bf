"""Consent before face photos are processed: recorded once, required by the upload service,
and stating what the operator's settings really do."""

import hashlib

import pytest
import redis
from sqlalchemy import func, select

from photoai.db import session_scope
from photoai.models import Consent, TrainingPhoto
from photoai.services import training
from photoai.services.privacy import consent, disclosure
from photoai.services.training import TrainingError
from photoai.settings import get_settings
from tests import photos
from tests.factories import make_user
from tests.training_support import training_settings


@pytest.fixture
def env(pg: str, redis_conn: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    training_settings(monkeypatch)


def test_upload_is_refused_without_consent_and_changes_nothing(env: None) -> None:
    uid = make_user(consented=False)
    model_id = training.create_draft(uid, "Me", "woman")
    with pytest.raises(TrainingError, match="agree to how your face photos are processed"):
        training.add_photo(uid, model_id, "me.jpg", photos.training_jpegs()[0])
    with session_scope() as s:
        assert s.execute(select(func.count()).select_from(TrainingPhoto)).scalar_one() == 0
    assert not (get_settings().storage_dir / f"users/{uid}").exists()

    consent.record_consent(uid)
    view = training.add_photo(uid, model_id, "me.jpg", photos.training_jpegs()[0])
    assert view.accepted


def test_consent_records_version_time_and_the_exact_text_once(env: None) -> None:
    uid = make_user(consented=False)
    assert not consent.has_consented(uid)
    consent.record_consent(uid)
    consent.record_consent(uid)  # a second click records nothing more
    assert consent.has_consented(uid)
    with session_scope() as s:
        [row] = s.execute(select(Consent).where(Consent.user_id == uid)).scalars().all()
    assert row.version == consent.CONSENT_VERSION
    assert row.summary == disclosure.as_text(get_settings())
    assert row.text_sha256 == hashlib.sha256(row.summary.encode()).hexdigest()
    assert row.accepted_at is not None
    assert not consent.has_consented(make_user(consented=False))  # per user


def test_disclosure_follows_the_operators_settings(
    env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = disclosure.as_text(get_settings())
    assert "30 days after their model finishes training" in text
    assert "this server's own disk" in text
    assert "demo mode" in text
    assert "The face measurements of a model are kept as long as the model." in text
    assert "no face template or embedding" not in text

    for name, value in {
        "PHOTOAI_PHOTO_RETENTION_DAYS": "7",
        "PHOTOAI_DRAFT_RETENTION_DAYS": "14",
        "PHOTOAI_STORAGE_BACKEND": "s3",
        "PHOTOAI_S3_BUCKET": "faces-eu",
        "PHOTOAI_S3_REGION": "eu-west-1",
        "PHOTOAI_TRAINER": "replicate",
        "PHOTOAI_GENERATORS": '["together", "fal"]',
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    text = disclosure.as_text(get_settings())
    assert "7 days after their model finishes training" in text
    assert "deleted 14 days after" in text
    assert "S3 bucket (faces-eu at Amazon S3, region eu-west-1)" in text
    assert "Replicate receives your accepted training photos" in text
    assert "Together AI, fal.ai" in text

    monkeypatch.setenv("PHOTOAI_PHOTO_RETENTION_DAYS", "0")
    get_settings.cache_clear()
    assert "kept until you delete them" in disclosure.as_text(get_settings())
