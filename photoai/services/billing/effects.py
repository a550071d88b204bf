"""What Stripe objects do to our database: grants, subscription rows and take-backs.

Nothing here talks to Stripe. Callers fetch the objects first and hand over plain dicts plus
the session of the transaction that also records the Stripe event, so an event's effect and
its "processed" mark commit together. Every effect is idempotent by a Stripe id, so the success
page, the webhook and the reconciler can all apply the same payment and it counts once.
"""

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlmodel import Session, col

from photoai.db import insert_for
from photoai.models import CreditEntry, LedgerKind, Subscription, User, utcnow
from photoai.services import analytics, credits
from photoai.services.billing.catalog import Plan
from photoai.services.billing.stripe_api import (
    PAID_STATUSES,
    dig,
    list_data,
    metadata,
    ref_id,
)
from photoai.services.processed_events import claim
from photoai.settings import get_settings

log = logging.getLogger(__name__)

CHECKOUT_REF = "stripe:checkout:"
INVOICE_REF = "stripe:invoice:"
INVOICE_SOURCE = "stripe-invoice"


@dataclass
class Applied:
    """What an effect changed (nothing when it had been applied before), and whose balance
    went down, for logs, the output of `billing reconcile` and low-credit emails."""

    notes: list[str] = field(default_factory=list)
    debited_users: set[int] = field(default_factory=set)

    def add(self, other: "Applied") -> "Applied":
        self.notes.extend(other.notes)
        self.debited_users |= other.debited_users
        return self


@dataclass(frozen=True)
class Reversal:
    """Money going back to the customer: a refund or a dispute, `amount` cents of a charge.

    `before` is what earlier refunds of the same charge already returned; the credits taken back
    are the difference of two cumulative shares, so partial refunds add up to the exact grant.
    """

    reference: str
    label: str
    before: int
    amount: int


def _owner_marks(checkout: Mapping[str, Any]) -> set[str]:
    marks = {checkout.get("client_reference_id"), metadata(checkout).get("user_id")}
    return {str(mark) for mark in marks if mark}


def checkout_owner(checkout: Mapping[str, Any]) -> str | None:
    """The user a checkout session was opened for; None when unmarked or its marks disagree.

    We set both `client_reference_id` and `metadata.user_id`; a mismatch means the session was
    not made by us for one account, and it must not credit anyone.
    """
    marks = _owner_marks(checkout)
    return marks.pop() if len(marks) == 1 else None


def _find_user(session: Session, user_hint: str | None, customer: str | None) -> int | None:
    """Our user id from the id we put in Stripe metadata, else from the Stripe customer."""
    if user_hint:
        if not user_hint.isdigit():
            return None
        return session.execute(
            select(col(User.id)).where(col(User.id) == int(user_hint))
        ).scalar_one_or_none()
    if customer:
        return session.execute(
            select(col(User.id))
            .where(col(User.stripe_customer_id) == customer)
            .order_by(col(User.id))
            .limit(1)
        ).scalar_one_or_none()
    return None


def remember_customer(session: Session, user_id: int, customer: str | None) -> None:
    """Keep the first Stripe customer id we learn for a user; never overwrite another one."""
    if customer:
        session.execute(
            update(User)
            .where(col(User.id) == user_id, col(User.stripe_customer_id).is_(None))
            .values(stripe_customer_id=customer)
        )


def _grant_pack(session: Session, user_id: int, amount: int, reference: str, label: str) -> bool:
    """Grant a purchase once per reference; True when this call added the credits."""
    existed = session.execute(
        select(col(CreditEntry.id)).where(col(CreditEntry.reference) == reference)
    ).first()
    credits.grant(
        user_id,
        amount,
        kind=LedgerKind.PURCHASE,
        reference=reference,
        description=label,
        session=session,
    )
    _rearm_low_credit_email(session, user_id)
    return existed is None


def _rearm_low_credit_email(session: Session, user_id: int) -> None:
    """A grant that lifts the balance back over the threshold re-arms the low-credit email."""
    session.execute(
        update(User)
        .where(
            col(User.id) == user_id,
            col(User.low_credit_notified).is_(True),
            col(User.credit_balance) >= get_settings().low_credit_threshold,
        )
        .values(low_credit_notified=False)
    )


