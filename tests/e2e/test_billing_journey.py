"""Billing journeys: buy a pack through the Stripe stand-in, subscribe, the success page.

The e2e server runs with billing on (tests/e2e/conftest.py points it at the stand-in, which
delivers signed webhooks to the app). The "billing off" page cannot be shown by that server, so
it is checked on the page's state object against PostgreSQL at the end of this file, along
with the blocked and low-balance flags and the signed-out success page.
"""

import asyncio
import re
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest
import reflex as rx
from playwright.sync_api import Browser, Page, expect
from reflex.istate.data import RouterData
from sqlalchemy import select
from sqlmodel import Session, col

from photoai.db import make_engine
from photoai.models import User
from photoai.services import accounts, credits
from photoai.settings import get_settings
from photoai.state.billing import BillingState, BillingSuccessState
from photoai.state.dashboard import DashboardState
from tests.e2e.conftest import RunningApp, shoot
from tests.e2e.test_accounts_journey import PASSWORD, new_email, register
from tests.fakes.stripe_api import FakeStripe, Obj

T = TypeVar("T")
SUCCESS_URL = re.compile(r"/billing/success/?\?session_id=(cs_test_\w+)")


def _open_billing(page: Page, balance: str) -> None:
    page.goto("/billing")
    expect(page.get_by_role("heading", name="Billing", exact=True)).to_be_visible()
    expect(page.locator("#billing-balance")).to_have_text(balance)


def _checkout_sessions(fake: FakeStripe) -> int:
    return len(fake.calls("POST", "/v1/checkout/sessions"))


def _buy_starter_pack(page: Page, fake: FakeStripe, *, screenshots: bool = False) -> str:
    """Billing -> Buy (double-clicked) -> stand-in checkout -> Pay -> back on the success page."""
    opened = _checkout_sessions(fake)
    page.locator("#buy-starter").dblclick()
    page.wait_for_url(f"{fake.url}/checkout/*")
    assert _checkout_sessions(fake) == opened + 1, "a double click opened two checkouts"
    expect(page.locator("#amount")).to_have_text("5.00 USD")
    if screenshots:
        shoot(page, "billing-checkout")
    page.click("#pay")
    page.wait_for_url(SUCCESS_URL)
    found = SUCCESS_URL.search(page.url)
    assert found
    return found.group(1)


def _delivered(fake: FakeStripe, kind: str, object_id: str) -> bool:
    return any(
        fake.delivered.get(e["id"])
        for e in fake.events
        if e["type"] == kind and e["data"]["object"]["id"] == object_id
    )


def test_buy_a_credit_pack(page: Page, stripe_fake: FakeStripe) -> None:
    register(page, new_email())
    _open_billing(page, "20")
    expect(page.locator("#current-plan")).to_have_text("No plan")
    expect(page.locator("#ledger tr[data-kind=starter]")).to_contain_text("Welcome")
    expect(page.get_by_text("$0.10 per credit")).to_be_visible()
    expect(page.locator("#usage-chart svg.recharts-surface").first).to_be_visible()
    shoot(page, "billing")
    # Nothing bought yet, so the portal has nothing to show: a clear refusal, no navigation.
    page.locator("#manage-billing").click()
    expect(page.get_by_role("alert")).to_have_text("There is no billing history to manage yet.")
    shoot(page, "billing-error")

    session_id = _buy_starter_pack(page, stripe_fake, screenshots=True)
    # The stand-in delivered the signed checkout.session.completed webhook before redirecting.
    assert _delivered(stripe_fake, "checkout.session.completed", session_id)
    expect(page.locator("#checkout-title")).to_have_text("Thank you, your payment went through")
    expect(page.locator("#credits-added")).to_have_text("+50 credits")
    expect(page.locator("#success-balance")).to_have_text("70")
    expect(page.locator("#nav-balance")).to_have_text("70")
    shoot(page, "billing-success")

    page.locator("#back-to-billing").click()
    page.wait_for_url(re.compile(r"/billing/?$"))
    expect(page.locator("#billing-balance")).to_have_text("70")
    purchase = page.locator("#ledger tr[data-kind=purchase]")
    expect(purchase).to_have_count(1)
    expect(purchase).to_contain_text("Purchase")
    expect(purchase).to_contain_text("+50")
    # Written for the person paying: what was bought, never the ledger's reference.
    expect(purchase).to_contain_text("Credit pack: 50 credits")
    expect(page.locator("#ledger")).not_to_contain_text("stripe:")
    expect(page.locator("#ledger")).not_to_contain_text(session_id)
    shoot(page, "billing-after-purchase")

    # Coming back to the success page (reload, history) grants nothing twice.
    page.goto(f"/billing/success?session_id={session_id}")
    expect(page.locator("#checkout-title")).to_have_text("Thank you, your payment went through")
    expect(page.locator("#success-balance")).to_have_text("70")
    page.reload()
    expect(page.locator("#success-balance")).to_have_text("70")
    _open_billing(page, "70")
    expect(page.locator("#ledger tr[data-kind=purchase]")).to_have_count(1)

    # The same pack again within the minute is a new purchase: a new checkout, more credits.
    again = _buy_starter_pack(page, stripe_fake)
    assert again != session_id
    expect(page.locator("#success-balance")).to_have_text("120")


