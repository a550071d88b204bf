"""Operators list jobs, retry failed ones and cancel queued ones; credits follow the rules."""

import pytest
import redis

from photoai.services import credits, jobs, training
from photoai.services.admin import audit, jobs_admin
from photoai.services.admin.audit import AdminError
from photoai.services.admin.jobs_admin import JobFilter
from tests.factories import make_user
from tests.services.admin.support import generation_job, make_admin
from tests.training_support import draft_with_photos, model_row, training_settings


@pytest.fixture
def queue_db(any_db: str, redis_conn: redis.Redis) -> None:
    """A database and a Redis queue that nothing works off, so jobs stay where they are."""


def test_retrying_a_failed_generation_holds_its_credits_again(queue_db: None) -> None:
    admin_id = make_admin()
    user_id = make_user(10)
    job_id = generation_job(user_id)
    assert credits.balance(user_id) == 8
    jobs.fail(job_id, "provider down")
    assert credits.balance(user_id) == 10
    new_id = jobs_admin.retry(admin_id, job_id, "provider is back")
    assert new_id != job_id
    retried = jobs.get(new_id)
    assert retried is not None and retried.status == "queued" and retried.credits_held == 2
    assert retried.payload == jobs.get(job_id).payload  # type: ignore[union-attr]
    assert credits.balance(user_id) == 8
    # Asking again gets the same retry, and holds nothing more.
    assert jobs_admin.retry(admin_id, job_id, "provider is back") == new_id
    assert credits.balance(user_id) == 8
    assert credits.balance(user_id) == credits.ledger_sum(user_id)
    [entry] = [a for a in audit.recent() if a.action == "job.retry"][:1]
    assert (entry.target_id, entry.reason, entry.details["new_job"]) == (
        str(job_id),
        "provider is back",
        new_id,
    )


def test_retry_refuses_what_it_cannot_do_and_changes_nothing(queue_db: None) -> None:
    admin_id = make_admin()
    user_id = make_user(3)
    queued = generation_job(user_id)
    with pytest.raises(AdminError, match=r"Only a failed job can be retried; job #\d+ is queued"):
        jobs_admin.retry(admin_id, queued, "why not")
    with pytest.raises(AdminError, match="Give a reason"):
        jobs_admin.retry(admin_id, queued, "")
    with pytest.raises(AdminError, match="No job #999"):
        jobs_admin.retry(admin_id, 999, "ghost")
    jobs.fail(queued, "boom")
    credits.adjust(user_id, -2, reference="spent-elsewhere", description="spent")
    with pytest.raises(AdminError, match="Not retried: This needs 2 credits; you have 1"):
        jobs_admin.retry(admin_id, queued, "try again")
    with pytest.raises(AdminError, match="Only admins"):
        jobs_admin.retry(user_id, queued, "let me")
    assert credits.balance(user_id) == 1
    assert [j.id for j in jobs_admin.list_jobs(JobFilter())] == [queued]
    assert audit.recent() == []


def test_cancelling_a_queued_job_releases_its_hold(queue_db: None) -> None:
    admin_id = make_admin()
    user_id = make_user(10)
    job_id = generation_job(user_id)
    with pytest.raises(AdminError, match="Only admins"):
        jobs_admin.cancel(user_id, job_id, "mine now")
    jobs_admin.cancel(admin_id, job_id, "stuck request")
    view = jobs.get(job_id)
    assert view is not None and view.status == "canceled"
    assert view.error == "Canceled by an operator: stuck request"
    assert credits.balance(user_id) == 10 == credits.ledger_sum(user_id)
    with pytest.raises(
        AdminError, match=r"Only a queued job can be canceled; job #\d+ is canceled"
    ):
        jobs_admin.cancel(admin_id, job_id, "again")
    assert [a.action for a in audit.recent()] == ["job.cancel"]


def test_listing_filters_and_pages_by_id(queue_db: None) -> None:
    user_id = make_user(40)
    ids = [generation_job(user_id) for _ in range(5)]
    jobs.fail(ids[1], "x")
    jobs.fail(ids[3], "y")
    jobs.set_external(ids[3], "together", "")
    assert [j.id for j in jobs_admin.list_jobs(JobFilter(status="failed"))] == [ids[3], ids[1]]
    assert [j.id for j in jobs_admin.list_jobs(JobFilter(provider="together"))] == [ids[3]]
    first = jobs_admin.list_jobs(JobFilter(kind="generation"), limit=2)
    after = jobs_admin.list_jobs(JobFilter(kind="generation"), before_id=first[-1].id, limit=2)
    assert [j.id for j in first + after] == ids[::-1][:4]
    assert first[0].user_email.endswith("@example.com")
    with pytest.raises(AdminError, match="Unknown job kind"):
        jobs_admin.list_jobs(JobFilter(kind="bitcoin"))
    with pytest.raises(AdminError, match="Unknown job status"):
        jobs_admin.list_jobs(JobFilter(status="exploded"))
    assert jobs_admin.providers_seen() == ["together"]


def test_retrying_a_failed_training_goes_through_the_models_own_retry(
    pg: str, redis_conn: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    training_settings(monkeypatch)
    admin_id = make_admin()
    user_id = make_user(100)
    model_id = draft_with_photos(user_id)
    job_id = training.start_training(user_id, model_id)
    jobs.fail(job_id, "trainer down")
    assert model_row(model_id).status == "failed" and credits.balance(user_id) == 100
    new_id = jobs_admin.retry(admin_id, job_id, "trainer is back")
    assert model_row(model_id).status == "queued" and model_row(model_id).job_id == new_id
    assert credits.balance(user_id) == 70 == credits.ledger_sum(user_id)
    jobs.fail(new_id, "trainer down again")
    with pytest.raises(AdminError, match="trained again since; retry the latest job"):
        jobs_admin.retry(admin_id, job_id, "the old one")
    assert jobs_admin.retry(admin_id, new_id, "once more") != new_id
    assert credits.balance(user_id) == 70