def _pack_credits(meta: Mapping[str, str]) -> tuple[int, str] | None:
    """Credits a pack checkout bought: the figure we wrote when the customer saw the price."""
    packs = {pack.id: pack for pack in get_settings().credit_packs}
    pack = packs.get(meta.get("pack", ""))
    name = pack.name if pack else meta.get("pack", "credit")
    if meta.get("credits", "").isdigit() and int(meta["credits"]) > 0:
        return int(meta["credits"]), name
    return (pack.credits, name) if pack else None


def grant_checkout(session: Session, checkout: Mapping[str, Any]) -> Applied:
    """Credits of a paid pack checkout, keyed by the checkout session id."""
    sid = str(checkout["id"])
    if checkout.get("mode") != "payment":
        return Applied()
    if checkout.get("payment_status") not in PAID_STATUSES:
        return Applied()
    if len(_owner_marks(checkout)) > 1:
        log.warning("checkout %s names two different accounts, nothing granted", sid)
        return Applied()
    owner = checkout_owner(checkout)
    user_id = _find_user(session, owner, None if owner else ref_id(checkout.get("customer")))
    bought = _pack_credits(metadata(checkout))
    if user_id is None or bought is None:
        log.warning("checkout %s: no matching account or pack, nothing granted", sid)
        return Applied()
    amount, name = bought
    remember_customer(session, user_id, ref_id(checkout.get("customer")))
    if _grant_pack(session, user_id, amount, CHECKOUT_REF + sid, f"{name} pack"):
        analytics.track(user_id, analytics.Funnel.CHECKOUT_COMPLETED, {"credits": amount})
        return Applied([f"checkout {sid}: granted {amount} credits to user {user_id}"])
    return Applied()


def _price_ids(obj: Mapping[str, Any] | None, list_key: str) -> list[str]:
    """Price ids of subscription items or invoice lines, in old and current API shapes."""
    found = []
    for item in list_data(obj, list_key):
        price = ref_id(item.get("price")) or ref_id(dig(item, "pricing", "price_details", "price"))
        if price:
            found.append(price)
    return found


def plan_for(
    subscription: Mapping[str, Any], invoice: Mapping[str, Any] | None = None
) -> Plan | None:
    """The plan an invoice paid for, else the subscription's current one.

    Prices come first: a plan change in the customer portal swaps the price but leaves the
    metadata we set at checkout. Metadata covers plans sold with inline prices.
    """
    plans = get_settings().plans
    by_price = {plan.stripe_price_id: plan for plan in plans if plan.stripe_price_id}
    for price in [*_price_ids(invoice, "lines"), *_price_ids(subscription, "items")]:
        if price in by_price:
            return by_price[price]
    wanted = metadata(subscription).get("plan") or metadata(
        dig(invoice, "parent", "subscription_details")
    ).get("plan")
    return next((plan for plan in plans if plan.id == wanted), None)


def _subscription_user(session: Session, subscription: Mapping[str, Any]) -> int | None:
    return _find_user(
        session, metadata(subscription).get("user_id"), ref_id(subscription.get("customer"))
    )


def grant_invoice(
    session: Session, invoice: Mapping[str, Any], subscription: Mapping[str, Any]
) -> Applied:
    """A paid subscription invoice starts a plan period, once per invoice id: the plan's
    monthly credits are added and unused plan credits expire as its rollover rule says."""
    iid = str(invoice["id"])
    if invoice.get("status") != "paid":
        return Applied()
    plan = plan_for(subscription, invoice)
    user_id = _subscription_user(session, subscription)
    if plan is None or user_id is None:
        log.warning("invoice %s: no matching account or plan, nothing granted", iid)
        return Applied()
    if not claim(session, INVOICE_SOURCE, iid, "invoice.paid"):
        return Applied()
    credits.start_plan_period(
        user_id,
        plan.monthly_credits,
        keep_at_most=plan.kept_credits,
        reference=INVOICE_REF + iid,
        description=f"{plan.name} plan period",
        session=session,
    )
    _rearm_low_credit_email(session, user_id)
    expired = session.execute(
        select(col(CreditEntry.amount)).where(
            col(CreditEntry.reference) == f"{INVOICE_REF}{iid}:expire"
        )
    ).scalar()
    return Applied(
        [
            f"invoice {iid}: granted {plan.monthly_credits} plan credits to user {user_id}"
            + (f", {expired} unused plan credits expired" if expired else "")
        ]
    )