def test_another_users_checkout_is_refused(
    page: Page, browser: Browser, app_server: RunningApp, stripe_fake: FakeStripe
) -> None:
    register(page, new_email())
    _open_billing(page, "20")
    session_id = _buy_starter_pack(page, stripe_fake)
    expect(page.locator("#success-balance")).to_have_text("70")

    context = browser.new_context(
        base_url=app_server.base_url, viewport={"width": 1280, "height": 900}
    )
    intruder = context.new_page()
    register(intruder, new_email(), name="Mallory")
    intruder.goto(f"/billing/success?session_id={session_id}")
    expect(intruder.locator("#checkout-title")).to_have_text("We could not confirm this payment")
    expect(intruder.get_by_role("alert")).to_have_text("This checkout belongs to another account.")
    expect(intruder.locator("#success-balance")).to_have_text("20")
    shoot(intruder, "billing-success-refused")
    intruder.goto("/billing/success?session_id=not-a-session")
    expect(intruder.get_by_role("alert")).to_have_text("That is not a checkout link of ours.")
    _open_billing(intruder, "20")
    expect(intruder.locator("#ledger tr[data-kind=purchase]")).to_have_count(0)
    context.close()

    _open_billing(page, "70")
    expect(page.locator("#ledger tr[data-kind=purchase]")).to_have_count(1)


def test_unfinished_checkout_grants_nothing(page: Page, stripe_fake: FakeStripe) -> None:
    register(page, new_email())
    _open_billing(page, "20")
    page.locator("#buy-studio").click()
    page.wait_for_url(f"{stripe_fake.url}/checkout/*")
    session_id = page.url.rsplit("/", 1)[1]
    expect(page.locator("#amount")).to_have_text("12.00 USD")
    page.get_by_role("link", name="Cancel").click()
    page.wait_for_url(re.compile(r"/billing/?$"))
    expect(page.locator("#billing-balance")).to_have_text("20")
    page.goto(f"/billing/success?session_id={session_id}")
    expect(page.locator("#checkout-title")).to_have_text("Checkout not finished")
    expect(page.locator("#checkout-message")).to_have_text("This checkout has not been paid yet.")
    expect(page.locator("#success-balance")).to_have_text("20")
    shoot(page, "billing-success-unpaid")
    _open_billing(page, "20")
    expect(page.locator("#ledger tr[data-kind=purchase]")).to_have_count(0)


def _buy_behind_the_scenes(fake: FakeStripe, paid: Obj) -> None:
    """Another starter pack for the same customer, paid on Stripe's side; the app hears of it
    only through the signed webhook."""
    with fake._lock:
        session = fake.create_checkout_session(
            {
                "mode": "payment",
                "customer": paid["customer"],
                "client_reference_id": paid["client_reference_id"],
                "metadata": dict(paid["metadata"]),
                "payment_intent_data": {"metadata": dict(paid["metadata"])},
                "line_items": [
                    {
                        "price_data": {
                            "currency": "usd",
                            "unit_amount": "500",
                            "product_data": {"name": "Starter: 50 credits"},
                        },
                        "quantity": "1",
                    }
                ],
            }
        )
    fake.complete_checkout(session["id"])
    assert _delivered(fake, "checkout.session.completed", session["id"])


