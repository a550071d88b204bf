"""Billing against a fake Stripe served over real HTTP and reached by the real stripe SDK.

Events are fed to `sync.handle_event` directly here (the webhook's HTTP side is tested in
tests/api). Balances are checked against the ledger after every scenario.
"""

import argparse
import json
import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update
from sqlmodel import col

from photoai import cli_billing
from photoai.db import session_scope
from photoai.models import (
    CreditEntry,
    Job,
    LedgerKind,
    ProcessedEvent,
    Subscription,
    User,
)
from photoai.services import credits, low_credits
from photoai.services.billing import checkout, overview, stripe_api, sync
from photoai.services.billing.catalog import Plan
from photoai.settings import get_settings
from tests.factories import make_user, purchase_attempt
from tests.fakes.stripe_api import FakeStripe, Obj, use_fake_stripe

PLANS = [
    {
        "id": "creator",
        "name": "Creator",
        "monthly_credits": 120,
        "price_cents": 1200,
        "stripe_price_id": "price_creator_monthly",
        "rollover": "reset",
    },
    {
        "id": "pro",
        "name": "Pro",
        "monthly_credits": 400,
        "price_cents": 3500,
        "stripe_price_id": "price_pro_monthly",
        "rollover": "rollover",
        "rollover_cap": 400,
    },
]


def _serve(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeStripe]:
    with FakeStripe() as fake:
        fake.add_price("price_creator_monthly", 1200, monthly=True)
        fake.add_price("price_pro_monthly", 3500, monthly=True)
        use_fake_stripe(monkeypatch, fake, PHOTOAI_PLANS=json.dumps(PLANS))
        yield fake


@pytest.fixture
def fake(pg: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeStripe]:
    """Fake Stripe with photoai on PostgreSQL."""
    yield from _serve(monkeypatch)


@pytest.fixture
def fake_any_db(any_db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeStripe]:
    """Fake Stripe with photoai on PostgreSQL and on SQLite."""
    yield from _serve(monkeypatch)


# --- helpers ---------------------------------------------------------------------------------


def session_id_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def buy(fake: FakeStripe, user_id: int, pack: str = "starter") -> tuple[str, list[Obj]]:
    """Open a pack checkout through billing and pay it on the fake; events are not delivered."""
    sid = session_id_of(checkout.create_pack_checkout(user_id, pack, attempt=purchase_attempt()))
    return sid, fake.complete_checkout(sid, deliver=False)


def subscribe(fake: FakeStripe, user_id: int, plan: str = "creator") -> tuple[str, list[Obj]]:
    sid = session_id_of(checkout.create_plan_checkout(user_id, plan, attempt=purchase_attempt()))
    return sid, fake.complete_checkout(sid, deliver=False)


def by_type(events: list[Obj], kind: str) -> Obj:
    return next(e for e in events if e["type"] == kind)


def charge_of_session(fake: FakeStripe, sid: str) -> str:
    return fake.charge_for(fake.objects[sid]["payment_intent"])


def charge_of_invoice(fake: FakeStripe, invoice_id: str) -> str:
    payment = next(
        o
        for o in fake.objects.values()
        if o["object"] == "invoice_payment" and o["invoice"] == invoice_id
    )
    return fake.charge_for(payment["payment"]["payment_intent"])


def spend(user_id: int, amount: int, ref: str) -> None:
    credits.hold(user_id, amount, reference=ref)
    credits.capture(ref, amount, reference=f"{ref}:done")


def user_row(user_id: int) -> User:
    with session_scope() as s:
        user = s.get(User, user_id)
        assert user is not None
        return user


def entries(user_id: int, kind: LedgerKind) -> list[CreditEntry]:
    with session_scope() as s:
        return list(
            s.execute(
                select(CreditEntry)
                .where(CreditEntry.user_id == user_id, CreditEntry.kind == kind.value)
                .order_by(CreditEntry.id)
            ).scalars()
        )


