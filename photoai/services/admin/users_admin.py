"""Accounts as an operator sees them: search, credits and ledger, adjustments, blocking."""

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlmodel import col

from photoai.db import session_scope
from photoai.models import AuthSession, CreditEntry, User, utcnow
from photoai.services import credit_history, credits, session_epochs
from photoai.services.admin import audit
from photoai.services.admin.access import require_admin
from photoai.services.admin.audit import AdminError
from photoai.services.credits import EntryView

MAX_ADJUSTMENT = 1_000_000
_REQUEST_KEY = re.compile(r"[A-Za-z0-9_-]{8,64}")


@dataclass(frozen=True)
class UserRow:
    id: int
    email: str
    name: str
    credit_balance: int
    is_admin: bool
    blocked: bool
    created_at: datetime


@dataclass(frozen=True)
class UserDetail:
    user: UserRow
    plan_credits: int
    spending_blocked: bool
    blocked_at: datetime | None
    ledger: list[EntryView]


def _row(user: User) -> UserRow:
    assert user.id is not None
    return UserRow(
        id=user.id,
        email=user.email,
        name=user.name,
        credit_balance=user.credit_balance,
        is_admin=user.is_admin,
        blocked=user.blocked_at is not None,
        created_at=user.created_at,
    )


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search(query: str, *, limit: int = 25, before_id: int | None = None) -> list[UserRow]:
    """Accounts whose email contains `query` (any case), newest first; a whole email or
    `#id` finds exactly that account."""
    text = (query or "").strip().lower()[:254]
    with session_scope() as s:
        stmt = select(User)
        if text.startswith("#") and text[1:].isdigit():
            stmt = stmt.where(col(User.id) == int(text[1:]))
        elif text:
            stmt = stmt.where(col(User.email).like(f"%{_escape_like(text)}%", escape="\\"))
        if before_id is not None:
            stmt = stmt.where(col(User.id) < before_id)
        rows = s.execute(stmt.order_by(col(User.id).desc()).limit(limit)).scalars()
        return [_row(u) for u in rows]


def detail(user_id: int, *, ledger_limit: int = 50) -> UserDetail:
    with session_scope() as s:
        user = s.get(User, user_id)
        if user is None:
            raise AdminError(f"No account #{user_id}.")
        row = _row(user)
        plan, spending_blocked, blocked_at = (
            user.plan_credits,
            user.spending_blocked,
            user.blocked_at,
        )
    ledger = credit_history.history(user_id, limit=ledger_limit)
    return UserDetail(row, plan, spending_blocked, blocked_at, ledger)


def adjust_credits(admin_id: int, user_id: int, delta: int, reason: str, request_key: str) -> int:
    """Add (`delta` > 0) or remove credits with a reason; returns the new balance.

    One transaction writes the ledger row, the balance and the audit row. `request_key`
    (one per form) makes a double submit a no-op. A removal that would make the balance
    negative is refused and changes nothing.
    """
    why = audit.clean_reason(reason)
    if not isinstance(delta, int) or isinstance(delta, bool) or delta == 0:
        raise AdminError("Enter a whole number of credits other than 0 (negative removes).")
    if abs(delta) > MAX_ADJUSTMENT:
        raise AdminError(f"Adjust by at most {MAX_ADJUSTMENT:,} credits at once.")
    if not _REQUEST_KEY.fullmatch(request_key or ""):
        raise AdminError("This form could not be identified; reload the page.")
    reference = f"admin:{admin_id}:{request_key}"
    with session_scope() as s:
        require_admin(s, admin_id)
        if s.get(User, user_id) is None:
            raise AdminError(f"No account #{user_id}.")
        done = s.execute(
            select(col(CreditEntry.user_id), col(CreditEntry.balance_after)).where(
                col(CreditEntry.reference) == reference
            )
        ).one_or_none()
        if done is not None:
            if done.user_id != user_id:
                raise AdminError("This form could not be identified; reload the page.")
            return int(done.balance_after)
        try:
            entry = credits.adjust(
                user_id, delta, reference=reference, description=f"Adjustment: {why}", session=s
            )
        except credits.AdjustmentRefused as exc:
            raise AdminError(str(exc)) from exc
        audit.record(
            s,
            actor_id=admin_id,
            action="credits.adjust",
            target_type="user",
            target_id=user_id,
            reason=why,
            details={"delta": delta, "balance_after": entry.balance_after, "entry": entry.id},
        )
        return entry.balance_after


def set_blocked(admin_id: int, user_id: int, blocked: bool, reason: str) -> None:
    """Block an account (it cannot sign in, and every session it has ends now) or unblock it.
    An admin cannot block themselves, so a console always keeps someone who can undo it."""
    why = audit.clean_reason(reason)
    if blocked and admin_id == user_id:
        raise AdminError("You cannot block your own account.")
    now = utcnow()
    with session_scope() as s:
        require_admin(s, admin_id)
        changed = s.execute(
            update(User)
            .where(
                col(User.id) == user_id,
                col(User.blocked_at).is_(None) if blocked else col(User.blocked_at).is_not(None),
            )
            .values(blocked_at=now if blocked else None, updated_at=now)
            .returning(col(User.id))
        ).scalar_one_or_none()
        if changed is None:
            if s.get(User, user_id) is None:
                raise AdminError(f"No account #{user_id}.")
            raise AdminError(
                "This account is already blocked." if blocked else "This account is not blocked."
            )
        revoked: list[str] = []
        if blocked:
            revoked = list(
                s.execute(
                    update(AuthSession)
                    .where(
                        col(AuthSession.user_id) == user_id, col(AuthSession.revoked_at).is_(None)
                    )
                    .values(revoked_at=now)
                    .returning(col(AuthSession.token_hash))
                ).scalars()
            )
            # Pages re-check a cached session through its epoch, not the database.
            session_epochs.bump_after_commit(s, revoked)
        audit.record(
            s,
            actor_id=admin_id,
            action="user.block" if blocked else "user.unblock",
            target_type="user",
            target_id=user_id,
            reason=why,
            details={"sessions_revoked": len(revoked)} if blocked else {},
        )
