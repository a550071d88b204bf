"""Every page, populated, checked by axe-core on a desktop and on a 390 px phone; the phone
layout keeps the navigation compact and every aspect ratio reachable; and the wording a user
reads on the way (counts, the demo label, the first-visit Generate page) is right.

A signed-in user with a trained model and one picture walks through the whole site, so the
pages show their real content (cards, tables, photo tiles, the picture modal), not empty states.
"""

import re
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

from photoai.services import training
from tests.e2e.accessibility import describe, serious_violations
from tests.e2e.conftest import RunningApp, shoot
from tests.e2e.journeys import create_model, new_email, photoai_cli, register, upload

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
MAX_NAV_PX = 64


class Audit:
    """Runs axe on each page shown and keeps every finding, so one run lists them all."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.findings: list[str] = []

    def check(self, name: str, ready: Locator) -> None:
        expect(ready.first).to_be_visible(timeout=30_000)
        self.page.wait_for_timeout(300)  # let transitions (dialogs, progress) settle
        shoot(self.page, f"a11y-{name}")
        violations = serious_violations(self.page)
        if violations:
            finding = f"--- {name} ({self.page.url})\n{describe(violations)}"
            print(finding)  # shown with the failure, even if a later step fails first
            self.findings.append(finding)

    def visit(self, path: str, name: str, ready: Locator) -> None:
        self.page.goto(path)
        self.check(name, ready)

    def assert_clean(self) -> None:
        assert not self.findings, "\n".join(self.findings)


def _heading(page: Page, text: str) -> Locator:
    return page.get_by_role("heading", name=text, exact=True)


def _public_pages(audit: Audit, suffix: str) -> None:
    page = audit.page
    landing = page.get_by_role("heading", name=re.compile("New photos"))
    audit.visit("/", f"landing-{suffix}", landing)
    audit.visit("/login", f"login-{suffix}", page.locator("#password"))
    audit.visit("/register", f"register-{suffix}", page.locator("#password"))
    audit.visit("/forgot-password", f"forgot-{suffix}", page.locator("#email"))
    audit.visit("/reset-password?token=unknown", f"reset-{suffix}", page.locator("#confirm"))


def _signed_in_pages(audit: Audit, model_id: str, suffix: str) -> None:
    page = audit.page
    audit.visit("/dashboard", f"dashboard-{suffix}", page.locator("#credit-balance"))
    audit.visit("/models", f"models-{suffix}", page.get_by_test_id("model-card"))
    audit.visit("/models/new", f"new-model-{suffix}", page.locator("#name"))
    audit.visit(f"/models/{model_id}", f"model-{suffix}", page.get_by_test_id("photo-tile"))
    audit.visit("/generate", f"generate-{suffix}", page.get_by_test_id("recent-image"))
    audit.visit("/gallery", f"gallery-{suffix}", page.get_by_test_id("gallery-tile"))
    page.get_by_test_id("gallery-tile").first.locator("img").click()
    audit.check(f"gallery-picture-{suffix}", page.get_by_role("dialog"))
    page.keyboard.press("Escape")
    audit.visit("/billing", f"billing-{suffix}", page.locator("#billing-balance"))
    audit.visit("/account", f"account-{suffix}", page.locator("#current_password"))


def _admin_pages(audit: Audit, email: str, suffix: str) -> None:
    """The operator console, as an admin sees it."""
    page = audit.page
    audit.visit("/admin", f"admin-overview-{suffix}", page.locator(".recharts-surface"))
    audit.visit("/admin/jobs", f"admin-jobs-{suffix}", page.locator("#jobs-table tbody tr"))
    audit.visit("/admin/users", f"admin-users-{suffix}", page.locator("#users-table tbody tr"))
    page.fill("#query", email)
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name=email).click()
    audit.check(f"admin-user-{suffix}", page.locator("#ledger-table tbody tr"))
    audit.visit("/admin/providers", f"admin-providers-{suffix}", page.locator("#providers-table"))
    audit.visit("/admin/stripe", f"admin-stripe-{suffix}", page.locator("#stripe-table"))
    audit.visit("/admin/audit", f"admin-audit-{suffix}", page.locator("#audit-table tbody tr"))


def _check_phone_layout(page: Page) -> None:
    """The bar stays one row at every width; on a phone the menu opens by keyboard and every
    aspect ratio is on screen."""
    page.goto("/dashboard")
    expect(page.locator("#credit-balance")).to_be_visible()
    for width in (1280, 992, 991, 768, PHONE["width"]):
        page.set_viewport_size({"width": width, "height": PHONE["height"]})
        page.wait_for_timeout(100)
        bar = page.get_by_role("banner").bounding_box()
        assert bar is not None and bar["height"] <= MAX_NAV_PX, (width, bar)
        shoot(page, f"nav-{width}")
    menu = page.get_by_role("button", name="Open menu")
    menu.focus()
    page.keyboard.press("Enter")
    nav = page.get_by_role("navigation", name="Main")
    for label in ("Dashboard", "Models", "Generate", "Gallery", "Billing", "Account"):
        expect(nav.get_by_role("link", name=label)).to_be_visible()
    shoot(page, "phone-menu-open")
    nav.get_by_role("link", name="Generate").click()
    page.wait_for_url(re.compile(r"/generate"))
    options = page.locator("#aspect").get_by_role("radio")
    expect(options.first).to_be_visible()
    assert options.count() >= 5
    for i in range(options.count()):
        box = options.nth(i).bounding_box()
        assert box is not None
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (i, box)
    options.last.click()
    expect(options.last).to_have_attribute("aria-checked", "true")


def _check_wording(page: Page, model_id: str, pictures: int) -> None:
    """Counts are pluralised, the demo label is said once, the photo limits are the trainer's."""
    page.goto(f"/models/{model_id}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Studio me")
    low, high = training.photo_range()
    page.goto("/models")
    expect(page.get_by_text(f"from {low}-{high} photos")).to_be_visible()
    page.goto("/dashboard")
    expect(page.get_by_text(f"Upload {low}-{high} photos")).to_be_visible()
    page.goto("/")
    expect(page.get_by_text(f"Upload {low}-{high} photos")).to_be_visible()
    page.goto("/generate")
    expect(page.get_by_test_id("recent-image")).to_have_count(pictures)
    page.locator("#source").click()
    expect(page.get_by_role("option")).to_have_text(
        ["Studio me (demo)", "Instant, no training (demo)"]
    )
    page.keyboard.press("Escape")
    page.get_by_test_id("style-card").filter(has_text="Studio headshot").click()
    expect(page.locator("#cost-line")).to_contain_text("Costs 1 credit ·")
    page.locator("#count").get_by_role("radio", name="2", exact=True).click()
    expect(page.locator("#cost-line")).to_contain_text("Costs 2 credits ·")


