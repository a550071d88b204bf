"""The Billing page and the page Stripe Checkout returns to.

Thin: the billing and credits services do the work; this module turns their answers into small
dicts of strings for the page. Money never becomes credits here: Buy only fetches a Stripe URL,
and the success page asks the billing service, which asks Stripe.
"""

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import reflex as rx
from reflex.event import EventSpec

from photoai.services import accounts, credit_history, credits
from photoai.services.billing import checkout, overview, stripe_api
from photoai.services.billing.catalog import CreditPack, Plan
from photoai.services.billing.overview import DayUsage, SubscriptionView
from photoai.services.billing.stripe_api import BillingError
from photoai.settings import get_settings
from photoai.state.display import day, ledger_row
from photoai.state.session import SessionState

LEDGER_PAGE = 20
USAGE_DAYS = 30

STATUS_LABELS = {
    "active": "Active",
    "trialing": "Trial",
    "past_due": "Payment overdue",
    "unpaid": "Unpaid",
}

_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£"}


def _money(amount: float, currency: str, *, per_unit: bool = False) -> str:
    """`$12.00`, or for a price per credit as many decimals as it needs (`$0.0725`)."""
    text = f"{amount:,.2f}"
    if per_unit:
        text = f"{amount:.4f}".rstrip("0")
        if len(text.partition(".")[2]) < 2:
            text = f"{amount:.2f}"
    symbol = _SYMBOLS.get(currency)
    return f"{symbol}{text}" if symbol else f"{text} {currency.upper()}"


def _pack_row(pack: CreditPack, best_id: str) -> dict[str, str]:
    return {
        "id": pack.id,
        "name": pack.name,
        "credits": f"{pack.credits:,}",
        "price": _money(pack.price_cents / 100, pack.currency),
        "per_credit": _money(pack.price_cents / 100 / pack.credits, pack.currency, per_unit=True),
        "best": "yes" if pack.id == best_id else "",
    }


def _rollover_text(plan: Plan) -> str:
    if plan.kept_credits:
        return (
            f"{plan.monthly_credits:,} credits each month; up to {plan.kept_credits:,} unused "
            "plan credits carry over. Pack credits never expire."
        )
    return (
        f"{plan.monthly_credits:,} credits each month; unused plan credits expire at renewal. "
        "Pack credits never expire."
    )


def _plan_row(plan: Plan, current_id: str) -> dict[str, str]:
    return {
        "id": plan.id,
        "name": plan.name,
        "credits": f"{plan.monthly_credits:,}",
        "price": _money(plan.price_cents / 100, plan.currency),
        "rollover": _rollover_text(plan),
        "current": "yes" if plan.id == current_id else "",
    }


def _pool_text(plan: Plan | None, pool: int) -> str:
    """What happens to the plan credits still unused at the next renewal."""
    if plan is None or not pool:
        return ""
    if pool <= plan.kept_credits:
        return f"{pool:,} plan credits left; they carry over at renewal."
    if plan.kept_credits:
        return (
            f"{pool:,} plan credits left; up to {plan.kept_credits:,} carry over at renewal, "
            "the rest expire."
        )
    return f"{pool:,} plan credits left; they expire at renewal."


def _subscription_row(sub: SubscriptionView | None, pool: int) -> dict[str, str]:
    """Name, status label, "yes" when in good standing, when it renews or ends, and what
    happens to the unused plan credits then."""
    if sub is None:
        return {"name": "", "status": "", "healthy": "", "renewal": "", "pool": ""}
    renews = sub.status in ("active", "trialing", "past_due") and not sub.cancel_at_period_end
    if sub.cancel_at_period_end:
        renewal = f"Ends on {day(sub.current_period_end)}" if sub.current_period_end else "Ends"
    else:
        renewal = f"Renews on {day(sub.current_period_end)}" if sub.current_period_end else ""
    return {
        "name": sub.plan_name,
        "status": STATUS_LABELS.get(sub.status, sub.status.replace("_", " ").capitalize()),
        "healthy": "yes" if sub.status in ("active", "trialing") else "",
        "renewal": renewal,
        "pool": _pool_text(checkout.find_plan(sub.plan_id), pool) if renews else "",
    }


