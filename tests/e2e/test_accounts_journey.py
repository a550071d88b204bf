"""Browser journeys for accounts: register, sign in and out, redirects, resets, account page."""

import re
from email import message_from_bytes, policy

import redis
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import E2E_REDIS_URL, RunningApp, shoot
from tests.e2e.journeys import (
    PASSWORD,
    link_in_mail,
    log_out,
    new_email,
    register,
    sign_in,
    submit_registration,
)


def test_register_logout_wrong_password_login(page: Page) -> None:
    page.goto("/")
    expect(page.get_by_role("heading", name=re.compile("New photos of you"))).to_be_visible()
    shoot(page, "landing")
    email = new_email()
    register(page, email)
    expect(page.locator("#profile-email")).to_have_text(email)
    expect(page.locator("#profile-name")).to_have_text("Ada Lovelace")
    expect(page.locator("#nav-balance")).to_have_text("20")
    expect(page.get_by_role("cell", name="Welcome credits").first).to_be_visible()
    for label in ("Dashboard", "Models", "Generate", "Gallery", "Billing", "Account"):
        expect(page.get_by_role("navigation").get_by_role("link", name=label)).to_be_visible()
    shoot(page, "dashboard")
    assert "photoai_session" not in page.evaluate("document.cookie")
    log_out(page)
    shoot(page, "login-signed-out")
    sign_in(page, email, "wrong password 1")
    expect(page.get_by_role("alert")).to_have_text("Email or password is incorrect.")
    shoot(page, "login-wrong-password")
    assert "/login" in page.url
    sign_in(page, email)
    page.wait_for_url(re.compile(r"/dashboard"))
    expect(page.locator("#credit-balance")).to_have_text("20")


def test_protected_pages_redirect_to_login_and_back(page: Page) -> None:
    email = new_email()
    register(page, email)
    log_out(page)
    for path in ("/dashboard", "/models", "/generate", "/gallery", "/billing", "/account"):
        page.goto(path)
        page.wait_for_url(re.compile(r"/login/?\?next="))
    page.goto("/account")
    page.wait_for_url(re.compile(r"/login/?\?next=%2Faccount"))
    sign_in(page, email)
    page.wait_for_url(re.compile(r"/account"))
    expect(page.get_by_role("heading", name="Account", exact=True)).to_be_visible()


def test_forged_session_cookie_is_not_a_login(page: Page, app_server: RunningApp) -> None:
    page.context.add_cookies(
        [{"name": "photoai_session", "value": "forged-token", "url": app_server.base_url}]
    )
    page.goto("/dashboard")
    page.wait_for_url(re.compile(r"/login/?\?next="))


def test_registration_answers_alike_for_taken_and_new_emails(
    page: Page, browser: Browser, app_server: RunningApp
) -> None:
    email = new_email()
    register(page, email)
    log_out(page)
    page.goto(link_in_mail(email, "/auth/finish-signup"))  # the link works once
    page.wait_for_url(re.compile(r"/login/?\?error=signup_link_used"))
    expect(page.get_by_role("alert")).to_have_text(
        "This sign-up link was already used. Sign in with your email and password."
    )
    intruder = browser.new_context(base_url=app_server.base_url).new_page()
    submit_registration(intruder, email.upper(), "intruders pass 3", "Eve")
    expect(intruder.get_by_role("status")).to_have_text(
        f"We sent an email to {email}. Open the link in it to finish signing up. "
        "Nothing there? Look in your spam folder, or register again for a new link."
    )
    shoot(intruder, "register-sent")
    subjects = [
        message_from_bytes(p.read_bytes(), policy=policy.default)["Subject"]
        for p in app_server.outbox()
    ]
    assert any(s.startswith("Someone tried to create") for s in subjects)
    intruder.get_by_role("button", name="Use another address").click()
    intruder.fill("#email", new_email())
    intruder.fill("#password", "password")
    intruder.click("button[type=submit]")
    expect(intruder.get_by_role("alert")).to_contain_text("Password too weak")
    shoot(intruder, "register-weak-password")
    assert "/register" in intruder.url
    intruder.goto("/login")
    sign_in(intruder, email, "intruders pass 3")
    expect(intruder.get_by_role("alert")).to_have_text("Email or password is incorrect.")
    intruder.context.close()