def test_plan_portal_and_paged_history(page: Page, stripe_fake: FakeStripe) -> None:
    register(page, new_email())
    _open_billing(page, "20")
    session_id = _buy_starter_pack(page, stripe_fake)
    expect(page.locator("#success-balance")).to_have_text("70")

    # Subscribe to Creator (120 plan credits a month, unused ones expire): 70 + 120.
    _open_billing(page, "70")
    page.locator("#subscribe-creator").click()
    page.wait_for_url(f"{stripe_fake.url}/checkout/*")
    expect(page.locator("#amount")).to_have_text("12.00 USD")
    page.click("#pay")
    page.wait_for_url(SUCCESS_URL)
    expect(page.locator("#credits-added")).to_have_text("+120 credits")
    expect(page.locator("#success-balance")).to_have_text("190")
    _open_billing(page, "190")
    expect(page.locator("#current-plan")).to_have_text("Creator")
    expect(page.get_by_text("Active", exact=True)).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Renews on \d{2} \w{3} \d{4}$"))).to_be_visible()
    expect(page.locator("#plan-pool")).to_have_text(
        "120 plan credits left; they expire at renewal."
    )
    expect(page.locator("#ledger tr[data-kind=plan]")).to_have_count(1)
    expect(page.locator("#subscribe-pro")).to_have_count(0)  # plan changes go to the portal
    shoot(page, "billing-with-plan")

    page.locator("#manage-billing").click()
    page.wait_for_url(f"{stripe_fake.url}/portal/*")
    expect(page.get_by_role("heading", name="Fake billing portal")).to_be_visible()
    page.get_by_role("link", name="Return").click()
    page.wait_for_url(re.compile(r"/billing/?$"))

    # 20 more purchases arrive by webhook only: 23 movements, shown 20 at a time.
    paid = stripe_fake.objects[session_id]
    for _ in range(20):
        _buy_behind_the_scenes(stripe_fake, paid)
    _open_billing(page, str(190 + 20 * 50))
    expect(page.locator("#ledger tbody tr")).to_have_count(20)
    page.get_by_role("button", name="Load more").click()
    expect(page.locator("#ledger tbody tr")).to_have_count(23)
    expect(page.get_by_role("button", name="Load more")).to_have_count(0)
    expect(page.locator("#ledger tr[data-kind=purchase]")).to_have_count(21)
    expect(page.locator("#ledger tbody tr").last).to_contain_text("Welcome")


@contextmanager
def _app_db(app_server: RunningApp) -> Iterator[Session]:
    """The app server's own database, to spend credits the way jobs will."""
    engine = make_engine(app_server.env["PHOTOAI_DATABASE_URL"])
    try:
        with Session(engine) as session:
            yield session
            session.commit()
    finally:
        engine.dispose()


def test_usage_low_balance_and_blocked_spending(page: Page, app_server: RunningApp) -> None:
    email = new_email()
    register(page, email)
    with _app_db(app_server) as s:
        user_id = s.execute(select(col(User.id)).where(col(User.email) == email)).scalar_one()
        job = f"e2e:{user_id}:generate"
        credits.hold(user_id, 16, reference=job, description="16 images", session=s)
        for i in range(12):
            credits.capture(job, 1, reference=f"{job}:{i}", description=f"Image {i + 1}", session=s)
        credits.release(job, description="4 images failed", session=s)

    _open_billing(page, "8")
    expect(page.locator("#low-credits")).to_contain_text("You are running low on credits: 8 left")
    expect(page.locator("#spending-blocked")).to_have_count(0)
    expect(page.get_by_text("Nothing spent in the last 30 days")).to_have_count(0)
    expect(page.locator("#usage-chart .recharts-bar-rectangle").first).to_be_visible()
    expect(page.locator("#ledger tr[data-kind=capture]")).to_have_count(12)
    expect(page.locator("#ledger tr[data-kind=hold]")).to_contain_text("-16")
    expect(page.locator("#ledger tr[data-kind=release]")).to_contain_text("+4")
    shoot(page, "billing-low-credits")

    with _app_db(app_server) as s:
        credits.take_back(user_id, 50, reference=f"e2e:{user_id}:dispute", session=s)
    _open_billing(page, "0")
    expect(page.locator("#spending-blocked")).to_contain_text("Spending is paused")
    expect(page.locator("#low-credits")).to_have_count(0)
    expect(page.locator("#ledger tr[data-kind=refund]")).to_contain_text("-8")
    shoot(page, "billing-spending-blocked")