def subscription_row(user_id: int) -> Subscription:
    with session_scope() as s:
        row = s.execute(select(Subscription).where(Subscription.user_id == user_id)).scalar_one()
        return row


def assert_consistent(user_id: int) -> int:
    balance = credits.balance(user_id)
    assert balance == credits.ledger_sum(user_id)
    assert balance >= 0
    return balance


def outbox_count() -> int:
    outbox = get_settings().outbox_dir
    return len(list(outbox.glob("*.eml"))) if outbox.exists() else 0


# --- checkout creation -----------------------------------------------------------------------


def test_pack_checkout_sends_stripe_what_refunds_and_grants_need(fake: FakeStripe) -> None:
    uid = make_user()
    attempt = purchase_attempt()
    url = checkout.create_pack_checkout(uid, "studio", attempt=attempt)
    again = checkout.create_pack_checkout(uid, "studio", attempt=attempt)

    assert url == again, "a repeated request of one attempt reuses the session"
    assert url.startswith(f"{fake.url}/checkout/cs_test_")
    posts = fake.calls("POST", "/v1/checkout/sessions")
    assert len(posts) == 2 and posts[0].idempotency_key == posts[1].idempotency_key
    params = posts[0].params
    assert params["mode"] == "payment"
    assert params["client_reference_id"] == str(uid)
    assert params["metadata"] == {"user_id": str(uid), "pack": "studio", "credits": "150"}
    assert params["payment_intent_data"] == {"metadata": params["metadata"]}
    assert params["line_items"][0]["price_data"]["unit_amount"] == "1200"
    assert params["success_url"] == (
        "http://photoai.test/billing/success?session_id={CHECKOUT_SESSION_ID}"
    )
    assert params["cancel_url"] == "http://photoai.test/billing"
    customer = user_row(uid).stripe_customer_id
    assert customer and params["customer"] == customer
    assert len(fake.calls("POST", "/v1/customers")) == 1, "the customer is created once"
    assert credits.balance(uid) == 0, "opening a checkout grants nothing"


def test_each_purchase_attempt_gets_its_own_checkout_session(fake: FakeStripe) -> None:
    """Buying the same pack twice within a minute must not replay the first, already paid,
    Checkout Session (Stripe replays any request whose idempotency key it has seen)."""
    uid = make_user()
    first = checkout.create_pack_checkout(uid, "studio", attempt="click-1")
    assert checkout.create_pack_checkout(uid, "studio", attempt="click-1") == first
    fake.complete_checkout(session_id_of(first), deliver=False)
    second = checkout.create_pack_checkout(uid, "studio", attempt="click-2")
    assert second != first
    assert fake.objects[session_id_of(second)]["status"] == "open"
    keys = {call.idempotency_key for call in fake.calls("POST", "/v1/checkout/sessions")}
    assert len(keys) == 2
    with pytest.raises(ValueError, match="attempt"):
        checkout.create_pack_checkout(uid, "studio", attempt="")


def test_plan_checkout_uses_the_configured_price_and_refuses_a_second_plan(
    fake: FakeStripe,
) -> None:
    uid = make_user()
    _, events = subscribe(fake, uid, "pro")
    params = fake.calls("POST", "/v1/checkout/sessions")[0].params
    assert params["mode"] == "subscription"
    assert params["line_items"] == [{"price": "price_pro_monthly", "quantity": "1"}]
    assert params["subscription_data"] == {"metadata": {"user_id": str(uid), "plan": "pro"}}

    for event in events:
        sync.handle_event(event)
    assert overview.current_subscription(uid) is not None
    with pytest.raises(stripe_api.BillingError, match="already have a plan"):
        checkout.create_plan_checkout(uid, "creator", attempt=purchase_attempt())
    with pytest.raises(stripe_api.BillingError, match="not on sale"):
        checkout.create_pack_checkout(uid, "nope", attempt=purchase_attempt())


