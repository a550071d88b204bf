"""The Stripe client and the small helpers every billing module shares.

Stripe objects are turned into plain dicts as soon as they arrive, so the rest of billing works
the same on an SDK response, a webhook payload and a test's hand-made event, and never depends
on the SDK's attribute access.
"""

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import stripe

from photoai.settings import get_settings

StripeDict = dict[str, Any]

PAID_STATUSES = frozenset({"paid", "no_payment_required"})


class BillingError(Exception):
    """A refusal or failure a user can be shown as it is."""


class BillingDisabled(BillingError):
    def __init__(self) -> None:
        super().__init__("Billing is not set up on this server.")


def billing_enabled() -> bool:
    """Billing is on exactly when an operator configured a Stripe secret key."""
    return bool(get_settings().stripe_secret_key)


def stripe_client() -> stripe.StripeClient:
    """The client for the configured account; raises BillingDisabled when there is none."""
    settings = get_settings()
    if not settings.stripe_secret_key:
        raise BillingDisabled()
    return _client(
        settings.stripe_secret_key,
        settings.stripe_api_base,
        settings.stripe_max_network_retries,
        settings.stripe_timeout_seconds,
    )


@lru_cache(maxsize=4)
def _client(api_key: str, api_base: str, retries: int, timeout: float) -> stripe.StripeClient:
    """One client per configuration: it keeps a connection pool per thread.

    Retries cover network errors, 409 and 5xx. They are safe for POSTs because the SDK sends
    the same Idempotency-Key on every attempt, and we pass our own keys where a double click
    must not create two objects.
    """
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base},
        max_network_retries=retries,
        http_client=stripe.RequestsClient(timeout=timeout),
    )


def as_dict(obj: stripe.StripeObject) -> StripeDict:
    return obj.to_dict()


def ref_id(value: object) -> str | None:
    """The id of an expandable field, whether Stripe sent the id or the expanded object."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, Mapping):
        found = value.get("id")
        return found if isinstance(found, str) else None
    return None


def dig(obj: Mapping[str, Any] | None, *path: str) -> Any:
    """`obj[a][b]...`, or None as soon as a level is missing (Stripe omits empty objects)."""
    current: Any = obj
    for key in path:
        if not isinstance(current, Mapping):
            return None
        current = current.get(key)
    return current


def metadata(obj: Mapping[str, Any] | None) -> dict[str, str]:
    found = dig(obj, "metadata")
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, Mapping) else {}


def list_data(obj: Mapping[str, Any] | None, *path: str) -> list[StripeDict]:
    """Items of an embedded Stripe list object such as `items` or `lines`."""
    found = dig(obj, *path, "data")
    return [item for item in found if isinstance(item, dict)] if isinstance(found, list) else []


def subscription_id_of_invoice(invoice: Mapping[str, Any]) -> str | None:
    """Current API: `parent.subscription_details.subscription`; before 2025-03: `subscription`."""
    return ref_id(dig(invoice, "parent", "subscription_details", "subscription")) or ref_id(
        invoice.get("subscription")
    )
