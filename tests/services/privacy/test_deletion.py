"""Deleting an account on PostgreSQL, with real storage (a local folder and S3 through moto's
server), the job machinery on Redis and the fake Stripe API."""

from collections.abc import Iterator

import pytest
import redis
from sqlalchemy import MetaData, Table, func, select, update
from sqlmodel import col
from starlette.applications import Starlette
from starlette.testclient import TestClient

from photoai import cli, db
from photoai.api import files
from photoai.db import session_scope
from photoai.models import CreditEntry, Job, JobStatus, Subscription, User
from photoai.services import accounts, credits, jobs, training
from photoai.services.billing import overview, sync
from photoai.services.privacy import deletion
from photoai.services.privacy.deletion import DeletionError
from photoai.services.storage import Storage, get_storage
from photoai.settings import get_settings
from tests.factories import make_user
from tests.fakes.stripe_api import FakeStripe
from tests.services.privacy.storage_support import keys_under
from tests.services.test_billing import _serve, subscribe
from tests.training_support import (
    demo_clock,
    draft_with_photos,
    outbox,
    training_settings,
    work_burst,
)

PASSWORD = "correct horse battery"
EMAIL = "ada.lovelace@example.com"
NAME = "Ada Lovelace"


@pytest.fixture
def stripe_fake(store: Storage, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeStripe]:
    yield from _serve(monkeypatch)


def person(email: str, name: str, monkeypatch: pytest.MonkeyPatch) -> int:
    """An account with a trained model, a draft, a live session and a subscription."""
    uid = make_user(200, email=email)
    with session_scope() as s:
        user = s.get(User, uid)
        assert user is not None
        user.name, user.password_hash = name, accounts.hash_password(PASSWORD)
    clock = demo_clock(monkeypatch)
    trained = draft_with_photos(uid, name=f"{name} summer")
    training.start_training(uid, trained)
    work_burst()
    clock.now += 1
    training.reconcile_trainings()
    draft_with_photos(uid, count=1, name=f"{name} draft")
    return uid


def signed_in(uid: int) -> str:
    ticket = accounts.create_login_ticket(uid, "/dashboard")
    return accounts.redeem_login_ticket(ticket, "pytest", "127.0.0.1").token


def _tables() -> list[Table]:
    meta = MetaData()
    meta.reflect(db.get_engine())
    return [t for t in meta.sorted_tables if t.name != "alembic_version"]


def rows_mentioning(*needles: str) -> list[str]:
    """Every row of every table whose text contains one of the needles."""
    found = []
    with db.get_engine().connect() as conn:
        for table in _tables():
            for row in conn.execute(select(table)):
                if any(n.lower() in str(tuple(row)).lower() for n in needles):
                    found.append(f"{table.name}: {row}")
    return found


def user_id_rows(uid: int) -> dict[str, int]:
    """Rows per table whose user_id is `uid`, for the tables that have one."""
    counts = {}
    with db.get_engine().connect() as conn:
        for table in _tables():
            if "user_id" in table.c:
                query = select(func.count()).select_from(table).where(table.c.user_id == uid)
                counts[table.name] = conn.execute(query).scalar_one()
    return {t: n for t, n in counts.items() if n}


