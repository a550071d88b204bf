"""Steps that several browser journeys share: accounts, models and test photos."""

import re
import subprocess
import sys
import uuid
from email import message_from_bytes, policy
from pathlib import Path

from playwright.sync_api import Page, expect

from photoai.settings import PROJECT_ROOT
from tests import photos

PASSWORD = "correct horse 9"


def new_email() -> str:
    return f"e2e-{uuid.uuid4().hex[:10]}@example.com"


# Where the app under test writes its emails; the app_server fixture sets it once.
OUTBOX: list[Path] = []


def link_in_mail(to: str, route: str) -> str:
    """The link to `route` in the newest email to `to` that has one."""
    pattern = re.compile(rf"https?://\S+{re.escape(route)}\?token=\S+")
    paths = sorted(OUTBOX[0].glob("*.eml"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for path in paths:
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        found = pattern.search(message.get_content()) if message["To"] == to else None  # type: ignore[attr-defined]
        if found:
            return found.group(0)
    raise AssertionError(f"no email to {to} with a {route} link")


def submit_registration(page: Page, email: str, password: str, name: str) -> None:
    page.goto("/register")
    page.fill("#name", name)
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button[type=submit]")


def register(page: Page, email: str, password: str = PASSWORD, name: str = "Ada Lovelace") -> None:
    """Sign up as a visitor does: the form, then the link the app emails."""
    submit_registration(page, email, password, name)
    expect(page.get_by_role("status")).to_contain_text(f"We sent an email to {email}")
    page.goto(link_in_mail(email, "/auth/finish-signup"))
    page.wait_for_url(re.compile(r"/dashboard"))
    expect(page.locator("#credit-balance")).to_have_text("20")


def sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button[type=submit]")


def log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r"/login"))
    expect(page.get_by_text("You are signed out.")).to_be_visible()


GOOD_COUNT = 10
BAD_FILES: dict[str, tuple[bytes, str]] = {
    "shopping-list.jpg": (photos.text_named_jpg(), "not an image"),
    "empty.jpg": (b"", "file is empty"),
    "cut-off.jpg": (photos.truncated_jpeg(), "damaged or truncated"),
    "blurry.jpg": (photos.blurred_photo(), "too blurry"),
    "two-people.jpg": (photos.two_faces(), "more than one face"),
    "cat.jpg": (photos.cat_photo(), "no face found"),
    "someone-else.jpg": (photos.training_jpegs()[8], "a different person from your other photos"),
}


def write_photo_files(folder: Path) -> dict[str, list[Path]]:
    """Ten good photos of one real face, and files each check must refuse."""
    good = []
    for i, data in enumerate(photos.one_person_jpegs()[:GOOD_COUNT]):
        path = folder / f"me-{i:02d}.jpg"
        path.write_bytes(data)
        good.append(path)
    duplicate = folder / "me-again.jpg"
    duplicate.write_bytes(good[0].read_bytes())
    bad = []
    for name, (data, _) in BAD_FILES.items():
        path = folder / name
        path.write_bytes(data)
        bad.append(path)
    return {"good": good, "bad": [*bad, duplicate]}


def create_model(page: Page, name: str) -> str:
    page.goto("/models")
    expect(page.get_by_text("No models yet")).to_be_visible()
    page.get_by_role("link", name="New model").click()
    page.wait_for_url(re.compile(r"/models/new"))
    page.fill("#name", name)
    page.get_by_role("radio", name="woman").click()
    page.get_by_role("button", name="Create and add photos").click()
    page.wait_for_url(re.compile(r"/models/\d+"))
    expect(page.locator("#page-title")).to_have_text(name)
    give_consent(page)
    return page.url.rstrip("/").rsplit("/", 1)[-1]


def give_consent(page: Page) -> None:
    """A new account agrees to the processing of its face photos before the first upload."""
    step = page.locator("#consent-step")
    expect(step).to_be_visible()
    expect(step).to_contain_text("Who receives your photos")
    page.get_by_label("I agree to the processing of my face photos").check()
    page.get_by_role("button", name="Agree and add photos").click()
    expect(step).to_have_count(0)
    expect(page.locator("#photos input[type=file]")).to_be_attached()


def upload(page: Page, files: list[Path]) -> None:
    page.locator("#photos input[type=file]").set_input_files([str(f) for f in files])


def photoai_cli(env: dict[str, str], *args: str) -> str:
    """Run the `photoai` command against the app under test (`env`: its settings)."""
    done = subprocess.run(
        [sys.executable, "-m", "photoai.cli", *args],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout
