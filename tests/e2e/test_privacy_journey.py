"""Browser journey for data rights: the privacy page, consent before the first upload, a data
export opened as a ZIP, then deleting the account, which signs out for good and frees the email
for a new account."""

import io
import json
import re
import zipfile
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.e2e.conftest import SCREENS, shoot
from tests.e2e.journeys import (
    PASSWORD,
    create_model,
    new_email,
    register,
    sign_in,
    upload,
)


def test_consent_upload_then_delete_the_account(
    page: Page, photo_files: dict[str, list[Path]]
) -> None:
    page.goto("/privacy")
    expect(page.get_by_role("heading", name="Privacy")).to_be_visible()
    expect(page.get_by_text(re.compile("deleted automatically 30 days after"))).to_be_visible()
    shoot(page, "privacy")

    email = new_email()
    register(page, email)
    create_model(page, "Me")  # the consent step comes before the upload area
    upload(page, photo_files["good"][:2])
    expect(page.locator("#accepted-count")).to_contain_text("2 (", timeout=60_000)
    expect(page.locator("#retention-note")).to_contain_text("This draft is deleted")

    page.goto("/account")
    page.get_by_role("button", name="Prepare my data").click()
    download = page.locator("#export-download")
    expect(download).to_be_visible(timeout=60_000)
    response = page.request.get(download.get_attribute("href") or "")
    assert response.ok, response.status
    with zipfile.ZipFile(io.BytesIO(response.body())) as zf:
        names = zf.namelist()
        account = json.loads(zf.read("account.json"))
    assert account["email"] == email and "README.txt" in names
    assert len([n for n in names if "/photos/" in n]) == 2
    (SCREENS / "export-listing.txt").write_text("\n".join(sorted(names)))
    shoot(page, "account-export")

    card = page.locator("#delete-account")
    password = card.get_by_label("Your password, to confirm")
    delete = card.get_by_role("button", name="Delete my account and all my data")
    password.fill("wrong password 1")
    delete.click()
    expect(card.get_by_role("alert")).to_have_text(
        "That password is not correct. Nothing was deleted."
    )
    password.fill(PASSWORD)
    delete.click()
    page.wait_for_url(re.compile(r"/login"))
    shoot(page, "account-deleted")

    page.goto("/dashboard")
    page.wait_for_url(re.compile(r"/login"))
    sign_in(page, email)
    expect(page.get_by_role("alert")).to_have_text("Email or password is incorrect.")
    later = page.context.new_page()  # another day, another tab: the email signs up anew
    register(later, email)
    later.goto("/models")
    expect(later.get_by_text("No models yet")).to_be_visible()