def test_deleting_an_account_erases_it_and_nothing_else(
    store: Storage, stripe_fake: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    uid = person(EMAIL, NAME, monkeypatch)
    other = person("grace@example.com", "Grace Hopper", monkeypatch)
    _, events = subscribe(stripe_fake, uid)
    for event in events:
        sync.handle_event(event)
    assert overview.current_subscription(uid) is not None
    token = signed_in(uid)
    assert accounts.resolve_session(token) is not None
    other_keys = keys_under(store, f"users/{other}/")
    assert keys_under(store, f"users/{uid}/")
    balance_before = credits.balance(uid)
    assert rows_mentioning(EMAIL) and rows_mentioning(NAME)  # the probe finds what is there

    for wrong in ("", "not my password"):
        with pytest.raises(DeletionError):
            deletion.request_deletion(uid, wrong)
    assert accounts.resolve_session(token) is not None  # a refusal changed nothing

    job_id = deletion.request_deletion(uid, PASSWORD)
    # Disabled at once, before the job has run: old cookie, password and email all stop working.
    assert accounts.resolve_session(token) is None
    with pytest.raises(accounts.AccountError):
        accounts.authenticate(EMAIL, PASSWORD, "127.0.0.1")
    with pytest.raises(DeletionError, match="already being deleted"):
        deletion.request_deletion(uid, PASSWORD)

    work_burst()
    with session_scope() as s:
        job = s.get(Job, job_id)
        assert job is not None and job.status == JobStatus.SUCCEEDED, job.error

    assert keys_under(store, f"users/{uid}/") == []
    assert keys_under(store, f"users/{other}/") == other_keys
    assert rows_mentioning(EMAIL, NAME, "Lovelace") == []  # not "Ada": random hex ids contain it
    # Only the anonymised ledger, holds, subscription and the tombstone user row remain.
    assert set(user_id_rows(uid)) <= {"credit_entries", "credit_holds", "subscriptions"}
    with session_scope() as s:
        user = s.get(User, uid)
        assert user is not None
        assert (user.email, user.name) == (deletion.tombstone_email(uid), "")
        descriptions = set(
            s.execute(select(col(CreditEntry.description)).where(CreditEntry.user_id == uid))
            .scalars()
            .all()
        )
        assert descriptions == {""}
        [subscription] = s.execute(select(Subscription)).scalars().all()
        assert subscription.status == "canceled"
    assert credits.balance(uid) == balance_before  # the ledger still adds up
    assert stripe_fake.calls("DELETE", f"/v1/subscriptions/{subscription.stripe_subscription_id}")
    assert stripe_fake.objects[subscription.stripe_subscription_id]["status"] == "canceled"
    [mail] = [m for m in outbox() if m["To"] == EMAIL and "deleted" in m["Subject"]]
    assert "create a new account" in mail.get_content()

    # The second user is untouched and the email can sign up again as a new account.
    assert user_id_rows(other)["training_photos"] == 5
    assert accounts.register(EMAIL, PASSWORD, NAME) != uid


def test_a_deletion_stopped_half_way_is_finished_by_the_next_run(
    store: Storage, stripe_fake: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    uid = person(EMAIL, NAME, monkeypatch)
    _, events = subscribe(stripe_fake, uid)
    for event in events:
        sync.handle_event(event)
    # Stripe is down after the files are gone: the attempt stops half-way.
    stripe_fake.fail_next(500, times=50, path_prefix="/v1/subscriptions/")
    job_id = deletion.request_deletion(uid, PASSWORD)
    work_burst()
    with session_scope() as s:
        job = s.get(Job, job_id)
        assert job is not None and job.status == JobStatus.QUEUED and job.attempts == 1
    assert keys_under(store, f"users/{uid}/") == []
    assert rows_mentioning(NAME + " draft") == []  # models went in the first step
    with pytest.raises(accounts.AccountError):  # half-deleted, yet nobody can sign in
        accounts.authenticate(EMAIL, PASSWORD, "127.0.0.1")

    stripe_fake.clear_failures()
    assert jobs.run(job_id) == "succeeded"
    assert rows_mentioning(EMAIL, NAME) == []
    assert set(user_id_rows(uid)) <= {"credit_entries", "credit_holds", "subscriptions"}
    assert jobs.run(job_id) == "skipped"  # a late retry changes nothing


def test_an_operator_deletes_by_email_and_reruns_a_failed_deletion(
    store: Storage, stripe_fake: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    uid = person(EMAIL, NAME, monkeypatch)
    _, events = subscribe(stripe_fake, uid)
    for event in events:
        sync.handle_event(event)
    stripe_fake.fail_next(500, times=50, path_prefix="/v1/subscriptions/")
    assert cli.main(["delete-account", EMAIL]) == 0
    [job_id] = [j.id for j in jobs_of_kind(deletion.KIND)]
    with session_scope() as s:  # every attempt failed: the job fails for good
        s.execute(update(Job).where(col(Job.id) == job_id).values(attempts=2))
    work_burst()
    view = jobs.get(job_id)
    assert view is not None and view.status == JobStatus.FAILED
    assert cli.main(["delete-account", EMAIL]) == 1  # the email is free already

    stripe_fake.clear_failures()
    assert cli.main(["delete-account", str(uid)]) == 0
    work_burst()
    assert rows_mentioning(EMAIL, NAME) == []
    assert [m for m in outbox() if m["To"] == EMAIL and "deleted" in m["Subject"]]


def jobs_of_kind(kind: str) -> list[Job]:
    with session_scope() as s:
        return list(s.execute(select(Job).where(col(Job.kind) == kind)).scalars())


def test_old_cookie_and_file_links_stop_working_before_the_job_runs(
    pg: str, redis_conn: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    training_settings(monkeypatch)
    uid = make_user(email=EMAIL)
    with session_scope() as s:
        user = s.get(User, uid)
        assert user is not None
        user.password_hash = accounts.hash_password(PASSWORD)
    model_id = draft_with_photos(uid, count=1)
    [photo] = training.get_model(uid, model_id).photos
    token = signed_in(uid)
    with TestClient(Starlette(routes=files.routes)) as client:
        client.cookies.set(get_settings().session_cookie_name, token)
        assert client.get(photo.thumb_url).status_code == 200
        deletion.request_deletion(uid, PASSWORD)  # queued, not run: the files still exist
        assert keys_under(get_storage(), f"users/{uid}/")
        assert client.get(photo.thumb_url).status_code in (401, 403, 404)
    assert accounts.resolve_session(token) is None
