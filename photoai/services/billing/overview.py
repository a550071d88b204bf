"""What the billing page shows besides checkout: usage per day and the live plan."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlmodel import col

from photoai.db import session_scope
from photoai.models import CreditEntry, CreditHold, Job, LedgerKind, Subscription
from photoai.services.generation_runs import KIND as GENERATION_KIND
from photoai.services.training_runs import KIND as TRAINING_KIND
from photoai.settings import get_settings

_LIVE_STATUSES = ("active", "trialing", "past_due", "unpaid")


@dataclass(frozen=True)
class DayUsage:
    day: date
    credits: int
    images: int
    models: int


def _per_day(stamps: list[datetime], first: date) -> dict[date, int]:
    counts: dict[date, int] = {}
    for stamp in stamps:
        day = (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).astimezone(UTC).date()
        if day >= first:
            counts[day] = counts.get(day, 0) + 1
    return counts


def usage_summary(user_id: int, days: int = 30) -> list[DayUsage]:
    """Per UTC day, oldest first: credits spent, images generated and models trained.

    All three come from the ledger's captures (what was charged, so released holds do not
    count), each joined to the job whose hold it charged: a generation's capture is one
    delivered image, a training's is one trained model. Nothing here reads pictures or models,
    which users can delete; a charge stays in the ledger for good. Every day of the window is
    present, with zeros, so a chart needs no gap handling.
    """
    today = datetime.now(UTC).date()
    first = today - timedelta(days=max(days, 1) - 1)
    since = datetime.combine(first, datetime.min.time(), UTC)
    with session_scope() as s:
        captures = s.execute(
            select(col(CreditEntry.amount), col(CreditEntry.created_at), col(Job.kind))
            .outerjoin(CreditHold, col(CreditHold.id) == col(CreditEntry.hold_id))
            .outerjoin(
                Job,
                (col(Job.hold_reference) == col(CreditHold.reference))
                & (col(Job.user_id) == user_id),
            )
            .where(
                col(CreditEntry.user_id) == user_id,
                col(CreditEntry.kind) == LedgerKind.CAPTURE.value,
                col(CreditEntry.created_at) >= since,
            )
        ).all()
    spent: dict[date, int] = {}
    images: dict[date, int] = {}
    models: dict[date, int] = {}
    for amount, created, kind in captures:
        for day in _per_day([created], first):
            spent[day] = spent.get(day, 0) + amount
            if kind == GENERATION_KIND:
                images[day] = images.get(day, 0) + 1
            elif kind == TRAINING_KIND:
                models[day] = models.get(day, 0) + 1
    return [
        DayUsage(day, spent.get(day, 0), images.get(day, 0), models.get(day, 0))
        for day in (first + timedelta(days=i) for i in range((today - first).days + 1))
    ]


@dataclass(frozen=True)
class SubscriptionView:
    plan_id: str
    plan_name: str
    status: str
    current_period_end: datetime | None
    cancel_at_period_end: bool


def current_subscription(user_id: int) -> SubscriptionView | None:
    """The user's live plan (active, trialing or with a payment problem), if any."""
    with session_scope() as s:
        row = s.execute(
            select(Subscription)
            .where(
                col(Subscription.user_id) == user_id,
                col(Subscription.status).in_(_LIVE_STATUSES),
            )
            .order_by(col(Subscription.updated_at).desc())
            .limit(1)
        ).scalar_one_or_none()
    if row is None:
        return None
    names = {plan.id: plan.name for plan in get_settings().plans}
    return SubscriptionView(
        plan_id=row.plan,
        plan_name=names.get(row.plan, row.plan or "Plan"),
        status=row.status,
        current_period_end=row.current_period_end,
        cancel_at_period_end=row.cancel_at_period_end,
    )
