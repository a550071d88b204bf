"""Stripe events this installation received and applied, newest first.

`processed_events` holds an event once its effect committed (billing.sync claims it in the
same transaction), so every row listed here was applied exactly once, whether it came by
webhook or through `photoai billing reconcile`. Events of types we do not handle are
acknowledged and not kept. Deliveries refused (bad signature) or failed
(answered 5xx for Stripe to retry) leave no row: they are counted in /metrics
(`photoai_webhooks_rejected_total`), and `photoai billing reconcile` applies what was missed.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlmodel import col

from photoai.db import session_scope
from photoai.models import ProcessedEvent
from photoai.services.billing.sync import SOURCE


@dataclass(frozen=True)
class StripeEvent:
    id: int
    event_id: str
    event_type: str
    processed_at: datetime


def recent(*, limit: int = 50, before_id: int | None = None) -> list[StripeEvent]:
    with session_scope() as s:
        query = select(ProcessedEvent).where(col(ProcessedEvent.source) == SOURCE)
        if before_id is not None:
            query = query.where(col(ProcessedEvent.id) < before_id)
        rows = s.execute(query.order_by(col(ProcessedEvent.id).desc()).limit(limit)).scalars()
        found = []
        for row in rows:
            assert row.id is not None
            found.append(
                StripeEvent(
                    id=row.id,
                    event_id=row.event_id,
                    event_type=row.event_type,
                    processed_at=row.processed_at,
                )
            )
        return found
