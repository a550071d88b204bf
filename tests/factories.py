"""Rows for tests, written the way the product writes them."""

import uuid

from photoai.db import session_scope
from photoai.models import LedgerKind, User
from photoai.services import credits
from photoai.services.privacy import consent


def make_user(balance: int = 0, email: str | None = None, *, consented: bool = True) -> int:
    """A user whose starting balance comes from a real ledger grant, who has agreed to the
    processing of their face photos unless `consented` is False."""
    with session_scope() as s:
        user = User(email=email or f"u{uuid.uuid4().hex[:10]}@example.com", password_hash="x")
        s.add(user)
        s.flush()
        assert user.id is not None
        user_id = user.id
    if balance:
        credits.grant(user_id, balance, kind=LedgerKind.ADJUSTMENT, reference=f"seed:{user_id}")
    if consented:
        consent.record_consent(user_id)
    return user_id


def purchase_attempt() -> str:
    """A new click on a Buy button, as the billing page makes one per visit."""
    return uuid.uuid4().hex