def test_every_page_is_accessible_on_desktop_and_phone(
    page: Page, app_server: RunningApp, photo_files: dict[str, list[Path]]
) -> None:
    audit = Audit(page)
    _public_pages(audit, "desktop")
    page.set_viewport_size(PHONE)
    _public_pages(audit, "phone")
    page.set_viewport_size(DESKTOP)

    email = new_email()
    register(page, email)
    page.goto("/generate")
    expect(_heading(page, "Your requests")).to_be_visible()
    first_visit_empty = page.get_by_test_id("recent-empty").count()

    model_id = create_model(page, "Studio me")
    upload(page, photo_files["good"])
    expect(page.locator("#accepted-count")).to_contain_text(
        f"{len(photo_files['good'])} ", timeout=90_000
    )
    page.locator("#start-training").click()
    expect(page.get_by_text("Ready", exact=True).first).to_be_visible(timeout=90_000)
    page.goto("/generate")
    page.get_by_test_id("style-card").filter(has_text="Studio headshot").click()
    expect(page.locator("#cost")).to_have_text("1")
    page.locator("#generate").click()
    expect(page.get_by_test_id("queue-row").filter(has_text="Done")).to_have_count(
        1, timeout=120_000
    )

    _signed_in_pages(audit, model_id, "desktop")
    page.set_viewport_size(PHONE)
    _signed_in_pages(audit, model_id, "phone")
    _check_phone_layout(page)
    page.set_viewport_size(DESKTOP)
    photoai_cli(app_server.env, "admin", "grant", email)
    _admin_pages(audit, email, "desktop")
    page.set_viewport_size(PHONE)
    _admin_pages(audit, email, "phone")
    page.set_viewport_size(DESKTOP)
    audit.assert_clean()

    assert first_visit_empty == 1, "a first visit to Generate shows an empty 'Latest pictures'"
    _check_wording(page, model_id, pictures=1)