def test_a_forged_forwarded_for_is_not_the_throttled_address(
    browser: Browser, app_server: RunningApp
) -> None:
    """The server trusts no proxy (REFLEX_TRUSTED_PROXY_HOPS unset), so the address a client
    claims in X-Forwarded-For counts for nothing: failures land on its real address."""
    forged = "203.0.113.77"
    conn = redis.Redis.from_url(E2E_REDIS_URL)
    conn.delete(f"photoai:throttle:login:ip:{forged}")  # counters outlive a test session
    context = browser.new_context(
        base_url=app_server.base_url, extra_http_headers={"X-Forwarded-For": forged}
    )
    page = context.new_page()
    try:
        page.goto("/login")
        sign_in(page, new_email(), "wrong password 1")
        expect(page.get_by_role("alert")).to_have_text("Email or password is incorrect.")
        assert conn.get(f"photoai:throttle:login:ip:{forged}") is None
        assert int(conn.get("photoai:throttle:login:ip:127.0.0.1") or 0) >= 1  # type: ignore[arg-type]
    finally:
        conn.close()
        context.close()


def test_login_page_shows_only_its_own_messages(page: Page) -> None:
    page.goto("/login?error=Call%20%2B1-555-0100%20to%20unlock%20your%20account")
    expect(page.get_by_role("heading", name="Welcome back")).to_be_visible()
    expect(page.get_by_text("555-0100")).to_have_count(0)
    expect(page.get_by_role("alert")).to_have_count(0)
    page.goto("/login?error=ticket_expired")
    expect(page.get_by_role("alert")).to_have_text(
        "This sign-in link has expired. Please sign in again."
    )


def test_password_reset_through_the_outbox(page: Page) -> None:
    email = new_email()
    register(page, email)
    log_out(page)
    page.click("text=Forgot your password?")
    # The sign-in page has an #email field too: fill only once the new page is showing.
    expect(page.get_by_role("heading", name="Reset your password")).to_be_visible()
    page.fill("#email", email)
    page.click("button[type=submit]")
    expect(page.get_by_role("status")).to_contain_text("If an account exists")
    shoot(page, "forgot-password-sent")
    page.get_by_role("button", name="Send another link").click()
    expect(page.locator("#email")).to_be_visible()
    link = link_in_mail(email, "/reset-password")
    page.goto(link)
    page.fill("#password", "a brand new pass 7")
    page.fill("#confirm", "a brand new pass 7")
    shoot(page, "reset-password")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/login/?\?reset=1"))
    expect(page.get_by_role("status")).to_contain_text("Your password was changed")
    sign_in(page, email, PASSWORD)
    expect(page.get_by_role("alert")).to_have_text("Email or password is incorrect.")
    sign_in(page, email, "a brand new pass 7")
    page.wait_for_url(re.compile(r"/dashboard"))
    page.goto(link)
    page.fill("#password", "yet another pass 8")
    page.fill("#confirm", "yet another pass 8")
    page.click("button[type=submit]")
    expect(page.get_by_role("alert")).to_contain_text("invalid or has expired")


def test_account_page_name_password_and_logout_everywhere(
    page: Page, browser: Browser, app_server: RunningApp
) -> None:
    email = new_email()
    register(page, email)
    other = browser.new_context(base_url=app_server.base_url).new_page()
    other.goto("/login")
    sign_in(other, email)
    other.wait_for_url(re.compile(r"/dashboard"))

    page.goto("/account")
    page.fill("#name", "Grace Hopper")
    page.get_by_role("button", name="Save name").click()
    expect(page.get_by_text("Name saved.")).to_be_visible()
    page.fill("#current_password", "not my password 1")
    page.fill("#new_password", "fresh password 42")
    page.fill("#confirm", "fresh password 42")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("alert")).to_contain_text("current password is not correct")
    page.fill("#current_password", PASSWORD)
    page.fill("#new_password", "fresh password 42")
    page.fill("#confirm", "fresh password 42")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("Password changed.")).to_be_visible()
    shoot(page, "account")

    other.goto("/dashboard")
    other.wait_for_url(re.compile(r"/login/?\?next="))  # changing the password signed it out

    page.goto("/dashboard")
    expect(page.locator("#profile-name")).to_have_text("Grace Hopper")
    page.goto("/account")
    page.get_by_role("button", name="Log out everywhere").click()
    page.wait_for_url(re.compile(r"/login"))
    page.goto("/dashboard")
    page.wait_for_url(re.compile(r"/login/?\?next="))
    other.context.close()
