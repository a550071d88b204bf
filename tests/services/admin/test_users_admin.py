"""Operators adjust credits (with a reason, never below zero) and block accounts."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from photoai.services import accounts, credits
from photoai.services.admin import audit, users_admin
from photoai.services.admin.audit import AdminError
from tests.factories import make_user
from tests.services.admin.support import PASSWORD, make_admin, sign_in


def assert_consistent(user_id: int) -> None:
    assert credits.balance(user_id) == credits.ledger_sum(user_id)
    assert 0 <= credits.plan_credits(user_id) <= credits.balance(user_id)


def test_adjustments_go_through_the_ledger_and_the_audit_log(any_db: str) -> None:
    admin_id = make_admin()
    user_id = make_user(10)
    assert users_admin.adjust_credits(admin_id, user_id, 25, "goodwill", "key-00000001") == 35
    assert users_admin.adjust_credits(admin_id, user_id, -5, "typo fix", "key-00000002") == 30
    # The same form sent twice changes nothing more.
    assert users_admin.adjust_credits(admin_id, user_id, -5, "typo fix", "key-00000002") == 30
    assert credits.balance(user_id) == 30
    assert_consistent(user_id)
    found = users_admin.detail(user_id)
    assert [(e.kind, e.delta) for e in found.ledger[:2]] == [("adjustment", -5), ("adjustment", 25)]
    actions = audit.recent(target=("user", str(user_id)))
    assert [(a.action, a.reason, a.details["delta"]) for a in actions] == [
        ("credits.adjust", "typo fix", -5),
        ("credits.adjust", "goodwill", 25),
    ]


@pytest.mark.parametrize(
    ("delta", "reason", "key", "message"),
    [
        (5, "", "key-00000003", "Give a reason"),
        (5, "   ", "key-00000003", "Give a reason"),
        (0, "why", "key-00000003", "other than 0"),
        (-11, "too much", "key-00000003", "would make the balance negative"),
        (2_000_000, "huge", "key-00000003", "at most 1,000,000"),
        (5, "why", "bad key!", "reload the page"),
    ],
)
def test_bad_adjustments_are_refused_and_change_nothing(
    any_db: str, delta: int, reason: str, key: str, message: str
) -> None:
    admin_id = make_admin()
    user_id = make_user(10)
    with pytest.raises(AdminError, match=message):
        users_admin.adjust_credits(admin_id, user_id, delta, reason, key)
    assert credits.balance(user_id) == 10
    assert len(credits.recent_entries(user_id)) == 1
    assert audit.recent() == []


def test_a_non_admin_cannot_adjust_or_block(any_db: str) -> None:
    user_id = make_user(10)
    other = make_user(10)
    with pytest.raises(AdminError, match="Only admins"):
        users_admin.adjust_credits(user_id, other, 100, "free money", "key-00000004")
    with pytest.raises(AdminError, match="Only admins"):
        users_admin.set_blocked(user_id, other, True, "spite")
    assert credits.balance(other) == 10
    assert users_admin.detail(other).blocked_at is None
    assert audit.recent() == []


def test_concurrent_removals_never_overdraw(pg: str) -> None:
    admin_id = make_admin()
    user_id = make_user(100)

    def remove(n: int) -> str:
        try:
            users_admin.adjust_credits(admin_id, user_id, -7, f"removal {n}", f"conc-{n:08d}")
            return "ok"
        except AdminError:
            return "refused"

    with ThreadPoolExecutor(max_workers=16) as pool:
        outcomes = list(pool.map(remove, range(30)))
    assert outcomes.count("ok") == 14  # 14 x 7 = 98 of 100
    assert credits.balance(user_id) == 2
    assert_consistent(user_id)
    assert len(audit.recent(limit=100)) == 14


def test_blocking_ends_sessions_and_sign_in_until_unblocked(any_db: str) -> None:
    admin_id = make_admin()
    user_id = accounts.register("blocked@example.com", PASSWORD)
    token = sign_in(user_id)
    pending_ticket = accounts.create_login_ticket(user_id, "/dashboard")
    users_admin.set_blocked(admin_id, user_id, True, "chargeback fraud")
    assert accounts.resolve_session(token) is None
    with pytest.raises(accounts.AccountBlocked, match="blocked"):
        accounts.authenticate("blocked@example.com", PASSWORD, "127.0.0.1")
    with pytest.raises(accounts.AccountBlocked):
        accounts.redeem_login_ticket(pending_ticket, "pytest", "127.0.0.1")
    # A wrong password still gets the usual answer: the block is told only to the owner.
    with pytest.raises(accounts.AccountError, match="incorrect"):
        accounts.authenticate("blocked@example.com", "wrong-password-1", "127.0.0.1")
    with pytest.raises(AdminError, match="already blocked"):
        users_admin.set_blocked(admin_id, user_id, True, "again")
    users_admin.set_blocked(admin_id, user_id, False, "cleared")
    assert accounts.authenticate("blocked@example.com", PASSWORD, "127.0.0.1") == user_id
    assert accounts.resolve_session(token) is None  # revoked sessions stay revoked
    assert [a.action for a in audit.recent()] == ["user.unblock", "user.block"]
    assert audit.recent()[1].details == {"sessions_revoked": 1}


def test_an_admin_cannot_block_themselves(any_db: str) -> None:
    admin_id = make_admin()
    with pytest.raises(AdminError, match="your own account"):
        users_admin.set_blocked(admin_id, admin_id, True, "oops")


def test_search_by_part_of_an_email_or_id(any_db: str) -> None:
    first = make_user(email="ada@example.com")
    make_user(email="grace@example.org")
    assert [u.email for u in users_admin.search("EXAMPLE.org")] == ["grace@example.org"]
    assert [u.id for u in users_admin.search(f"#{first}")] == [first]
    assert [u.email for u in users_admin.search("%")] == []  # no wildcard injection
    assert len(users_admin.search("")) == 2