# --- the page's state without a browser ----------------------------------------------------


@pytest.fixture
def signed_in(pg: str) -> Iterator[tuple[int, str]]:
    user_id = accounts.register(f"state-{uuid.uuid4().hex[:8]}@example.com", PASSWORD, "Ada")
    ticket = accounts.create_login_ticket(user_id, "/billing")
    token = accounts.redeem_login_ticket(ticket, "pytest", "127.0.0.1").token
    yield user_id, token


def _state(token: str, path: str) -> BillingState:
    root = rx.State(_reflex_internal_init=True)
    root.router = RouterData.from_router_data(
        {
            "headers": {"cookie": f"{get_settings().session_cookie_name}={token}"},
            "pathname": path,
            "asPath": path,
        }
    )
    state = root.get_substate(BillingState.get_full_name().split("."))
    assert isinstance(state, BillingState)
    return state


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run in a thread of its own: Playwright's sync API keeps a loop running here."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _drain(events: object) -> None:
    async for _ in events:  # type: ignore[attr-defined]
        pass


def test_billing_off_shows_no_shop_and_refuses_checkout(
    signed_in: tuple[int, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHOTOAI_STRIPE_SECRET_KEY", "")
    get_settings.cache_clear()
    _user_id, token = signed_in
    state = _state(token, "/billing")
    assert _run(state.on_load()) is None
    assert state.loaded and not state.billing_on
    assert state.balance == 20 and state.starter_credits == 20
    assert not state.has_plan and not state.spending_blocked
    assert [e["label"] for e in state.entries] == ["Welcome"]
    assert len(state.usage) == 30
    # Even a forged click on Buy gets a clear refusal and no redirect.
    _run(_drain(state.buy_pack("starter")))
    assert state.error == "Billing is not set up on this server."
    assert state.busy == ""


def test_dashboard_offers_credits_only_when_they_can_be_bought(
    signed_in: tuple[int, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _user_id, token = signed_in
    for key, on in (("", False), ("sk_test_anything", True)):
        monkeypatch.setenv("PHOTOAI_STRIPE_SECRET_KEY", key)
        get_settings.cache_clear()
        root = rx.State(_reflex_internal_init=True)
        root.router = RouterData.from_router_data(
            {
                "headers": {"cookie": f"{get_settings().session_cookie_name}={token}"},
                "pathname": "/dashboard",
                "asPath": "/dashboard",
            }
        )
        state = root.get_substate(DashboardState.get_full_name().split("."))
        assert isinstance(state, DashboardState)
        assert _run(state.on_load()) is None
        assert state.billing_on is on
        assert [e["description"] for e in state.recent] == ["Welcome credits"]


def test_blocked_and_low_balance_are_flagged(
    signed_in: tuple[int, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHOTOAI_STRIPE_SECRET_KEY", "")
    get_settings.cache_clear()
    user_id, token = signed_in
    credits.take_back(user_id, 25, reference="test:dispute", description="Disputed payment")
    state = _state(token, "/billing")
    _run(state.on_load())
    assert state.spending_blocked
    assert state.balance == 0 < state.low_threshold
    assert state.entries[0]["label"] == "Refund"
    assert state.entries[0]["change"] == "-20"


def test_success_page_without_a_signed_in_user_goes_to_login(pg: str) -> None:
    root = rx.State(_reflex_internal_init=True)
    root.router = RouterData.from_router_data(
        {"pathname": "/billing/success", "asPath": "/billing/success?session_id=cs_test_x"}
    )
    state = root.get_substate(BillingSuccessState.get_full_name().split("."))
    assert isinstance(state, BillingSuccessState)

    async def first_event() -> object:
        async for event in state.on_load():
            return event
        return None

    event = _run(first_event())
    assert event is not None and "/login" in str(event)
    assert state.status == ""