def test_portal_needs_a_customer_then_returns_stripes_url(fake: FakeStripe) -> None:
    uid = make_user()
    with pytest.raises(stripe_api.BillingError, match="no billing history"):
        checkout.create_portal_url(uid)
    checkout.create_pack_checkout(uid, "starter", attempt=purchase_attempt())
    url = checkout.create_portal_url(uid)
    assert url.startswith(f"{fake.url}/portal/bps_")
    call = fake.calls("POST", "/v1/billing_portal/sessions")[0]
    assert call.params["return_url"] == "http://photoai.test/billing"


def test_server_error_is_retried_with_the_same_idempotency_key(fake: FakeStripe) -> None:
    uid = make_user()
    # The customer exists afterwards, so the next call is the session alone.
    checkout.create_pack_checkout(uid, "agency", attempt=purchase_attempt())
    fake.requests.clear()
    fake.fail_next(500, path_prefix="/v1/checkout/sessions")
    url = checkout.create_pack_checkout(uid, "starter", attempt=purchase_attempt())
    posts = fake.calls("POST", "/v1/checkout/sessions")
    assert [p.status for p in posts] == [500, 200]
    assert posts[0].idempotency_key == posts[1].idempotency_key
    sessions = [o for o in fake.objects.values() if o["object"] == "checkout.session"]
    assert len(sessions) == 2 and url == sessions[-1]["url"]


