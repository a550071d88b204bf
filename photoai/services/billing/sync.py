"""Keeping our database in step with Stripe: webhook events and the reconciler.

Each event is handled in two phases. First whatever Stripe objects matter are fetched (outside
any database transaction, so no lock waits on the network); then one transaction records the
event id in `processed_events` and applies the effect, so an event counts exactly once however
often Stripe delivers it. Where order matters the object is re-fetched, and every effect is
idempotent by a Stripe id, so events in any order end in the same state.
"""

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import stripe
from sqlmodel import Session

from photoai.db import session_scope
from photoai.services.billing.effects import (
    CHECKOUT_REF,
    INVOICE_REF,
    Applied,
    Reversal,
    grant_checkout,
    grant_invoice,
    take_back,
    upsert_subscription,
)
from photoai.services.billing.stripe_api import (
    PAID_STATUSES,
    StripeDict,
    as_dict,
    ref_id,
    stripe_client,
    subscription_id_of_invoice,
)
from photoai.services.low_credits import notify_quietly
from photoai.services.processed_events import claim, was_claimed
from photoai.settings import get_settings

log = logging.getLogger(__name__)

SOURCE = "stripe"

Effect = Callable[[Session], Applied]


def _nothing(_: Session) -> Applied:
    return Applied()


def _retrieve_subscription(subscription_id: str | None) -> StripeDict | None:
    if not subscription_id:
        return None
    try:
        return as_dict(stripe_client().v1.subscriptions.retrieve(subscription_id))
    except stripe.InvalidRequestError as exc:
        if exc.code == "resource_missing":
            return None
        raise


def prepare_checkout(checkout: StripeDict) -> Effect:
    """A completed checkout: pack credits, or a subscription and its first invoice."""
    if checkout.get("mode") != "subscription":
        return lambda s: grant_checkout(s, checkout)
    subscription = _retrieve_subscription(ref_id(checkout.get("subscription")))
    if subscription is None:
        return _nothing
    invoice_id = ref_id(checkout.get("invoice"))
    invoice = as_dict(stripe_client().v1.invoices.retrieve(invoice_id)) if invoice_id else None

    def apply(s: Session) -> Applied:
        done = upsert_subscription(s, subscription)
        return done.add(grant_invoice(s, invoice, subscription)) if invoice else done

    return apply


def prepare_invoice(invoice: StripeDict) -> Effect:
    """A paid invoice: refresh its subscription, then grant the period's plan credits."""
    subscription = _retrieve_subscription(subscription_id_of_invoice(invoice))
    if subscription is None:
        return _nothing
    return lambda s: upsert_subscription(s, subscription).add(
        grant_invoice(s, invoice, subscription)
    )


def prepare_invoice_failed(invoice: StripeDict) -> Effect:
    """A failed renewal grants nothing; the subscription row shows past_due from Stripe."""
    subscription = _retrieve_subscription(subscription_id_of_invoice(invoice))
    return (lambda s: upsert_subscription(s, subscription)) if subscription else _nothing


def prepare_subscription(payload: StripeDict) -> Effect:
    """Write Stripe's current state, not the event's snapshot, so order does not matter.

    Stripe still returns deleted subscriptions (status canceled); the payload is the fallback
    only when the object is gone entirely.
    """
    subscription = _retrieve_subscription(str(payload["id"])) or payload
    return lambda s: upsert_subscription(s, subscription)


def _invoice_of_payment(payment_intent: str | None) -> str | None:
    """Current API versions link a charge to its invoice only through invoice payments."""
    if not payment_intent:
        return None
    found = (
        stripe_client()
        .v1.invoice_payments.list(
            params={
                "payment": {"type": "payment_intent", "payment_intent": payment_intent},
                "limit": 1,
            }
        )
        .data
    )
    return ref_id(as_dict(found[0]).get("invoice")) if found else None


def _purchase_of(charge: Mapping[str, Any]) -> tuple[str, Effect] | None:
    """The grant a charge paid for (its ledger reference) and the effect that ensures it.

    Applying the purchase before taking credits back makes a refund that arrives before the
    purchase's own event end in the same balance as the usual order.
    """
    client = stripe_client()
    payment_intent = ref_id(charge.get("payment_intent"))
    if payment_intent:
        sessions = client.v1.checkout.sessions.list(
            params={"payment_intent": payment_intent, "limit": 1}
        ).data
        if sessions:
            checkout = as_dict(sessions[0])
            return CHECKOUT_REF + str(checkout["id"]), prepare_checkout(checkout)
    invoice_id = ref_id(charge.get("invoice")) or _invoice_of_payment(payment_intent)
    if invoice_id:
        invoice = as_dict(client.v1.invoices.retrieve(invoice_id))
        return INVOICE_REF + invoice_id, prepare_invoice(invoice)
    return None


def prepare_refunds(charge: StripeDict) -> Effect:
    """Every refund of the charge so far, each taken back once under its own refund id."""
    purchase = _purchase_of(charge)
    if purchase is None:
        log.info("charge %s: not a purchase of ours, refund ignored", charge.get("id"))
        return _nothing
    reference, ensure_grant = purchase
    listing = stripe_client().v1.refunds.list(params={"charge": str(charge["id"]), "limit": 100})
    refunds = [
        refund
        for refund in map(as_dict, listing.auto_paging_iter())
        if refund.get("status") not in ("failed", "canceled")
    ]
    refunds.sort(key=lambda r: (int(r.get("created") or 0), str(r["id"])))
    reversals, before = [], 0
    for refund in refunds:
        amount = int(refund.get("amount") or 0)
        reversals.append(
            Reversal(f"stripe:refund:{refund['id']}", f"Refund {refund['id']}", before, amount)
        )
        before += amount
    charge_amount = int(charge.get("amount") or 0)
    return lambda s: ensure_grant(s).add(take_back(s, reference, charge_amount, reversals))


