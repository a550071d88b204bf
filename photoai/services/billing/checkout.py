"""Checkout as users see it: Stripe checkout links, the customer portal and the success page.

Money never turns into credits from the browser: pages get a Stripe URL, and credits come from
what Stripe reports (the success page asks Stripe itself; the webhook and `billing reconcile`
do the same from events). All three paths apply a payment through billing.effects, keyed by the
checkout session or invoice id, so the customer is credited exactly once whichever comes first.
"""

import logging
import re
from dataclasses import dataclass
from typing import Literal

import stripe
from sqlalchemy import select, update
from sqlmodel import col
from stripe.params.checkout import (
    SessionCreateParams,
    SessionCreateParamsLineItem,
    SessionCreateParamsLineItemPriceData,
)

from photoai.db import session_scope
from photoai.models import (
    CreditEntry,
    User,
)
from photoai.services import analytics
from photoai.services.billing.catalog import CreditPack, Plan
from photoai.services.billing.effects import CHECKOUT_REF, INVOICE_REF, checkout_owner
from photoai.services.billing.overview import current_subscription
from photoai.services.billing.stripe_api import (
    PAID_STATUSES,
    BillingError,
    as_dict,
    ref_id,
    stripe_client,
)
from photoai.services.billing.sync import prepare_checkout, run_effect
from photoai.settings import get_settings

log = logging.getLogger(__name__)

_SESSION_ID = re.compile(r"^cs_[A-Za-z0-9_]{1,250}$")


def _user_error(exc: stripe.StripeError) -> BillingError:
    """Say what the user can do about a Stripe failure; the details go to the log."""
    log.warning("stripe call failed: %s (%s)", exc, type(exc).__name__)
    if isinstance(exc, stripe.RateLimitError):
        return BillingError("Payments are busy right now. Please try again in a moment.")
    if isinstance(exc, stripe.APIConnectionError):
        return BillingError("Could not reach the payment provider. Please try again.")
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        return BillingError("Billing is misconfigured on this server; the operator was told.")
    return BillingError("The payment provider refused the request. Please try again later.")


def _pack(pack_id: str) -> CreditPack:
    for pack in get_settings().credit_packs:
        if pack.id == pack_id:
            return pack
    raise BillingError("That credit pack is not on sale.")


def find_plan(plan_id: str) -> Plan | None:
    return next((plan for plan in get_settings().plans if plan.id == plan_id), None)


def _plan(plan_id: str) -> Plan:
    plan = find_plan(plan_id)
    if plan is None:
        raise BillingError("That plan is not on sale.")
    return plan


def _ensure_customer(user_id: int) -> str:
    """The user's Stripe customer, created once.

    The idempotency key makes two concurrent first checkouts create one customer; the
    conditional update keeps whichever id was stored first.
    """
    with session_scope() as s:
        user = s.get(User, user_id)
        if user is None:
            raise BillingError("Unknown account.")
        if user.stripe_customer_id:
            return user.stripe_customer_id
        email, name = user.email, user.name
    try:
        customer = stripe_client().v1.customers.create(
            params={"email": email, "name": name, "metadata": {"user_id": str(user_id)}},
            options={"idempotency_key": f"photoai-customer-{user_id}"},
        )
    except stripe.StripeError as exc:
        raise _user_error(exc) from exc
    with session_scope() as s:
        s.execute(
            update(User)
            .where(col(User.id) == user_id, col(User.stripe_customer_id).is_(None))
            .values(stripe_customer_id=customer.id)
        )
        stored = s.execute(
            select(col(User.stripe_customer_id)).where(col(User.id) == user_id)
        ).scalar_one()
    return str(stored)


def _line_item(
    price_id: str, name: str, cents: int, currency: str, *, monthly: bool
) -> SessionCreateParamsLineItem:
    """A configured Stripe price, or the price inline so packs work without a Stripe catalog."""
    if price_id:
        return {"price": price_id, "quantity": 1}
    price_data: SessionCreateParamsLineItemPriceData = {
        "currency": currency,
        "unit_amount": cents,
        "product_data": {"name": name},
    }
    if monthly:
        price_data["recurring"] = {"interval": "month"}
    return {"price_data": price_data, "quantity": 1}


def _open_checkout(user_id: int, item: str, attempt: str, params: SessionCreateParams) -> str:
    """Create the Checkout Session and return its URL.

    The idempotency key is per user, item and purchase attempt (the page makes one per visit):
    a double click or a retried request of one attempt gets the same session, while buying the
    same item again is a new attempt and gets a new session. Stripe replays the first answer to
    a key it has seen, so a key that outlives a purchase would hand back a paid, dead session.
    """
    if not attempt or len(attempt) > 64:
        raise ValueError("a purchase attempt id of 1 to 64 characters is needed")
    settings = get_settings()
    params["client_reference_id"] = str(user_id)
    params["success_url"] = (
        f"{settings.base_url}/billing/success?session_id={{CHECKOUT_SESSION_ID}}"
    )
    params["cancel_url"] = f"{settings.base_url}/billing"
    key = f"photoai-checkout-{user_id}-{item}-{attempt}"
    try:
        checkout = stripe_client().v1.checkout.sessions.create(
            params=params, options={"idempotency_key": key}
        )
    except stripe.StripeError as exc:
        raise _user_error(exc) from exc
    if not checkout.url:
        raise BillingError("The payment provider did not return a checkout page.")
    analytics.track(user_id, analytics.Funnel.CHECKOUT_STARTED, {"item": item})
    return checkout.url