def _usage_rows(days: list[DayUsage]) -> list[dict[str, str | int]]:
    return [
        {
            "day": d.day.strftime("%d %b"),
            "credits": d.credits,
            "images": d.images,
            "models": d.models,
        }
        for d in days
    ]


def _ledger_page(user_id: int, before_id: int | None) -> tuple[list[dict[str, str]], bool]:
    """One page of the ledger, newest first, and whether older rows exist."""
    rows = credit_history.history(user_id, limit=LEDGER_PAGE + 1, before_id=before_id)
    return [ledger_row(e) for e in rows[:LEDGER_PAGE]], len(rows) > LEDGER_PAGE


@dataclass
class Overview:
    """Everything the Billing page shows, read in one worker thread."""

    billing_on: bool
    spending_blocked: bool
    subscription: dict[str, str]
    packs: list[dict[str, str]]
    plans: list[dict[str, str]]
    entries: list[dict[str, str]]
    more: bool
    usage: list[dict[str, str | int]] = field(default_factory=list)
    spent: int = 0
    images: int = 0
    models: int = 0


def load_overview(user_id: int) -> Overview:
    """Blocking: call through asyncio.to_thread."""
    settings = get_settings()
    profile = accounts.get_profile(user_id)
    sub = overview.current_subscription(user_id)
    packs = settings.credit_packs
    best = min(packs, key=lambda p: p.price_cents / p.credits).id if len(packs) > 1 else ""
    entries, more = _ledger_page(user_id, None)
    days = overview.usage_summary(user_id, USAGE_DAYS)
    return Overview(
        billing_on=stripe_api.billing_enabled(),
        spending_blocked=profile.spending_blocked,
        subscription=_subscription_row(sub, credits.plan_credits(user_id)),
        packs=[_pack_row(p, best) for p in packs],
        plans=[_plan_row(p, sub.plan_id if sub else "") for p in settings.plans],
        entries=entries,
        more=more,
        usage=_usage_rows(days),
        spent=sum(d.credits for d in days),
        images=sum(d.images for d in days),
        models=sum(d.models for d in days),
    )


