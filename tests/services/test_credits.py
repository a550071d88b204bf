from concurrent.futures import ThreadPoolExecutor

import pytest

from photoai.db import session_scope
from photoai.models import LedgerKind, User
from photoai.services import credits
from tests.factories import make_user


def assert_consistent(user_id: int) -> None:
    assert credits.balance(user_id) == credits.ledger_sum(user_id)
    assert 0 <= credits.plan_credits(user_id) <= credits.balance(user_id)


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


# --- plan credits ------------------------------------------------------------------------------


def period(uid: int, amount: int, ref: str, keep: int = 0) -> credits.EntryView:
    return credits.start_plan_period(uid, amount, keep_at_most=keep, reference=ref)


def test_plan_credits_are_spent_first_and_expire_at_renewal(any_db: str) -> None:
    uid = make_user(30)  # starter credits never expire
    period(uid, 100, "in_1")
    assert (credits.balance(uid), credits.plan_credits(uid)) == (130, 100)
    credits.hold(uid, 40, reference="job:p1")
    credits.capture("job:p1", 40, reference="job:p1:done")
    assert (credits.balance(uid), credits.plan_credits(uid)) == (90, 60)

    renewed = period(uid, 100, "in_2")
    assert renewed.balance_after == 130 and renewed.kind == "plan"
    assert (credits.balance(uid), credits.plan_credits(uid)) == (130, 100)
    expired = [e for e in credits.recent_entries(uid) if e.kind == "expire"]
    assert [(e.delta, e.reference, e.balance_after) for e in expired] == [(-60, "in_2:expire", 30)]
    assert period(uid, 100, "in_2").id == renewed.id, "a repeated renewal changes nothing"
    assert credits.balance(uid) == 130
    assert_consistent(uid)


def test_rollover_keeps_plan_credits_up_to_the_cap(any_db: str) -> None:
    uid = make_user(0)
    period(uid, 400, "in_1", keep=400)
    period(uid, 400, "in_2", keep=400)
    assert (credits.balance(uid), credits.plan_credits(uid)) == (800, 800)
    period(uid, 400, "in_3", keep=400)
    assert (credits.balance(uid), credits.plan_credits(uid)) == (800, 800), "400 expired"
    assert_consistent(uid)


def test_a_released_hold_gives_plan_credits_back_to_the_plan(any_db: str) -> None:
    """Cancelling a job must not turn expiring plan credits into lasting ones."""
    uid = make_user(10)
    period(uid, 5, "in_1")
    credits.hold(uid, 8, reference="job:p2")  # 5 plan credits, then 3 lasting ones
    assert credits.plan_credits(uid) == 0
    credits.capture("job:p2", 2, reference="job:p2:img1")  # charged to the plan part first
    credits.release("job:p2")
    assert (credits.balance(uid), credits.plan_credits(uid)) == (13, 3)
    period(uid, 5, "in_2")
    assert (credits.balance(uid), credits.plan_credits(uid)) == (15, 5), "the 3 expired"
    assert_consistent(uid)


def test_part_of_a_hold_is_released_once_plan_part_first(any_db: str) -> None:
    """An image not charged (it does not look like the user) gives its credit back at once,
    from the plan part first, as a capture would have taken it; a replay changes nothing."""
    uid = make_user(10)
    period(uid, 2, "in_1")
    credits.hold(uid, 4, reference="job:p3")  # 2 plan credits, then 2 lasting ones
    back = credits.release_part("job:p3", 1, reference="job:p3:img:0", description="not you")
    again = credits.release_part("job:p3", 1, reference="job:p3:img:0", description="not you")
    assert back.id == again.id and (back.kind, back.delta, back.balance_after) == ("release", 1, 9)
    assert (credits.balance(uid), credits.plan_credits(uid)) == (9, 1)
    credits.capture("job:p3", 1, reference="job:p3:img:1")  # the last plan credit
    with pytest.raises(credits.HoldError):
        credits.release_part("job:p3", 3, reference="job:p3:img:2")
    credits.release("job:p3")
    assert (credits.balance(uid), credits.plan_credits(uid)) == (11, 1)
    assert_consistent(uid)


def test_a_take_back_removes_lasting_credits_first(any_db: str) -> None:
    uid = make_user(0)
    credits.grant(uid, 50, kind=LedgerKind.PURCHASE, reference="cs_p")
    period(uid, 100, "in_1")
    credits.take_back(uid, 50, reference="refund:cs_p")
    assert (credits.balance(uid), credits.plan_credits(uid)) == (100, 100)
    credits.take_back(uid, 30, reference="refund:more")
    assert (credits.balance(uid), credits.plan_credits(uid)) == (70, 70)
    assert_consistent(uid)


def test_a_refunded_plan_period_takes_plan_credits_first(any_db: str) -> None:
    uid = make_user(0)
    credits.grant(uid, 50, kind=LedgerKind.PURCHASE, reference="cs_q")
    period(uid, 100, "in_1")
    credits.take_back(uid, 100, reference="refund:in_1", plan_first=True)
    assert (credits.balance(uid), credits.plan_credits(uid)) == (50, 0), "the pack stays"
    assert_consistent(uid)


def test_parallel_spending_and_renewals_keep_the_plan_pool_exact_on_postgresql(pg: str) -> None:
    """Holds, captures, releases and repeated renewals racing on one account."""
    uid = make_user(100)
    period(uid, 120, "in_0")

    def spend(i: int) -> None:
        try:
            credits.hold(uid, 3, reference=f"pp:{i}")
        except credits.InsufficientCredits:
            return
        credits.capture(f"pp:{i}", 1, reference=f"pp:{i}:img")
        if i % 2:
            credits.release(f"pp:{i}")

    def renew(i: int) -> None:
        period(uid, 120, f"in_{1 + i % 3}")  # three invoices, each delivered many times

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda i: spend(i) if i % 4 else renew(i), range(160)))
    for i in range(160):
        if i % 4:
            credits.release(f"pp:{i}")  # settle every hold: what is left goes back
    entries = credits.recent_entries(uid, limit=1000)
    assert sum(e.kind == "plan" for e in entries) == 4, "each invoice granted once"
    charged = sum(e.amount for e in entries if e.kind == "capture")
    expired = sum(e.amount for e in entries if e.kind == "expire")
    print(f"plan pool race: charged={charged} expired={expired} balance={credits.balance(uid)}")
    assert credits.balance(uid) == 100 + 4 * 120 - charged - expired
    assert_consistent(uid)


def test_adjustments_remove_lasting_credits_first_and_never_go_negative(any_db: str) -> None:
    uid = make_user(10)
    credits.start_plan_period(uid, 20, keep_at_most=0, reference="plan:1")
    assert (credits.balance(uid), credits.plan_credits(uid)) == (30, 20)
    removed = credits.adjust(uid, -15, reference="adj:1", description="correction")
    assert (removed.kind, removed.delta, removed.balance_after) == ("adjustment", -15, 15)
    assert credits.plan_credits(uid) == 15  # the 10 lasting credits went first
    with pytest.raises(credits.AdjustmentRefused, match="balance negative \\(it is 15\\)"):
        credits.adjust(uid, -16, reference="adj:2", description="too much")
    assert credits.adjust(uid, -15, reference="adj:1", description="again").id == removed.id
    added = credits.adjust(uid, 4, reference="adj:3", description="goodwill")
    assert added.balance_after == 19 and credits.plan_credits(uid) == 15
    with pytest.raises(ValueError):
        credits.adjust(uid, 0, reference="adj:4", description="nothing")
    assert_consistent(uid)
