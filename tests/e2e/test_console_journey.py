"""An operator's day in the console: a user's request failed during a provider outage; the
admin (made with `photoai admin grant`) finds the job, retries it, makes up for the wait with
credits (a reason is required, a negative balance refused), blocks an abusive account, and
reads it all back in the audit log. The user meanwhile sees 404 at /admin."""

import json
import re
import time
from dataclasses import replace
from pathlib import Path

from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select
from sqlmodel import Session, col

from photoai.db import make_engine
from photoai.models import Job, JobStatus, User, utcnow
from tests.e2e.conftest import RunningApp, shoot
from tests.e2e.journeys import (
    create_model,
    new_email,
    photoai_cli,
    register,
    sign_in,
    upload,
)
from tests.services.admin.support import SPEC

PHONE = {"width": 390, "height": 844}


def _failed_request(app: RunningApp, email: str, model_id: int) -> tuple[int, int]:
    """The user's Instant request of two pictures, failed at the provider (its hold was
    given back, as the jobs service does on failure)."""
    spec = replace(
        SPEC,
        request_key="outage-request-1",
        photos_model_id=model_id,
        style_id="",
        label="a portrait by the sea",
        prompt="a portrait by the sea",
        user_prompt="a portrait by the sea",
    )
    engine = make_engine(app.env["PHOTOAI_DATABASE_URL"])
    try:
        with Session(engine) as s:
            user_id = s.execute(select(col(User.id)).where(col(User.email) == email)).scalar_one()
            job = Job(
                kind="generation",
                user_id=user_id,
                status=JobStatus.FAILED.value,
                attempts=3,
                error="Failed after 3 attempts: the image service is unavailable",
                payload=json.dumps(spec.to_payload()),
                finished_at=utcnow(),
            )
            s.add(job)
            s.commit()
            assert job.id is not None
            return user_id, job.id
    finally:
        engine.dispose()


def _job_status(app: RunningApp, job_id: int) -> str:
    engine = make_engine(app.env["PHOTOAI_DATABASE_URL"])
    try:
        with Session(engine) as s:
            return str(s.execute(select(col(Job.status)).where(col(Job.id) == job_id)).scalar_one())
    finally:
        engine.dispose()


