"""The audit log: one row per admin action, readable by admins, never edited.

Rows are only ever inserted (this module has no update or delete), and the database refuses
UPDATE and DELETE on the table with a trigger (migration 0010), so not even a bug or a
hand-typed SQL statement through the app's connection can rewrite history.
"""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from photoai.db import use_session
from photoai.models import AuditEntry, User

MAX_REASON = 500


class AdminError(Exception):
    """A refusal with a message meant for the operator; nothing was changed."""


def clean_reason(reason: str, *, required: bool = True) -> str:
    """Reasons are free text for the record: one line, at most MAX_REASON characters."""
    cleaned = " ".join((reason or "").split())
    if required and not cleaned:
        raise AdminError("Give a reason; it is kept in the audit log.")
    if len(cleaned) > MAX_REASON:
        raise AdminError(f"Keep the reason under {MAX_REASON} characters.")
    return cleaned


def record(
    session: Session | None,
    *,
    actor_id: int | None,
    action: str,
    target_type: str,
    target_id: int | str,
    reason: str = "",
    details: dict[str, Any] | None = None,
) -> int:
    """Append one row, in the caller's transaction when given one (so the action and its
    record commit together); returns its id."""
    with use_session(session) as s:
        entry = AuditEntry(
            actor_id=actor_id,
            action=action,
            target_type=target_type,
            target_id=str(target_id),
            reason=reason,
            details=json.dumps(details or {}, sort_keys=True),
        )
        s.add(entry)
        s.flush()
        assert entry.id is not None
        return entry.id


@dataclass(frozen=True)
class AuditView:
    id: int
    actor: str  # the admin's current email; "command line" for CLI actions
    action: str
    target_type: str
    target_id: str
    reason: str
    details: dict[str, Any]
    created_at: datetime


def recent(
    *, limit: int = 50, before_id: int | None = None, target: tuple[str, str] | None = None
) -> list[AuditView]:
    """Newest first, keyset-paged by id; optionally only what concerned one target."""
    with use_session(None) as s:
        query = select(AuditEntry, col(User.email)).join(
            User, col(User.id) == col(AuditEntry.actor_id), isouter=True
        )
        if before_id is not None:
            query = query.where(col(AuditEntry.id) < before_id)
        if target is not None:
            query = query.where(
                col(AuditEntry.target_type) == target[0], col(AuditEntry.target_id) == target[1]
            )
        rows = s.execute(query.order_by(col(AuditEntry.id).desc()).limit(limit)).all()
    views = []
    for entry, email in rows:
        assert entry.id is not None
        views.append(
            AuditView(
                id=entry.id,
                actor=email or ("command line" if entry.actor_id is None else "unknown"),
                action=entry.action,
                target_type=entry.target_type,
                target_id=entry.target_id,
                reason=entry.reason,
                details=json.loads(entry.details or "{}"),
                created_at=entry.created_at,
            )
        )
    return views
