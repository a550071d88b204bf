"""Exactly-once effects for deliveries that may come many times (Stripe, provider webhooks).

A `processed_events` row is claimed in the same transaction as the effect it guards, so a
redelivery, a replay or a parallel twin finds the row and changes nothing.
"""

from sqlalchemy import select
from sqlmodel import Session, col

from photoai.db import insert_for, session_scope
from photoai.models import ProcessedEvent


def claim(session: Session, source: str, key: str, kind: str) -> bool:
    """Record an exactly-once effect; False when it was already recorded.

    In PostgreSQL a concurrent twin waits on the unique index until the first transaction
    ends, then sees the conflict, so the effect runs once even under parallel deliveries.
    """
    new_id = session.execute(
        insert_for(session)(ProcessedEvent)
        .values(source=source, event_id=key, event_type=kind[:80])
        .on_conflict_do_nothing(index_elements=["source", "event_id"])
        .returning(col(ProcessedEvent.id))
    ).scalar_one_or_none()
    return new_id is not None


def was_claimed(source: str, key: str) -> bool:
    with session_scope() as s:
        found = s.execute(
            select(col(ProcessedEvent.id)).where(
                col(ProcessedEvent.source) == source, col(ProcessedEvent.event_id) == key
            )
        ).first()
        return found is not None
