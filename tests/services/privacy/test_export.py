"""The data export on PostgreSQL with real storage (local folder and S3 through moto): one job
per user at a time, a ZIP holding the user's data and nobody else's, a link only its owner can
use until it expires, and the ZIP deleted afterwards."""

import base64
import io
import json
import zipfile
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from sqlalchemy import update
from sqlmodel import col

from photoai.db import session_scope
from photoai.models import Job, JobStatus, PersonalModel, User
from photoai.services import accounts, generation, training
from photoai.services.generation import GenerationOptions
from photoai.services.privacy import export
from photoai.services.storage import LinkCheck, LocalStorage, Storage, verify_link
from photoai.settings import get_settings
from tests.factories import make_user
from tests.training_support import (
    MIN_PHOTOS,
    demo_clock,
    draft_with_photos,
    outbox,
    work_burst,
)

EMAIL = "ada.export@example.com"


def test_export_holds_the_users_data_and_nobody_elses(
    store: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = demo_clock(monkeypatch)
    uid, other = make_user(100, email=EMAIL), make_user(100, email="grace.export@example.com")
    with session_scope() as s:
        user = s.get(User, uid)
        assert user is not None
        user.password_hash = accounts.hash_password("correct horse battery")
    model_id = draft_with_photos(uid, name="Summer me")
    training.start_training(uid, model_id)
    work_burst()
    clock.now += 1
    training.reconcile_trainings()
    generation.submit(
        uid, GenerationOptions(f"model:{model_id}", prompt="me on a beach"), "export-request-1"
    )
    work_burst()
    draft_with_photos(other, name="Grace")

    job_id = export.request_export(uid)
    assert export.request_export(uid) == job_id  # asking twice while it runs: one export
    assert export.latest_export(uid).download_url == ""  # type: ignore[union-attr]
    work_burst()
    view = export.latest_export(uid)
    assert view is not None and view.status == JobStatus.SUCCEEDED and view.download_url
    assert export.request_export(uid) != job_id  # a finished export does not block a new one

    data = store.get(export.export_key(uid, job_id))
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = set(zf.namelist())
        texts = {n: zf.read(n) for n in names}
    photos = {n for n in names if n.startswith(f"models/{model_id}/photos/")}
    pictures = {n for n in names if n.startswith("generated/")}
    assert len(photos) == MIN_PHOTOS and len(pictures) == 1
    assert {
        "README.txt",
        "account.json",
        "consents.json",
        "models.json",
        "generated.json",
        "credit_ledger.csv",
        "payments.json",
    } <= names
    assert json.loads(texts["account.json"])["email"] == EMAIL
    [model] = json.loads(texts["models.json"])
    assert model["name"] == "Summer me" and len(model["photos"]) == MIN_PHOTOS
    [picture] = json.loads(texts["generated.json"])
    assert picture["prompt"] == "me on a beach" and picture["file"] in pictures
    assert f"seed:{uid}" in texts["credit_ledger.csv"].decode()
    assert json.loads(texts["consents.json"])[0]["version"]
    everything = b"".join(texts.values())
    assert b"grace.export" not in everything and b"Grace" not in everything
    assert b"$2b$" not in everything  # no password hash
    with session_scope() as s:
        trained = s.get(PersonalModel, model_id)
        assert trained is not None and trained.likeness_references
        references = trained.likeness_references
    assert "likeness_references" not in model
    assert references not in everything, "face embeddings are not exported"
    assert base64.b64encode(references) not in everything

    [mail] = [m for m in outbox() if m["To"] == EMAIL and "export" in m["Subject"]]
    assert "The link works until" in mail.get_content()


def test_an_export_link_is_its_owners_and_expires(
    store: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    uid, other = make_user(), make_user()
    job_id = export.request_export(uid)
    work_burst()
    view = export.latest_export(uid)
    assert view is not None and view.download_url
    key = export.export_key(uid, job_id)
    if isinstance(store, LocalStorage):
        parts = urlsplit(view.download_url)
        query = parse_qs(parts.query)
        linked = unquote(parts.path.removeprefix("/files/"))
        assert linked == key
        secret = get_settings().signing_key
        exp, sig = query["exp"][0], query["sig"][0]
        assert verify_link(secret, key, exp, sig, uid) == LinkCheck.VALID
        assert verify_link(secret, key, exp, sig, other) == LinkCheck.INVALID
    assert export.latest_export(other) is None

    assert export.remove_expired() == {}  # not yet
    with session_scope() as s:
        job = s.get(Job, job_id)
        assert job is not None
        payload = json.loads(job.payload)
        payload["expires_at"] = "2000-01-01T00:00:00+00:00"
        s.execute(update(Job).where(col(Job.id) == job_id).values(payload=json.dumps(payload)))
    assert export.latest_export(uid).download_url == ""  # type: ignore[union-attr]
    assert export.remove_expired() == {"exports_removed": 1}
    assert not store.exists(key)
    assert export.remove_expired() == {}
