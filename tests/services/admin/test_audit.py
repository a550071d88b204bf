"""The audit log: written by every admin action, refused any edit by the database itself."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from photoai import db
from photoai.services.admin import access, audit
from photoai.services.admin.audit import AdminError
from tests.factories import make_user
from tests.services.admin.support import make_admin, sign_in


def test_rows_cannot_be_updated_or_deleted(any_db: str) -> None:
    entry_id = audit.record(
        None, actor_id=None, action="admin.grant", target_type="user", target_id=1, reason="r"
    )
    for statement in (
        "UPDATE audit_log SET reason = 'rewritten' WHERE id = :id",
        "DELETE FROM audit_log WHERE id = :id",
    ):
        with pytest.raises(DatabaseError, match="append-only"), db.get_engine().begin() as conn:
            conn.execute(text(statement), {"id": entry_id})
    [kept] = audit.recent()
    assert (kept.id, kept.reason, kept.actor) == (entry_id, "r", "command line")


def test_reasons_are_required_and_bounded() -> None:
    with pytest.raises(AdminError, match="Give a reason"):
        audit.clean_reason("   ")
    with pytest.raises(AdminError, match="under 500"):
        audit.clean_reason("x" * 501)
    assert audit.clean_reason("  two\n lines ") == "two lines"


def test_only_signed_in_admins_resolve_as_admins(any_db: str) -> None:
    admin_id = make_admin()
    user_id = make_user()
    assert access.admin_for_session(sign_in(admin_id)) is not None
    assert access.admin_for_session(sign_in(user_id)) is None
    assert access.admin_for_session(None) is None
    assert access.admin_for_session("forged-token") is None


def test_grant_and_revoke_are_audited(any_db: str) -> None:
    user_id = make_user(email="ops@example.com")
    token = sign_in(user_id)
    access.set_admin("OPS@example.com", True)
    assert access.admin_for_session(token) is not None
    access.set_admin("ops@example.com", False)
    assert access.admin_for_session(token) is None
    assert [a.action for a in audit.recent()] == ["admin.revoke", "admin.grant"]
    with pytest.raises(AdminError, match="No account"):
        access.set_admin("nobody@example.com", True)


def test_a_non_admin_cannot_grant(any_db: str) -> None:
    user_id = make_user(email="mallory@example.com")
    with pytest.raises(AdminError, match="Only admins"):
        access.set_admin("mallory@example.com", True, actor_id=user_id)
    assert not access.is_admin(user_id)
    assert audit.recent() == []