def test_rate_limit_and_bad_key_become_clear_errors(
    fake: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    uid = make_user()
    fake.fail_next(429)  # Stripe's SDK does not retry a plain 429
    with pytest.raises(stripe_api.BillingError, match="busy"):
        checkout.create_pack_checkout(uid, "starter", attempt=purchase_attempt())
    assert user_row(uid).stripe_customer_id is None
    assert [r.status for r in fake.requests] == [429]
    fake.fail_next(429, should_retry=True)  # unless Stripe says a retry is safe
    assert checkout.create_pack_checkout(uid, "starter", attempt=purchase_attempt())
    assert [r.status for r in fake.calls("POST", "/v1/customers")] == [429, 429, 200]
    monkeypatch.setenv("PHOTOAI_STRIPE_SECRET_KEY", "sk_test_wrong")
    get_settings.cache_clear()
    with pytest.raises(stripe_api.BillingError, match="misconfigured"):
        checkout.create_pack_checkout(uid, "starter", attempt=purchase_attempt())
    sessions = [o for o in fake.objects.values() if o["object"] == "checkout.session"]
    assert len(sessions) == 1, "only the retried call made a session"


def test_billing_is_off_without_a_secret_key(pg: str) -> None:
    uid = make_user()
    assert not stripe_api.billing_enabled()
    with pytest.raises(stripe_api.BillingDisabled):
        checkout.create_pack_checkout(uid, "starter", attempt=purchase_attempt())


# --- success page and webhook ----------------------------------------------------------------


def test_success_page_then_webhook_grants_once(fake_any_db: FakeStripe) -> None:
    fake = fake_any_db
    uid = make_user(5)
    sid, events = buy(fake, uid, "starter")

    shown = checkout.confirm_checkout(uid, sid)
    assert (shown.status, shown.credits_added, shown.balance) == ("paid", 50, 55)
    assert checkout.confirm_checkout(uid, sid).balance == 55, "reloading the page adds nothing"
    result = sync.handle_event(by_type(events, "checkout.session.completed"))
    assert result.status == "applied" and result.notes == ()
    assert credits.balance(uid) == 55
    assert [e.reference for e in entries(uid, LedgerKind.PURCHASE)] == [f"stripe:checkout:{sid}"]
    assert user_row(uid).stripe_customer_id == fake.objects[sid]["customer"]
    assert_consistent(uid)


def test_confirm_refuses_another_users_checkout(fake: FakeStripe) -> None:
    owner, intruder = make_user(), make_user(7)
    sid, _ = buy(fake, owner, "starter")
    with pytest.raises(stripe_api.BillingError, match="another account"):
        checkout.confirm_checkout(intruder, sid)
    assert credits.balance(intruder) == 7 and credits.balance(owner) == 0
    assert entries(owner, LedgerKind.PURCHASE) == []
    with pytest.raises(stripe_api.BillingError, match="not a checkout link"):
        checkout.confirm_checkout(owner, "../v1/customers")
    assert checkout.confirm_checkout(owner, sid).credits_added == 50


def test_tampered_session_with_two_owners_credits_nobody(fake: FakeStripe) -> None:
    uid, other = make_user(), make_user()
    _, events = buy(fake, uid, "starter")
    completed = by_type(events, "checkout.session.completed")
    completed["data"]["object"]["metadata"]["user_id"] = str(other)
    assert sync.handle_event(completed).status == "applied"
    assert credits.balance(uid) == 0 and credits.balance(other) == 0


def test_async_payment_grants_only_when_it_clears(fake: FakeStripe) -> None:
    uid = make_user()
    sid = session_id_of(checkout.create_pack_checkout(uid, "starter", attempt=purchase_attempt()))
    assert checkout.confirm_checkout(uid, sid).status == "open", "came back without paying"
    events = fake.complete_checkout(sid, deliver=False, async_payment=True)
    sync.handle_event(by_type(events, "checkout.session.completed"))
    shown = checkout.confirm_checkout(uid, sid)
    assert (shown.status, shown.credits_added, credits.balance(uid)) == ("pending", 0, 0)

    cleared = fake.settle_async_payment(sid, deliver=False)
    assert sync.handle_event(cleared).status == "applied"
    assert credits.balance(uid) == 50
    assert checkout.confirm_checkout(uid, sid).credits_added == 50
    assert credits.balance(uid) == 50


def test_failed_async_payment_grants_nothing(fake: FakeStripe) -> None:
    uid = make_user()
    sid = session_id_of(checkout.create_pack_checkout(uid, "starter", attempt=purchase_attempt()))
    fake.complete_checkout(sid, deliver=False, async_payment=True)
    failed = fake.settle_async_payment(sid, succeeded=False, deliver=False)
    assert sync.handle_event(failed).status == "applied"
    assert credits.balance(uid) == 0


def test_same_event_ten_times_grants_once(fake: FakeStripe) -> None:
    uid = make_user()
    _, events = buy(fake, uid, "agency")
    completed = by_type(events, "checkout.session.completed")
    statuses = [sync.handle_event(completed).status for _ in range(10)]
    assert statuses == ["applied"] + ["duplicate"] * 9
    assert credits.balance(uid) == 400
    with session_scope() as s:
        recorded = s.execute(select(func.count()).select_from(ProcessedEvent)).scalar_one()
    assert recorded == 1
    assert_consistent(uid)


def test_unknown_events_are_acknowledged_and_not_recorded(fake: FakeStripe) -> None:
    event = fake.emit("customer.created", {"id": "cus_x", "object": "customer"}, deliver=False)
    assert sync.handle_event(event).status == "ignored"
    with session_scope() as s:
        assert s.execute(select(func.count()).select_from(ProcessedEvent)).scalar_one() == 0


# --- subscriptions, in any order -------------------------------------------------------------


def test_subscription_events_in_reverse_order_end_like_in_order(fake_any_db: FakeStripe) -> None:
    fake = fake_any_db
    in_order, reversed_ = make_user(), make_user()
    outcomes = []
    for uid, flip in ((in_order, False), (reversed_, True)):
        _, events = subscribe(fake, uid, "creator")
        sub_id = by_type(events, "customer.subscription.created")["data"]["object"]["id"]
        events.append(fake.cancel_subscription(sub_id, deliver=False))
        for event in reversed(events) if flip else events:
            sync.handle_event(event)
        row = subscription_row(uid)
        outcomes.append((row.status, row.plan, credits.balance(uid)))
        assert_consistent(uid)
    assert outcomes[0] == outcomes[1] == ("canceled", "creator", 120)
    assert overview.current_subscription(reversed_) is None


def test_invoice_paid_before_subscription_created(fake: FakeStripe) -> None:
    uid = make_user()
    _, events = subscribe(fake, uid, "pro")
    sync.handle_event(by_type(events, "invoice.paid"))
    assert subscription_row(uid).status == "active", "the invoice re-fetched its subscription"
    assert credits.balance(uid) == 400
    sync.handle_event(by_type(events, "customer.subscription.created"))
    sync.handle_event(by_type(events, "checkout.session.completed"))
    view = overview.current_subscription(uid)
    assert view is not None and (view.plan_id, view.status) == ("pro", "active")
    assert view.current_period_end is not None and view.current_period_end > datetime.now(UTC)
    assert credits.balance(uid) == 400
    assert len(entries(uid, LedgerKind.PLAN)) == 1


def test_subscription_success_page_grants_the_first_invoice_once(fake: FakeStripe) -> None:
    uid = make_user()
    sid, events = subscribe(fake, uid, "creator")
    shown = checkout.confirm_checkout(uid, sid)
    assert (shown.status, shown.mode, shown.credits_added) == ("paid", "subscription", 120)
    for event in events:
        sync.handle_event(event)
    assert credits.balance(uid) == 120
    assert subscription_row(uid).plan == "creator"


def test_renewals_follow_the_rollover_rules(fake: FakeStripe) -> None:
    creator, pro = make_user(), make_user()
    _, creator_events = subscribe(fake, creator, "creator")
    _, pro_events = subscribe(fake, pro, "pro")
    for event in creator_events + pro_events:
        sync.handle_event(event)
    assert (credits.balance(creator), credits.balance(pro)) == (120, 400)

    spend(creator, 20, "job:c1")
    creator_sub = subscription_row(creator).stripe_subscription_id
    sync.handle_event(fake.renew_subscription(creator_sub, deliver=False))
    assert credits.balance(creator) == 120, "reset: topped back up to the monthly allowance"

    pro_sub = subscription_row(pro).stripe_subscription_id
    renewal = fake.renew_subscription(pro_sub, deliver=False)
    sync.handle_event(renewal)
    assert credits.balance(pro) == 800, "rollover: 400 carried, 400 added"
    sync.handle_event(fake.renew_subscription(pro_sub, deliver=False))
    assert credits.balance(pro) == 800, "at the cap a period adds nothing"
    sync.handle_event(renewal)
    assert credits.balance(pro) == 800
    for uid in (creator, pro):
        assert_consistent(uid)


def test_failed_renewal_marks_the_plan_past_due(fake: FakeStripe) -> None:
    uid = make_user()
    _, events = subscribe(fake, uid, "creator")
    for event in events:
        sync.handle_event(event)
    for event in fake.fail_renewal(subscription_row(uid).stripe_subscription_id, deliver=False):
        sync.handle_event(event)
    assert subscription_row(uid).status == "past_due"
    assert credits.balance(uid) == 120


def test_cancel_at_period_end_keeps_the_plan_until_then(fake: FakeStripe) -> None:
    uid = make_user()
    _, events = subscribe(fake, uid, "pro")
    for event in events:
        sync.handle_event(event)
    sub_id = subscription_row(uid).stripe_subscription_id
    sync.handle_event(fake.cancel_subscription(sub_id, at_period_end=True, deliver=False))
    view = overview.current_subscription(uid)
    assert view is not None and (view.status, view.cancel_at_period_end) == ("active", True)
    assert credits.balance(uid) == 400


def test_plan_credits_kept_at_renewal() -> None:
    reset = Plan(id="r", name="R", monthly_credits=100, price_cents=1, rollover="reset")
    keep = Plan(id="k", name="K", monthly_credits=100, price_cents=1, rollover_cap=50)
    assert (reset.kept_credits, keep.kept_credits) == (0, 50)


def test_pack_credits_survive_a_reset_renewal(fake: FakeStripe) -> None:
    """Before plan credits were kept apart, a renewal with a big pack balance added nothing."""
    uid = make_user()
    _, bought = buy(fake, uid, "studio")
    _, subscribed = subscribe(fake, uid, "creator")
    for event in bought + subscribed:
        sync.handle_event(event)
    pack = credits.balance(uid) - 120
    assert pack > 120 and credits.plan_credits(uid) == 120
    spend(uid, 20, "job:r1")  # from the plan credits first
    renewal = fake.renew_subscription(subscription_row(uid).stripe_subscription_id, deliver=False)
    sync.handle_event(renewal)
    sync.handle_event(renewal)
    assert credits.balance(uid) == pack + 120, "100 plan credits expired, 120 new ones"
    assert credits.plan_credits(uid) == 120
    [expired] = entries(uid, LedgerKind.EXPIRE)
    assert expired.delta == -100
    assert_consistent(uid)


# --- refunds and disputes --------------------------------------------------------------------


def test_refund_larger_than_the_balance_blocks_spending(fake: FakeStripe) -> None:
    uid = make_user()
    sid, _ = buy(fake, uid, "starter")
    checkout.confirm_checkout(uid, sid)
    spend(uid, 45, "job:1")
    refunded = fake.refund(charge_of_session(fake, sid), deliver=False)

    assert sync.handle_event(refunded).status == "applied"
    assert sync.handle_event(refunded).status == "duplicate"
    user = user_row(uid)
    assert (user.credit_balance, user.spending_blocked) == (0, True)
    [taken] = entries(uid, LedgerKind.REFUND)
    assert (taken.amount, taken.delta) == (5, -5)
    assert_consistent(uid)
    with pytest.raises(credits.SpendingBlocked):
        credits.hold(uid, 1, reference="job:2")
    assert outbox_count() == 1, "the balance hit zero: one low-credit email"


def test_partial_refunds_add_up_to_the_grant_in_any_order(fake: FakeStripe) -> None:
    uid = make_user(10)
    sid, _ = buy(fake, uid, "studio")  # 150 credits for 1200 cents
    checkout.confirm_checkout(uid, sid)
    charge = charge_of_session(fake, sid)
    first = fake.refund(charge, 400, deliver=False)
    second = fake.refund(charge, 800, deliver=False)

    sync.handle_event(second)  # lists both refunds and takes back both shares
    sync.handle_event(first)
    # Shares are cumulative in refund order, so the two add up to exactly the 150 granted.
    assert sorted(e.amount for e in entries(uid, LedgerKind.REFUND)) == [50, 100]
    assert credits.balance(uid) == 10
    assert not user_row(uid).spending_blocked
    assert_consistent(uid)


def test_refund_arriving_before_the_purchase_event(fake: FakeStripe) -> None:
    uid = make_user()
    sid, events = buy(fake, uid, "starter")
    refunded = fake.refund(charge_of_session(fake, sid), deliver=False)
    sync.handle_event(refunded)
    sync.handle_event(by_type(events, "checkout.session.completed"))
    assert credits.balance(uid) == 0
    assert len(entries(uid, LedgerKind.PURCHASE)) == 1
    assert [e.amount for e in entries(uid, LedgerKind.REFUND)] == [50]
    assert not user_row(uid).spending_blocked
    assert_consistent(uid)


def test_dispute_takes_credits_back_once(fake: FakeStripe) -> None:
    uid = make_user()
    sid, events = buy(fake, uid, "studio")
    sync.handle_event(by_type(events, "checkout.session.completed"))
    disputed = fake.dispute(charge_of_session(fake, sid), deliver=False)
    for _ in range(3):
        sync.handle_event(disputed)
    assert credits.balance(uid) == 0
    assert [e.reference for e in entries(uid, LedgerKind.REFUND)] == [
        f"stripe:dispute:{disputed['data']['object']['id']}"
    ]
    assert_consistent(uid)


def test_refund_of_a_plan_invoice_takes_back_its_credits(fake: FakeStripe) -> None:
    uid = make_user()
    _, bought = buy(fake, uid, "starter")
    _, events = subscribe(fake, uid, "creator")
    for event in bought + events:
        sync.handle_event(event)
    invoice_id = by_type(events, "invoice.paid")["data"]["object"]["id"]
    sync.handle_event(fake.refund(charge_of_invoice(fake, invoice_id), 600, deliver=False))
    assert credits.balance(uid) == 50 + 60, "half the money back, half the period's credits"
    assert credits.plan_credits(uid) == 60, "taken from the plan credits, not the pack's"
    assert_consistent(uid)


def test_refund_of_a_charge_that_is_not_ours_changes_nothing(fake: FakeStripe) -> None:
    uid = make_user(30)
    foreign = {
        "id": "ch_foreign",
        "object": "charge",
        "amount": 999,
        "payment_intent": "pi_foreign",
    }
    result = sync.handle_event(fake.emit("charge.refunded", foreign, deliver=False))
    assert result.status == "applied" and result.notes == ()
    assert credits.balance(uid) == 30


# --- reconcile -------------------------------------------------------------------------------


def test_reconcile_applies_a_missed_event_once_and_is_repeatable(fake: FakeStripe) -> None:
    uid = make_user()
    _, events = buy(fake, uid, "starter")
    missed = by_type(events, "checkout.session.completed")

    report = sync.reconcile()
    assert report.failed == []
    assert [line.split(":")[0] for line in report.applied] == [
        f"event {missed['id']} checkout.session.completed"
    ]
    assert credits.balance(uid) == 50
    again = sync.reconcile()
    assert (again.applied, again.failed) == ([], [])
    assert sync.handle_event(missed).status == "duplicate"
    assert credits.balance(uid) == 50
    assert_consistent(uid)


def test_reconcile_finds_paid_checkouts_without_events(fake: FakeStripe) -> None:
    uid = make_user()
    sid, _ = buy(fake, uid, "studio")
    fake.events.clear()  # older than Stripe's event retention
    report = sync.reconcile()
    assert report.applied == [f"checkout {sid}: granted 150 credits to user {uid}"]
    assert sync.reconcile().applied == []
    assert credits.balance(uid) == 150


def test_reconcile_reports_failures_and_keeps_going(
    fake: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHOTOAI_STRIPE_MAX_NETWORK_RETRIES", "0")
    get_settings.cache_clear()
    uid = make_user()
    _, sub_events = subscribe(fake, uid, "creator")
    buy(fake, uid, "starter")
    sub_id = by_type(sub_events, "customer.subscription.created")["data"]["object"]["id"]
    fake.fail_next(500, times=100, path_prefix=f"/v1/subscriptions/{sub_id}")

    report = sync.reconcile()
    assert len(report.failed) == 4, report.failed  # 3 subscription events + its checkout
    assert credits.balance(uid) == 50, "the pack is applied despite the failures"
    fake.clear_failures()
    assert sync.reconcile().failed == []
    assert credits.balance(uid) == 170, "the pack's 50 and the period's 120"
    assert sync.reconcile().applied == []
    assert_consistent(uid)


def test_cli_reconcile_prints_what_it_applied(
    fake: FakeStripe, capsys: pytest.CaptureFixture[str]
) -> None:
    uid = make_user()
    buy(fake, uid, "starter")
    parser = argparse.ArgumentParser(prog="photoai")
    cli_billing.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["billing", "reconcile", "--days", "1"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "applied: event evt_" in out and "granted 50 credits" in out
    assert out.strip().endswith("applied, 0 failed")
    assert credits.balance(uid) == 50


# --- low-credit email and usage --------------------------------------------------------------


def test_low_credit_email_is_sent_once_per_dip(fake: FakeStripe) -> None:
    uid = make_user(15)
    spend(uid, 10, "job:a")
    assert low_credits.maybe_notify_low_credits(uid) is True
    assert low_credits.maybe_notify_low_credits(uid) is False
    assert outbox_count() == 1
    mail = next(get_settings().outbox_dir.glob("*.eml")).read_text()
    assert "running low" in mail and "down to 5 credits" in mail

    sid, _ = buy(fake, uid, "starter")
    checkout.confirm_checkout(uid, sid)
    assert not user_row(uid).low_credit_notified, "a top-up over the threshold re-arms it"
    spend(uid, 50, "job:b")
    assert low_credits.maybe_notify_low_credits(uid) is True
    assert outbox_count() == 2


def job_spend(user_id: int, kind: str, captures: int, ref: str) -> None:
    """A job of `kind` holding credits, charged one credit per capture (image or training)."""
    with session_scope() as s:
        s.add(Job(user_id=user_id, kind=kind, hold_reference=ref, credits_held=captures + 1))
    credits.hold(user_id, captures + 1, reference=ref)
    for n in range(captures):
        credits.capture(ref, 1, reference=f"{ref}:img:{n}")
    credits.release(ref)


def test_usage_summary_sums_captures_per_day(pg: str) -> None:
    uid = make_user(100)
    spend(uid, 3, "job:today")
    credits.hold(uid, 5, reference="job:released")
    credits.release("job:released")
    spend(uid, 4, "job:old")
    job_spend(uid, "generation", 2, "gen:today")
    job_spend(uid, "training", 1, "job:trained")
    job_spend(uid, "generation", 1, "gen:old")
    with session_scope() as s:
        s.execute(
            update(CreditEntry)
            .where(col(CreditEntry.reference).in_(["job:old:done", "gen:old:img:0"]))
            .values(created_at=datetime.now(UTC) - timedelta(days=2))
        )
    days = overview.usage_summary(uid, 7)
    assert len(days) == 7 and days[-1].day == datetime.now(UTC).date()
    assert (days[-1].credits, days[-1].images, days[-1].models) == (3 + 2 + 1, 2, 1)
    assert (days[-3].credits, days[-3].images, days[-3].models) == (4 + 1, 1, 0)
    assert sum(d.credits for d in days) == 11
    assert sum(d.images for d in days) == 3


# --- concurrency on PostgreSQL ---------------------------------------------------------------


def test_parallel_spends_grants_and_refunds_are_exact(fake: FakeStripe) -> None:
    start, hold_size, spends = 200, 4, 50
    uid = make_user(start)
    packs = {"starter": 50, "studio": 150, "agency": 400}
    bought = {pack: buy(fake, uid, pack) for pack in packs}
    refunded = {
        pack: fake.refund(charge_of_session(fake, bought[pack][0]), deliver=False)
        for pack in ("starter", "studio")
    }

    def spend_one(i: int) -> None:
        spend(uid, hold_size, f"job:par:{i}")

    tasks = [lambda i=i: spend_one(i) for i in range(spends)]
    for sid, events in bought.values():
        completed = by_type(events, "checkout.session.completed")
        tasks += [lambda e=completed: sync.handle_event(e)] * 2
        tasks += [lambda s=sid: checkout.confirm_checkout(uid, s)]
    for event in refunded.values():
        tasks += [lambda e=event: sync.handle_event(e)] * 2
    random.Random(7).shuffle(tasks)
    with ThreadPoolExecutor(max_workers=24) as pool:
        for future in [pool.submit(task) for task in tasks]:
            future.result()

    granted = sum(packs.values())
    taken = sum(e.amount for e in entries(uid, LedgerKind.REFUND))
    spent = sum(e.amount for e in entries(uid, LedgerKind.CAPTURE))
    expected = start + granted - packs["starter"] - packs["studio"] - spends * hold_size
    balance, ledger = credits.balance(uid), credits.ledger_sum(uid)
    print(
        f"\nparallel: start={start} granted={granted} taken_back={taken} spent={spent} "
        f"({spends} holds of {hold_size}) expected={expected} balance={balance} "
        f"ledger_sum={ledger} tasks={len(tasks)}"
    )
    assert taken == packs["starter"] + packs["studio"]
    assert spent == spends * hold_size
    assert balance == ledger == expected == 400
    assert len(entries(uid, LedgerKind.PURCHASE)) == 3
    assert len(entries(uid, LedgerKind.HOLD)) == spends
    assert not user_row(uid).spending_blocked
