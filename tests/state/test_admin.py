"""The console's states answer only admins: every page load and every event asks the server,
so a non-admin (or a signed-out tab) sending the events by hand changes nothing and sees the
not-found view."""

import pytest

from photoai.services import credits, jobs
from photoai.services.admin import audit, users_admin
from photoai.state.admin import (
    PAGE,
    AdminAuditState,
    AdminJobsState,
    AdminOverviewState,
    AdminProvidersState,
    AdminState,
    AdminStripeState,
    AdminUsersState,
    AdminUserState,
)
from photoai.state.dashboard import DashboardState
from tests.async_support import run as _run
from tests.factories import make_user
from tests.services.admin.support import generation_job, make_admin, sign_in
from tests.state.tabs import tab_state

PAGES: list[tuple[type[AdminState], str]] = [
    (AdminOverviewState, "/admin"),
    (AdminJobsState, "/admin/jobs"),
    (AdminUsersState, "/admin/users"),
    (AdminUserState, "/admin/users/1"),
    (AdminProvidersState, "/admin/providers"),
    (AdminStripeState, "/admin/stripe"),
    (AdminAuditState, "/admin/audit"),
]


@pytest.mark.parametrize(("cls", "path"), PAGES)
def test_pages_show_not_found_to_anyone_but_an_admin(
    db: None, cls: type[AdminState], path: str
) -> None:
    user_token = sign_in(make_user(5))
    for token in (None, user_token, "forged"):
        state = tab_state(cls, token, path)
        assert _run(state.on_load()) is None
        assert state.checked and not state.allowed
    admin = tab_state(cls, sign_in(make_admin()), path)
    _run(admin.on_load())
    assert admin.checked and admin.allowed


def test_admin_events_sent_by_a_non_admin_change_nothing(db: None) -> None:
    owner = make_user(10)
    failed = generation_job(owner)
    jobs.fail(failed, "boom")
    queued = generation_job(owner)
    user_token = sign_in(make_user(5))
    for token in (None, user_token):
        page = tab_state(AdminJobsState, token, "/admin/jobs")
        _run(page.retry({"job_id": str(failed), "reason": "sneaky"}))
        _run(page.cancel({"job_id": str(queued), "reason": "sneaky"}))
        _run(page.filter({"kind": "generation"}))
        _run(page.next_page())
        assert not page.allowed and page.rows == [] and page.notice == ""
        account = tab_state(AdminUserState, token, f"/admin/users/{owner}")
        _run(account.adjust({"delta": "1000", "adjust-reason": "sneaky"}))
        _run(account.set_blocked({"block": "1", "block-reason": "sneaky"}))
        assert not account.allowed and account.user == {}
        overview = tab_state(AdminOverviewState, token, "/admin")
        _run(overview.choose_period({"start": "2026-01-01", "end": "2026-01-31"}))
        assert overview.figures == []
        people = tab_state(AdminUsersState, token, "/admin/users")
        _run(people.search({"query": "example"}))
        assert people.rows == []
    assert [j.status for j in map(jobs.get, (failed, queued))] == ["failed", "queued"]  # type: ignore[union-attr]
    assert credits.balance(owner) == 8
    assert users_admin.detail(owner).blocked_at is None
    assert audit.recent() == []


def test_an_admin_retries_adjusts_and_blocks_through_the_states(db: None) -> None:
    owner = make_user(10)
    failed = generation_job(owner)
    jobs.fail(failed, "boom")
    token = sign_in(make_admin())
    page = tab_state(AdminJobsState, token, "/admin/jobs")
    _run(page.on_load())
    assert [r["id"] for r in page.rows] == [str(failed)]
    _run(page.retry({"job_id": str(failed), "reason": ""}))
    assert page.error == "Give a reason; it is kept in the audit log."
    _run(page.retry({"job_id": str(failed), "reason": "provider back"}))
    assert page.error == "" and page.notice.startswith(f"Job #{failed} retried as job #")
    assert [r["status"] for r in page.rows] == ["queued", "failed"]
    account = tab_state(AdminUserState, token, f"/admin/users/{owner}")
    _run(account.on_load())
    assert account.user["balance"] == "8"
    _run(account.adjust({"delta": "-9", "adjust-reason": "cleanup"}))
    assert "negative" in account.error
    _run(account.adjust({"delta": "abc", "adjust-reason": "cleanup"}))
    assert account.error == "Enter a whole number of credits, e.g. 25 or -10."
    _run(account.adjust({"delta": "5", "adjust-reason": "goodwill"}))
    assert account.notice == "Credits adjusted by +5; the balance is 13."
    assert account.user["balance"] == "13"
    _run(account.set_blocked({"block": "1", "block-reason": "fraud"}))
    assert account.blocked and account.notice.startswith("Account blocked")
    assert [h["action"] for h in account.history] == ["user.block", "credits.adjust"]


def test_only_admins_see_the_console_link(db: None) -> None:
    member = tab_state(DashboardState, sign_in(make_user(5)), "/dashboard")
    _run(member.on_load())
    admin = tab_state(DashboardState, sign_in(make_admin()), "/dashboard")
    _run(admin.on_load())
    assert member.signed_in and not member.is_admin
    assert admin.signed_in and admin.is_admin


def test_an_admin_pages_through_the_audit_log(db: None) -> None:
    token = sign_in(make_admin())
    owner = make_user(0)
    page = tab_state(AdminUsersState, token, "/admin/users")
    _run(page.on_load())
    account = tab_state(AdminUserState, token, f"/admin/users/{owner}")
    _run(account.on_load())
    for n in range(PAGE + 3):
        _run(account.adjust({"delta": "1", "adjust-reason": f"goodwill {n}"}))
    log = tab_state(AdminAuditState, token, "/admin/audit")
    _run(log.on_load())
    assert len(log.rows) == PAGE and log.next_before != 0
    _run(log.next_page())
    assert [r["reason"] for r in log.rows] == [f"goodwill {n}" for n in (2, 1, 0)]
    assert log.next_before == 0
    _run(log.first_page())
    assert log.rows[0]["reason"] == f"goodwill {PAGE + 2}"
