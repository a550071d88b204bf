from concurrent.futures import ThreadPoolExecutor

import pytest

from photoai.db import session_scope
from photoai.models import LedgerKind, User
from photoai.services import credits
from tests.factories import make_user


def assert_consistent(user_id: int) -> None:
    assert credits.balance(user_id) == credits.ledger_sum(user_id)
    assert credits.balance(user_id) >= 0


def test_grant_is_idempotent_per_reference(any_db: str) -> None:
    uid = make_user()
    first = credits.grant(uid, 50, kind=LedgerKind.PURCHASE, reference="cs_1")
    again = credits.grant(uid, 50, kind=LedgerKind.PURCHASE, reference="cs_1")
    assert first.id == again.id
    assert credits.balance(uid) == 50
    assert_consistent(uid)


def test_hold_capture_release_moves_exact_amounts(any_db: str) -> None:
    uid = make_user(10)
    held = credits.hold(uid, 4, reference="job:1")
    assert held.delta == -4 and held.balance_after == 6
    credits.capture("job:1", 1, reference="job:1:img:1")
    credits.capture("job:1", 1, reference="job:1:img:1")  # replay: no second charge
    credits.capture("job:1", 1, reference="job:1:img:2")
    released = credits.release("job:1")
    assert released is not None and released.amount == 2
    assert credits.release("job:1") is not None  # replay returns the first release
    assert credits.balance(uid) == 8
    assert_consistent(uid)


def test_capture_cannot_exceed_hold(any_db: str) -> None:
    uid = make_user(5)
    credits.hold(uid, 2, reference="job:2")
    credits.capture("job:2", 2, reference="job:2:all")
    with pytest.raises(credits.HoldError):
        credits.capture("job:2", 1, reference="job:2:extra")
    assert credits.release("job:2") is None
    assert credits.balance(uid) == 3
    assert_consistent(uid)


def test_hold_refuses_when_short_and_changes_nothing(any_db: str) -> None:
    uid = make_user(3)
    with pytest.raises(credits.InsufficientCredits) as err:
        credits.hold(uid, 4, reference="job:3")
    assert "needs 4 credits; you have 3" in str(err.value)
    assert credits.balance(uid) == 3
    assert len(credits.recent_entries(uid)) == 1
    assert_consistent(uid)


def test_amounts_must_be_positive(any_db: str) -> None:
    uid = make_user(3)
    for bad in (0, -1):
        with pytest.raises(ValueError):
            credits.hold(uid, bad, reference=f"neg:{bad}")
    assert credits.balance(uid) == 3


def test_take_back_blocks_spending_when_credits_were_spent(any_db: str) -> None:
    uid = make_user(10)
    credits.hold(uid, 8, reference="job:4")
    credits.capture("job:4", 8, reference="job:4:done")
    result = credits.take_back(uid, 10, reference="refund:ch_1")
    assert result.shortfall == 8
    assert credits.balance(uid) == 0
    assert credits.take_back(uid, 10, reference="refund:ch_1").shortfall == 8
    with session_scope() as s:
        user = s.get(User, uid)
        assert user is not None and user.spending_blocked
    credits.grant(uid, 5, kind=LedgerKind.PURCHASE, reference="cs_2")
    with pytest.raises(credits.SpendingBlocked):
        credits.hold(uid, 1, reference="job:5")
    assert_consistent(uid)


def test_parallel_holds_never_overspend_on_postgresql(pg: str) -> None:
    """200 concurrent holds of 1 credit against a balance of 50: exactly 50 succeed."""
    uid = make_user(50)
    attempts = 200

    def try_hold(i: int) -> bool:
        try:
            credits.hold(uid, 1, reference=f"par:{i}")
        except credits.InsufficientCredits:
            return False
        return True

    with ThreadPoolExecutor(max_workers=16) as pool:
        outcomes = list(pool.map(try_hold, range(attempts)))
    successes = sum(outcomes)
    print(
        f"parallel holds: attempts={attempts} successes={successes} "
        f"balance={credits.balance(uid)} ledger_sum={credits.ledger_sum(uid)}"
    )
    assert successes == 50
    assert credits.balance(uid) == 0
    assert_consistent(uid)


def test_parallel_duplicate_references_apply_once_on_postgresql(pg: str) -> None:
    uid = make_user(100)
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda _: credits.hold(uid, 7, reference="same"), range(40)))
        list(pool.map(lambda _: credits.release("same"), range(40)))
    assert credits.balance(uid) == 100
    assert len(credits.recent_entries(uid)) == 3
    assert_consistent(uid)