def create_pack_checkout(user_id: int, pack_id: str, *, attempt: str) -> str:
    """A Stripe Checkout URL for one credit pack; credits follow once Stripe says it is paid."""
    pack = _pack(pack_id)
    customer = _ensure_customer(user_id)
    meta = {"user_id": str(user_id), "pack": pack.id, "credits": str(pack.credits)}
    return _open_checkout(
        user_id,
        f"pack-{pack.id}",
        attempt,
        {
            "mode": "payment",
            "customer": customer,
            "line_items": [
                _line_item(
                    pack.stripe_price_id,
                    f"{pack.name}: {pack.credits} credits",
                    pack.price_cents,
                    pack.currency,
                    monthly=False,
                )
            ],
            "metadata": meta,
            "payment_intent_data": {"metadata": meta},
        },
    )


def create_plan_checkout(user_id: int, plan_id: str, *, attempt: str) -> str:
    """A Stripe Checkout URL for a monthly plan; changing an existing plan is the portal's job."""
    plan = _plan(plan_id)
    if current_subscription(user_id) is not None:
        raise BillingError("You already have a plan. Change or cancel it in the billing portal.")
    customer = _ensure_customer(user_id)
    meta = {"user_id": str(user_id), "plan": plan.id}
    return _open_checkout(
        user_id,
        f"plan-{plan.id}",
        attempt,
        {
            "mode": "subscription",
            "customer": customer,
            "line_items": [
                _line_item(
                    plan.stripe_price_id,
                    f"{plan.name} plan: {plan.monthly_credits} credits a month",
                    plan.price_cents,
                    plan.currency,
                    monthly=True,
                )
            ],
            "metadata": meta,
            "subscription_data": {"metadata": meta},
        },
    )


def create_portal_url(user_id: int) -> str:
    """Stripe's customer portal: invoices, payment methods, plan changes and cancellation."""
    with session_scope() as s:
        user = s.get(User, user_id)
        customer = user.stripe_customer_id if user else None
    if not customer:
        raise BillingError("There is no billing history to manage yet.")
    try:
        portal = stripe_client().v1.billing_portal.sessions.create(
            params={"customer": customer, "return_url": f"{get_settings().base_url}/billing"}
        )
    except stripe.StripeError as exc:
        raise _user_error(exc) from exc
    return portal.url


CheckoutStatus = Literal["paid", "pending", "open", "expired"]

_UNPAID: dict[str, tuple[CheckoutStatus, str]] = {
    "open": ("open", "This checkout has not been paid yet."),
    "expired": ("expired", "This checkout expired; nothing was charged."),
    "complete": (
        "pending",
        "Your payment is still being processed; credits appear as soon as it clears.",
    ),
}


@dataclass(frozen=True)
class CheckoutResult:
    status: CheckoutStatus
    mode: str
    credits_added: int
    balance: int
    message: str


def _granted_for(reference: str) -> int:
    with session_scope() as s:
        found = s.execute(
            select(col(CreditEntry.amount)).where(col(CreditEntry.reference) == reference)
        ).scalar_one_or_none()
        return int(found or 0)


def _balance(user_id: int) -> int:
    with session_scope() as s:
        return int(
            s.execute(select(col(User.credit_balance)).where(col(User.id) == user_id)).scalar_one()
        )


def confirm_checkout(user_id: int, session_id: str) -> CheckoutResult:
    """What the success page shows, applying the payment if Stripe says it is paid.

    Asks Stripe, never trusts the URL. A session opened for another account is refused and
    changes nothing. The grant is keyed like the webhook's, so the later event changes nothing.
    """
    if not _SESSION_ID.match(session_id):
        raise BillingError("That is not a checkout link of ours.")
    try:
        checkout = as_dict(stripe_client().v1.checkout.sessions.retrieve(session_id))
    except stripe.InvalidRequestError as exc:
        raise BillingError("That checkout does not exist.") from exc
    except stripe.StripeError as exc:
        raise _user_error(exc) from exc
    if checkout_owner(checkout) != str(user_id):
        log.warning("user %s tried to confirm checkout %s of another account", user_id, session_id)
        raise BillingError("This checkout belongs to another account.")
    mode = str(checkout.get("mode") or "payment")
    if checkout.get("payment_status") not in PAID_STATUSES:
        status, message = _UNPAID.get(str(checkout.get("status")), _UNPAID["complete"])
        return CheckoutResult(status, mode, 0, _balance(user_id), message)
    try:
        run_effect(prepare_checkout(checkout))
    except stripe.StripeError as exc:
        raise _user_error(exc) from exc
    if mode == "subscription":
        invoice = ref_id(checkout.get("invoice"))
        added = _granted_for(INVOICE_REF + invoice) if invoice else 0
    else:
        added = _granted_for(CHECKOUT_REF + session_id)
    return CheckoutResult(
        "paid", mode, added, _balance(user_id), f"Payment received: {added} credits added."
    )