def prepare_dispute(dispute: StripeDict) -> Effect:
    """A dispute takes back the disputed share at once; winning it is an operator decision."""
    charge_id = ref_id(dispute.get("charge"))
    if not charge_id:
        return _nothing
    charge = as_dict(stripe_client().v1.charges.retrieve(charge_id))
    purchase = _purchase_of(charge)
    if purchase is None:
        return _nothing
    reference, ensure_grant = purchase
    reversal = Reversal(
        f"stripe:dispute:{dispute['id']}",
        f"Dispute {dispute['id']}",
        0,
        int(dispute.get("amount") or 0),
    )
    charge_amount = int(charge.get("amount") or 0)
    return lambda s: ensure_grant(s).add(take_back(s, reference, charge_amount, [reversal]))


_PREPARERS: dict[str, Callable[[StripeDict], Effect]] = {
    "checkout.session.completed": prepare_checkout,
    "checkout.session.async_payment_succeeded": prepare_checkout,
    "checkout.session.async_payment_failed": lambda _: _nothing,
    "invoice.paid": prepare_invoice,
    "invoice.payment_failed": prepare_invoice_failed,
    "customer.subscription.created": prepare_subscription,
    "customer.subscription.updated": prepare_subscription,
    "customer.subscription.deleted": prepare_subscription,
    "charge.refunded": prepare_refunds,
    "charge.dispute.created": prepare_dispute,
}
HANDLED_EVENT_TYPES = tuple(_PREPARERS)


def run_effect(effect: Effect, event: tuple[str, str] | None = None) -> Applied | None:
    """Apply an effect in one transaction, claiming `event` (id, type) in the same one.

    Returns None when the event had already been applied. Low-credit emails go out after the
    commit; a mail failure is logged, never undoes the payment effect.
    """
    with session_scope() as s:
        if event is not None and not claim(s, SOURCE, *event):
            return None
        applied = effect(s)
    for user_id in sorted(applied.debited_users):
        notify_quietly(user_id)
    return applied


@dataclass(frozen=True)
class EventResult:
    status: Literal["applied", "duplicate", "ignored"]
    notes: tuple[str, ...] = ()


def handle_event(event: Mapping[str, Any]) -> EventResult:
    """Apply one Stripe event exactly once; unknown types are acknowledged and ignored.

    Raises on Stripe or database errors so the webhook answers 5xx and Stripe delivers again.
    """
    event_id, kind = str(event["id"]), str(event["type"])
    prepare = _PREPARERS.get(kind)
    if prepare is None:
        return EventResult("ignored")
    if was_claimed(SOURCE, event_id):
        return EventResult("duplicate")
    applied = run_effect(prepare(dict(event["data"]["object"])), (event_id, kind))
    if applied is None:
        return EventResult("duplicate")
    log.info("stripe event %s %s applied: %s", event_id, kind, applied.notes)
    return EventResult("applied", tuple(applied.notes))


@dataclass
class ReconcileReport:
    applied: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def _recent_events(since: int) -> Iterator[StripeDict]:
    listing = stripe_client().v1.events.list(
        params={"types": list(HANDLED_EVENT_TYPES), "created": {"gte": since}, "limit": 100}
    )
    for event in listing.auto_paging_iter():
        yield as_dict(event)


def _recent_paid_checkouts(since: int) -> Iterator[StripeDict]:
    listing = stripe_client().v1.checkout.sessions.list(
        params={"status": "complete", "created": {"gte": since}, "limit": 100}
    )
    for checkout in map(as_dict, listing.auto_paging_iter()):
        if checkout.get("payment_status") in PAID_STATUSES:
            yield checkout


def reconcile(days: int | None = None) -> ReconcileReport:
    """Apply whatever Stripe has that we missed; running it again changes nothing.

    Lists the recent events of every handled type (whether or not Stripe thinks a delivery
    succeeded: our endpoint may have been misconfigured) oldest first, then the recent paid
    checkouts in case their events fell outside Stripe's retention. A Stripe error on one
    item is reported and the others still run.
    """
    since = int(time.time()) - (days or get_settings().billing_reconcile_days) * 86400
    report = ReconcileReport()
    for event in reversed(list(_recent_events(since))):
        try:
            result = handle_event(event)
        except stripe.StripeError as exc:
            report.failed.append(f"event {event['id']} {event['type']}: {exc.user_message or exc}")
            continue
        if result.status == "applied":
            summary = "; ".join(result.notes) or "recorded, no change"
            report.applied.append(f"event {event['id']} {event['type']}: {summary}")
    for checkout in _recent_paid_checkouts(since):
        try:
            applied = run_effect(prepare_checkout(checkout))
        except stripe.StripeError as exc:
            report.failed.append(f"checkout {checkout['id']}: {exc.user_message or exc}")
            continue
        report.applied.extend(applied.notes if applied else [])
    return report