def _period_end(subscription: Mapping[str, Any]) -> datetime | None:
    """Before 2025-03 on the subscription, since then on each subscription item."""
    ends = [subscription.get("current_period_end")]
    ends += [item.get("current_period_end") for item in list_data(subscription, "items")]
    stamps = [int(end) for end in ends if isinstance(end, int)]
    return datetime.fromtimestamp(max(stamps), UTC) if stamps else None


def upsert_subscription(session: Session, subscription: Mapping[str, Any]) -> Applied:
    """Write the subscription row from Stripe's current state of the subscription.

    Callers pass a freshly retrieved subscription, so the row ends up the same whatever order
    the created/updated/deleted events arrive in. Reports only a real change.
    """
    sid = str(subscription["id"])
    user_id = _subscription_user(session, subscription)
    if user_id is None:
        log.warning("subscription %s: no matching account", sid)
        return Applied()
    plan = plan_for(subscription)
    customer = ref_id(subscription.get("customer")) or ""
    state = {
        "user_id": user_id,
        "stripe_customer_id": customer,
        "plan": plan.id if plan else "",
        "status": str(subscription.get("status") or "")[:32],
        "current_period_end": _period_end(subscription),
        "cancel_at_period_end": bool(subscription.get("cancel_at_period_end")),
    }
    row = session.execute(
        select(Subscription).where(col(Subscription.stripe_subscription_id) == sid)
    ).scalar_one_or_none()
    remember_customer(session, user_id, customer)
    if row is not None and all(getattr(row, key) == value for key, value in state.items()):
        return Applied()
    values = {**state, "updated_at": utcnow()}
    session.execute(
        insert_for(session)(Subscription)
        .values(stripe_subscription_id=sid, **values)
        .on_conflict_do_update(index_elements=["stripe_subscription_id"], set_=values)
    )
    _track_subscription(user_id, row.status if row is not None else "", state)
    return Applied([f"subscription {sid}: {state['status']} ({state['plan'] or 'no plan'})"])


_PAYING = ("active", "trialing")


def _track_subscription(user_id: int, before: str, state: Mapping[str, Any]) -> None:
    """Funnel events for a subscription that starts paying or ends."""
    after = str(state["status"])
    if after in _PAYING and before not in _PAYING:
        analytics.track(user_id, analytics.Funnel.SUBSCRIPTION_STARTED, {"plan": state["plan"]})
    elif after == "canceled" and before != "canceled":
        analytics.track(user_id, analytics.Funnel.SUBSCRIPTION_CANCELED, {"plan": state["plan"]})


def _share(granted: int, charge_amount: int, cents: int) -> int:
    """Credits matching `cents` of a charge, rounded up so no refunded money leaves credits."""
    cents = max(0, min(cents, charge_amount))
    return -(-granted * cents // charge_amount)


def take_back(
    session: Session, grant_reference: str, charge_amount: int, reversals: Sequence[Reversal]
) -> Applied:
    """Take back the credits a refunded or disputed payment granted, once per refund/dispute.

    Works from the ledger entry of the grant, so only credits that were really granted come
    back. Credits already spent cannot be taken: `credits.take_back` then blocks spending.
    """
    granted = session.execute(
        select(col(CreditEntry.user_id), col(CreditEntry.amount), col(CreditEntry.kind)).where(
            col(CreditEntry.reference) == grant_reference
        )
    ).one_or_none()
    if granted is None or charge_amount <= 0:
        log.info("%s: nothing was granted, nothing to take back", grant_reference)
        return Applied()
    result = Applied()
    for rev in reversals:
        amount = _share(granted.amount, charge_amount, rev.before + rev.amount) - _share(
            granted.amount, charge_amount, rev.before
        )
        if amount <= 0:
            continue
        done = credits.take_back(
            granted.user_id,
            amount,
            reference=rev.reference,
            description=rev.label,
            plan_first=granted.kind == LedgerKind.PLAN,
            session=session,
        )
        result.debited_users.add(granted.user_id)
        note = f"{rev.reference}: took back {amount - done.shortfall} of {amount} credits"
        if done.shortfall:
            note += f"; user {granted.user_id} had spent the rest, spending blocked"
        result.notes.append(note)
    return result