class BillingState(SessionState):
    billing_on: rx.Field[bool] = rx.field(False)
    spending_blocked: rx.Field[bool] = rx.field(False)
    low_threshold: rx.Field[int] = rx.field(0)
    starter_credits: rx.Field[int] = rx.field(0)
    training_cost: rx.Field[int] = rx.field(0)
    image_cost: rx.Field[int] = rx.field(0)
    has_plan: rx.Field[bool] = rx.field(False)
    plan_name: rx.Field[str] = rx.field("")
    plan_status: rx.Field[str] = rx.field("")
    plan_healthy: rx.Field[bool] = rx.field(False)
    plan_renewal: rx.Field[str] = rx.field("")
    plan_pool: rx.Field[str] = rx.field("")
    packs: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    plans: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    entries: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    has_more: rx.Field[bool] = rx.field(False)
    usage: rx.Field[list[dict[str, str | int]]] = rx.field(default_factory=list)
    spent_30d: rx.Field[int] = rx.field(0)
    images_30d: rx.Field[int] = rx.field(0)
    models_30d: rx.Field[int] = rx.field(0)
    error: rx.Field[str] = rx.field("")
    # The id of the pack or plan ("portal" for the portal) whose Stripe page is being opened.
    busy: rx.Field[str] = rx.field("")
    loading_more: rx.Field[bool] = rx.field(False)
    loaded: rx.Field[bool] = rx.field(False)
    # One purchase attempt per visit of the page: repeated clicks and retries within it reuse
    # its Checkout Session; coming back (after paying, or cancelling) starts a new attempt.
    _purchase_attempt: str = ""

    def _attempt(self) -> str:
        if not self._purchase_attempt:
            self._purchase_attempt = secrets.token_urlsafe(16)
        return self._purchase_attempt

    @rx.event
    async def on_load(self) -> EventSpec | None:
        self.error = self.busy = ""
        self._purchase_attempt = secrets.token_urlsafe(16)
        self.loading_more = False
        user = await self._current_user()
        if user is None:
            return self._login_redirect()
        await self._refresh_profile(user)
        settings = get_settings()
        self.low_threshold = settings.low_credit_threshold
        self.starter_credits = settings.starter_credits
        self.training_cost = settings.training_cost_credits
        self.image_cost = settings.image_cost_credits
        view = await asyncio.to_thread(load_overview, user.user_id)
        self.billing_on = view.billing_on
        self.spending_blocked = view.spending_blocked
        sub = view.subscription
        self.has_plan = bool(sub["name"])
        self.plan_name, self.plan_status = sub["name"], sub["status"]
        self.plan_healthy = bool(sub["healthy"])
        self.plan_renewal = sub["renewal"]
        self.plan_pool = sub["pool"]
        self.packs = view.packs
        self.plans = view.plans
        self.entries = view.entries
        self.has_more = view.more
        self.usage = view.usage
        self.spent_30d = view.spent
        self.images_30d = view.images
        self.models_30d = view.models
        self.loaded = True
        return None

    async def _open_stripe(
        self, item: str, make_url: Callable[[int], str]
    ) -> AsyncIterator[EventSpec | None]:
        """Fetch a Stripe page for the signed-in user and go there; one at a time.

        `busy` stays set until the browser leaves, so a second click does nothing; a retry
        after an error reuses this visit's purchase attempt, so it cannot open a second
        session for the same purchase.
        """
        if self.busy:
            return
        user = await self._current_user()
        if user is None:
            yield self._login_redirect()
            return
        self.busy = item
        self.error = ""
        yield None
        try:
            url = await asyncio.to_thread(make_url, user.user_id)
        except BillingError as exc:
            self.error = str(exc)
            self.busy = ""
            return
        yield rx.redirect(url)

    @rx.event
    async def buy_pack(self, pack_id: str) -> AsyncIterator[EventSpec | None]:
        attempt = self._attempt()

        def make(user_id: int) -> str:
            return checkout.create_pack_checkout(user_id, pack_id, attempt=attempt)

        async for event in self._open_stripe(f"pack:{pack_id}", make):
            yield event

    @rx.event
    async def subscribe(self, plan_id: str) -> AsyncIterator[EventSpec | None]:
        attempt = self._attempt()

        def make(user_id: int) -> str:
            return checkout.create_plan_checkout(user_id, plan_id, attempt=attempt)

        async for event in self._open_stripe(f"plan:{plan_id}", make):
            yield event

    @rx.event
    async def manage_plan(self) -> AsyncIterator[EventSpec | None]:
        async for event in self._open_stripe("portal", checkout.create_portal_url):
            yield event

    @rx.event
    async def load_more(self) -> AsyncIterator[EventSpec | None]:
        if self.loading_more or not self.entries:
            return
        user = await self._current_user()
        if user is None:
            yield self._login_redirect()
            return
        self.loading_more = True
        yield None
        oldest = int(self.entries[-1]["id"])
        try:
            rows, more = await asyncio.to_thread(_ledger_page, user.user_id, oldest)
        finally:
            self.loading_more = False
        self.entries = self.entries + rows
        self.has_more = more


class BillingSuccessState(SessionState):
    """The page Stripe Checkout sends the buyer back to: /billing/success?session_id=cs_..."""

    # "" while asking Stripe, then paid | pending | open | expired | error.
    status: rx.Field[str] = rx.field("")
    message: rx.Field[str] = rx.field("")
    mode: rx.Field[str] = rx.field("payment")
    credits_added: rx.Field[int] = rx.field(0)

    @rx.event
    async def on_load(self) -> AsyncIterator[EventSpec | None]:
        self.status = self.message = ""
        self.credits_added = 0
        user = await self._current_user()
        if user is None:
            yield self._login_redirect()
            return
        await self._refresh_profile(user)
        yield None
        session_id = self.router.url.query_parameters.get("session_id", "")
        if not session_id:
            self.status, self.message = "error", "This link does not name a checkout."
            return
        try:
            result = await asyncio.to_thread(checkout.confirm_checkout, user.user_id, session_id)
        except BillingError as exc:
            self.status, self.message = "error", str(exc)
            return
        self.status = result.status
        self.message = result.message
        self.mode = result.mode
        self.credits_added = result.credits_added
        self.balance = result.balance