def test_admin_retries_a_failed_job_adjusts_credits_and_blocks(
    page: Page, browser: Browser, app_server: RunningApp, photo_files: dict[str, list[Path]]
) -> None:
    user_email = new_email()
    register(page, user_email)
    model_id = create_model(page, "Me")
    upload(page, photo_files["good"])
    expect(page.locator("#accepted-count")).to_contain_text(
        f"{len(photo_files['good'])} ", timeout=90_000
    )
    user_id, failed = _failed_request(app_server, user_email, int(model_id))
    assert page.request.get("/admin/jobs").status == 404  # the server refuses the page itself
    page.goto("/admin/jobs")
    expect(page.get_by_text("This page could not be found.")).to_be_visible()
    expect(page.locator("#jobs-table")).to_have_count(0)

    context = browser.new_context(
        base_url=app_server.base_url, viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(20_000)
    admin = context.new_page()
    admin_email = new_email()
    register(admin, admin_email, name="Olga Operator")
    admin.goto("/admin")
    expect(admin.get_by_text("This page could not be found.")).to_be_visible()
    assert "is now an admin" in photoai_cli(app_server.env, "admin", "grant", admin_email)
    assert admin.request.get("/admin/jobs").status == 200
    admin.goto("/admin")
    expect(admin.get_by_role("heading", name="Overview", level=1)).to_be_visible()
    expect(admin.get_by_text("Image generation success")).to_be_visible()
    expect(admin.locator(".recharts-surface").first).to_be_visible()
    shoot(admin, "console-overview")

    admin.goto("/admin/jobs")
    admin.select_option("#status", "failed")
    admin.get_by_role("button", name="Filter").click()
    row = admin.locator("#jobs-table tbody tr").filter(has_text=f"#{failed}")
    expect(row).to_contain_text("the image service is unavailable")
    shoot(admin, "console-jobs")
    admin.locator(f"#retry-{failed}").click()
    dialog = admin.get_by_role("dialog")
    expect(dialog).to_contain_text(f"Retry job #{failed}")
    shoot(admin, "console-retry-dialog")
    dialog.get_by_label("Reason").fill("The image service is back after the outage")
    dialog.get_by_role("button", name="Retry").click()
    notice = admin.get_by_role("status")
    expect(notice).to_contain_text(re.compile(rf"Job #{failed} retried as job #\d+\."))
    retried = int(re.findall(r"job #(\d+)", notice.inner_text())[-1])

    deadline = time.monotonic() + 120
    while _job_status(app_server, retried) not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, "the retried job did not finish"
        time.sleep(1)
    assert _job_status(app_server, retried) == "succeeded"
    admin.goto("/admin/providers")
    health = admin.locator("#providers-table tbody tr").filter(has_text="last hour")
    expect(health.filter(has_text="demo").filter(has_text="generation")).to_contain_text("100.0 %")

    admin.goto("/admin/users")
    admin.fill("#query", user_email.upper())
    admin.get_by_role("button", name="Search").click()
    admin.get_by_role("link", name=user_email).click()
    admin.wait_for_url(re.compile(rf"/admin/users/{user_id}"))
    expect(admin.locator("#user-balance")).to_have_text("18")  # 20, then 2 pictures
    admin.fill("#delta", "5")
    admin.locator("#adjust-submit").click()  # no reason: the browser asks for one first
    expect(admin.locator("#user-balance")).to_have_text("18")
    admin.fill("#delta", "5")
    admin.fill("#adjust-reason", "Sorry for the wait during the outage")
    admin.locator("#adjust-submit").click()
    expect(admin.get_by_role("status")).to_have_text("Credits adjusted by +5; the balance is 23.")
    expect(admin.locator("#user-balance")).to_have_text("23")
    admin.fill("#delta", "-100")
    admin.fill("#adjust-reason", "Typo")
    admin.locator("#adjust-submit").click()
    expect(admin.get_by_role("alert")).to_contain_text("would make the balance negative (it is 23)")
    expect(admin.locator("#user-balance")).to_have_text("23")
    expect(admin.locator("#ledger-table")).to_contain_text("Adjustment: Sorry for the wait")

    admin.fill("#block-reason", "Abuse report 1234")
    admin.locator("#block-submit").click()
    expect(admin.get_by_role("status")).to_contain_text("Account blocked")
    expect(admin.locator("#user-state")).to_contain_text("blocked since")
    shoot(admin, "console-user")

    page.goto("/dashboard")
    page.wait_for_url(re.compile(r"/login"))
    sign_in(page, user_email)
    expect(page.get_by_role("alert")).to_contain_text("This account is blocked")

    admin.goto("/admin/audit")
    rows = admin.locator("#audit-table tbody tr")
    newest = [rows.filter(has_text=f"user #{user_id}").nth(n) for n in (0, 1)]
    expect(newest[0]).to_contain_text("user.block")
    expect(newest[0]).to_contain_text("Abuse report 1234")
    expect(newest[1]).to_contain_text("credits.adjust")
    expect(rows.filter(has_text=f"job #{failed}")).to_contain_text("job.retry")
    expect(rows.filter(has_text=f"job #{failed}")).to_contain_text(admin_email)
    expect(rows.filter(has_text="admin.grant").first).to_contain_text("command line")
    shoot(admin, "console-audit")
    for path, name in (
        ("/admin", "overview"),
        ("/admin/jobs", "jobs"),
        (f"/admin/users/{user_id}", "user"),
        ("/admin/providers", "providers"),
    ):
        admin.set_viewport_size(PHONE)
        admin.goto(path)
        expect(admin.locator("#page-title")).to_be_visible()
        admin.wait_for_timeout(300)
        shoot(admin, f"console-{name}-phone")
    context.close()
