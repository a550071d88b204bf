"""Who may use the console: users with `users.is_admin`, resolved from the session on the
server for every page load and every event (the page's own word is never taken)."""

from sqlalchemy import select, update
from sqlmodel import Session, col

from photoai.db import session_scope
from photoai.models import User, utcnow
from photoai.services import accounts
from photoai.services.accounts import SessionUser
from photoai.services.admin.audit import AdminError, record


def admin_for_session(token: str | None) -> SessionUser | None:
    """The signed-in admin behind a session token; None for anyone else (signed out, not an
    admin, blocked), who must see the console as if it did not exist."""
    user = accounts.resolve_session(token)
    if user is None:
        return None
    return user if is_admin(user.user_id) else None


def is_admin(user_id: int) -> bool:
    with session_scope() as s:
        return bool(
            s.execute(
                select(col(User.is_admin)).where(
                    col(User.id) == user_id, col(User.blocked_at).is_(None)
                )
            ).scalar()
        )


def require_admin(s: Session, admin_id: int) -> None:
    """Re-checked inside each action's transaction: an admin revoked a second ago can no
    longer act, whatever their open page still shows."""
    ok = s.execute(
        select(col(User.id)).where(
            col(User.id) == admin_id,
            col(User.is_admin).is_(True),
            col(User.blocked_at).is_(None),
        )
    ).scalar_one_or_none()
    if ok is None:
        raise AdminError("Only admins can do this.")


def set_admin(email: str, admin: bool, *, actor_id: int | None = None) -> int:
    """Grant or revoke the admin role by email (the CLI's `photoai admin grant|revoke`);
    returns the user id. Recorded in the audit log even when nothing changed, since someone
    asked."""
    user_id = accounts.user_id_for_email(email)
    if user_id is None:
        raise AdminError(f"No account for {email}.")
    with session_scope() as s:
        if actor_id is not None:
            require_admin(s, actor_id)
        s.execute(
            update(User).where(col(User.id) == user_id).values(is_admin=admin, updated_at=utcnow())
        )
        record(
            s,
            actor_id=actor_id,
            action="admin.grant" if admin else "admin.revoke",
            target_type="user",
            target_id=user_id,
        )
    return user_id
