"""The credits ledger: the only code that changes a balance.

Every change is a `CreditEntry` with a unique idempotency reference, written in the same
transaction as an atomic conditional update of `users.credit_balance`. Repeating a call with
the same reference changes nothing and returns the first outcome, so jobs, webhooks and retries
can call these functions as often as they like. The balance never goes negative and always
equals the sum of the user's ledger deltas.

A hold moves credits out of the spendable balance; capture turns held credits into a charge
(no balance change); release gives back whatever was neither captured nor released yet.

Plan credits (`users.plan_credits`) are the part of the balance a plan period added and a
later renewal may expire. They are spent first, a hold remembers how many of them it holds so a
release puts them back where they came from (cancelling a job cannot turn expiring credits into
lasting ones), and a take-back removes lasting credits first.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, delete, func, select, update
from sqlmodel import Session, col

from photoai.db import insert_for, use_session
from photoai.models import CreditEntry, CreditHold, LedgerKind, User
from photoai.observe import metrics
from photoai.wording import counted


class CreditError(Exception):
    """Base for refusals a user can be shown as they are."""


class InsufficientCredits(CreditError):
    def __init__(self, needed: int, balance: int) -> None:
        super().__init__(f"This needs {counted(needed, 'credit')}; you have {balance:,}.")
        self.needed = needed
        self.balance = balance


class SpendingBlocked(CreditError):
    def __init__(self) -> None:
        super().__init__(
            "Spending is paused on this account because a payment was refunded or disputed "
            "after its credits were used. Contact support to resolve it."
        )


class HoldError(CreditError):
    """A capture or release that does not fit the hold it names."""


@dataclass(frozen=True)
class EntryView:
    id: int
    kind: str
    amount: int
    delta: int
    balance_after: int
    reference: str
    description: str
    created_at: datetime


def entry_view(entry: CreditEntry) -> EntryView:
    assert entry.id is not None
    return EntryView(
        id=entry.id,
        kind=entry.kind,
        amount=entry.amount,
        delta=entry.delta,
        balance_after=entry.balance_after,
        reference=entry.reference,
        description=entry.description,
        created_at=entry.created_at,
    )


def _claim_reference(
    session: Session,
    *,
    user_id: int,
    kind: LedgerKind,
    amount: int,
    delta: int,
    reference: str,
    description: str,
    hold_id: int | None = None,
) -> int | None:
    """Insert the ledger row first: its unique reference is the idempotency lock.

    Returns the new row id, or None when the reference was already used (in PostgreSQL a
    concurrent twin waits here until the first transaction ends).
    """
    stmt = (
        insert_for(session)(CreditEntry)
        .values(
            user_id=user_id,
            kind=kind.value,
            amount=amount,
            delta=delta,
            balance_after=0,
            reference=reference,
            description=description[:300],
            hold_id=hold_id,
        )
        .on_conflict_do_nothing(index_elements=["reference"])
        .returning(col(CreditEntry.id))
    )
    return session.execute(stmt).scalar_one_or_none()


def _existing(session: Session, reference: str) -> CreditEntry:
    return session.execute(
        select(CreditEntry).where(col(CreditEntry.reference) == reference)
    ).scalar_one()


def _finish_entry(session: Session, entry_id: int, balance_after: int) -> CreditEntry:
    session.execute(
        update(CreditEntry)
        .where(col(CreditEntry.id) == entry_id)
        .values(balance_after=balance_after)
    )
    return session.execute(select(CreditEntry).where(col(CreditEntry.id) == entry_id)).scalar_one()


def _add_to_balance(session: Session, user_id: int, delta: int, plan_delta: int = 0) -> int:
    """Apply a delta the caller knows the balance can take; locks the user row so
    `balance_after` is exact. `plan_delta` moves the plan-credit part along with it."""
    new_balance = session.execute(
        update(User)
        .where(col(User.id) == user_id)
        .values(
            credit_balance=col(User.credit_balance) + delta,
            plan_credits=col(User.plan_credits) + plan_delta,
        )
        .returning(col(User.credit_balance))
    ).scalar_one_or_none()
    if new_balance is None:
        raise CreditError(f"Unknown user {user_id}.")
    return int(new_balance)


def _positive(amount: int) -> None:
    if not isinstance(amount, int) or amount <= 0:
        raise ValueError(f"credit amounts are positive integers, got {amount!r}")


def grant(
    user_id: int,
    amount: int,
    *,
    kind: LedgerKind,
    reference: str,
    description: str = "",
    session: Session | None = None,
) -> EntryView:
    """Add lasting credits (starter, purchase, admin adjustment); plan periods go through
    `start_plan_period`, which also expires what the plan does not carry over."""
    _positive(amount)
    with use_session(session) as s:
        entry_id = _claim_reference(
            s,
            user_id=user_id,
            kind=kind,
            amount=amount,
            delta=amount,
            reference=reference,
            description=description,
        )
        if entry_id is None:
            return entry_view(_existing(s, reference))
        return entry_view(_finish_entry(s, entry_id, _add_to_balance(s, user_id, amount)))


class AdjustmentRefused(CreditError):
    """An operator's adjustment that would leave the balance below zero."""


def adjust(
    user_id: int,
    delta: int,
    *,
    reference: str,
    description: str,
    session: Session | None = None,
) -> EntryView:
    """An operator's correction, up or down. A removal is one conditional UPDATE, so however
    many run at once the balance never goes below zero: one that would is refused whole.
    Lasting credits go first, plan credits only for what the rest cannot cover."""
    if not isinstance(delta, int) or delta == 0:
        raise ValueError(f"an adjustment is a non-zero integer, got {delta!r}")
    if delta > 0:
        return grant(
            user_id,
            delta,
            kind=LedgerKind.ADJUSTMENT,
            reference=reference,
            description=description,
            session=session,
        )
    amount = -delta
    with use_session(session) as s:
        entry_id = _claim_reference(
            s,
            user_id=user_id,
            kind=LedgerKind.ADJUSTMENT,
            amount=amount,
            delta=delta,
            reference=reference,
            description=description,
        )
        if entry_id is None:
            return entry_view(_existing(s, reference))
        left = col(User.credit_balance) - amount
        new_balance = s.execute(
            update(User)
            .where(col(User.id) == user_id, col(User.credit_balance) >= amount)
            .values(
                credit_balance=left,
                plan_credits=case(
                    (col(User.plan_credits) > left, left), else_=col(User.plan_credits)
                ),
            )
            .returning(col(User.credit_balance))
        ).scalar_one_or_none()
        if new_balance is None:
            current = s.execute(
                select(col(User.credit_balance)).where(col(User.id) == user_id)
            ).scalar_one_or_none()
            s.rollback()
            if current is None:
                raise CreditError(f"Unknown user {user_id}.")
            raise AdjustmentRefused(
                f"Removing {counted(amount, 'credit')} would make the balance negative "
                f"(it is {int(current):,})."
            )
        return entry_view(_finish_entry(s, entry_id, int(new_balance)))


def hold(
    user_id: int,
    amount: int,
    *,
    reference: str,
    description: str = "",
    session: Session | None = None,
) -> EntryView:
    """Set credits aside for a job; refuses with a clear reason when the user cannot pay."""
    _positive(amount)
    with use_session(session) as s:
        hold_id = _insert_hold(s, user_id, amount, reference)
        entry_id = _claim_reference(
            s,
            user_id=user_id,
            kind=LedgerKind.HOLD,
            amount=amount,
            delta=-amount,
            reference=reference,
            description=description,
            hold_id=hold_id,
        )
        if entry_id is None:
            return entry_view(_existing(s, reference))
        taken = s.execute(
            update(User)
            .where(
                col(User.id) == user_id,
                col(User.credit_balance) >= amount,
                col(User.spending_blocked).is_(False),
            )
            .values(credit_balance=col(User.credit_balance) - amount)
            .returning(col(User.credit_balance), col(User.plan_credits))
        ).one_or_none()
        if taken is None:
            user = s.get(User, user_id)
            s.rollback()
            if user is None:
                raise CreditError(f"Unknown user {user_id}.")
            if user.spending_blocked:
                raise SpendingBlocked()
            raise InsufficientCredits(amount, user.credit_balance)
        # The update above locked the row, so its plan-credit figure stays exact until commit.
        plan_part = min(int(taken.plan_credits), amount)
        if plan_part:
            s.execute(
                update(User)
                .where(col(User.id) == user_id)
                .values(plan_credits=col(User.plan_credits) - plan_part)
            )
            s.execute(
                update(CreditHold)
                .where(col(CreditHold.id) == hold_id)
                .values(plan_amount=plan_part)
            )
        metrics.credits_moved(s, "held", amount)
        return entry_view(_finish_entry(s, entry_id, int(taken.credit_balance)))


def _insert_hold(s: Session, user_id: int, amount: int, reference: str) -> int:
    s.execute(
        insert_for(s)(CreditHold)
        .values(user_id=user_id, amount=amount, reference=reference)
        .on_conflict_do_nothing(index_elements=["reference"])
    )
    found = s.execute(
        select(col(CreditHold.id), col(CreditHold.user_id)).where(
            col(CreditHold.reference) == reference
        )
    ).one()
    if found.user_id != user_id:
        raise HoldError("That hold reference belongs to another account.")
    return int(found.id)


def _get_hold(s: Session, hold_reference: str) -> CreditHold:
    found = s.execute(
        select(CreditHold).where(col(CreditHold.reference) == hold_reference)
    ).scalar_one_or_none()
    if found is None:
        raise HoldError(f"No credit hold {hold_reference!r}.")
    return found


def _take_from_hold(
    s: Session, held: CreditHold, hold_reference: str, column: str, amount: int
) -> int:
    """Move `amount` of what a hold still holds into its `captured` or `released` column, in
    one conditional UPDATE, counting it against the hold's plan part first; returns how many
    plan credits that was. Refuses (and rolls back) when less than `amount` is left."""
    plan_before = held.plan_amount  # read now: the update below refreshes `held`
    plan_left = s.execute(
        update(CreditHold)
        .where(
            col(CreditHold.id) == held.id,
            col(CreditHold.amount) - col(CreditHold.captured) - col(CreditHold.released) >= amount,
        )
        .values(
            {
                column: getattr(CreditHold, column) + amount,
                "plan_amount": case(
                    (col(CreditHold.plan_amount) > amount, col(CreditHold.plan_amount) - amount),
                    else_=0,
                ),
            }
        )
        .returning(col(CreditHold.plan_amount))
    ).scalar_one_or_none()
    if plan_left is None:
        s.rollback()
        raise HoldError(f"Hold {hold_reference!r} has fewer than {amount} credits left.")
    return plan_before - int(plan_left)


def capture(
    hold_reference: str,
    amount: int,
    *,
    reference: str,
    description: str = "",
    session: Session | None = None,
) -> EntryView:
    """Charge part of a hold, e.g. one delivered image; never more than is still held."""
    _positive(amount)
    with use_session(session) as s:
        held = _get_hold(s, hold_reference)
        entry_id = _claim_reference(
            s,
            user_id=held.user_id,
            kind=LedgerKind.CAPTURE,
            amount=amount,
            delta=0,
            reference=reference,
            description=description,
            hold_id=held.id,
        )
        if entry_id is None:
            return entry_view(_existing(s, reference))
        _take_from_hold(s, held, hold_reference, "captured", amount)
        metrics.credits_moved(s, "captured", amount)
        return entry_view(_finish_entry(s, entry_id, _add_to_balance(s, held.user_id, 0)))


def release_part(
    hold_reference: str,
    amount: int,
    *,
    reference: str,
    description: str = "",
    session: Session | None = None,
) -> EntryView:
    """Give back part of a hold, e.g. one delivered image not charged; never more than is
    still held. Like `capture`, the image's credits count against the hold's plan part first,
    so the plan credits go back to the plan."""
    _positive(amount)
    with use_session(session) as s:
        held = _get_hold(s, hold_reference)
        entry_id = _claim_reference(
            s,
            user_id=held.user_id,
            kind=LedgerKind.RELEASE,
            amount=amount,
            delta=amount,
            reference=reference,
            description=description,
            hold_id=held.id,
        )
        if entry_id is None:
            return entry_view(_existing(s, reference))
        plan_part = _take_from_hold(s, held, hold_reference, "released", amount)
        metrics.credits_moved(s, "released", amount)
        new_balance = _add_to_balance(s, held.user_id, amount, plan_part)
        return entry_view(_finish_entry(s, entry_id, new_balance))


def release(
    hold_reference: str,
    *,
    reference: str | None = None,
    description: str = "",
    session: Session | None = None,
) -> EntryView | None:
    """Give back everything still held; None when nothing was left to give back."""
    ref = reference or f"{hold_reference}:release"
    with use_session(session) as s:
        while True:
            done = s.execute(
                select(CreditEntry).where(col(CreditEntry.reference) == ref)
            ).scalar_one_or_none()
            if done is not None:
                return entry_view(done)
            held = _get_hold(s, hold_reference)
            remaining = held.amount - held.captured - held.released
            plan_part = held.plan_amount  # read now: the update below refreshes `held`
            if remaining <= 0:
                return None
            entry_id = _claim_reference(
                s,
                user_id=held.user_id,
                kind=LedgerKind.RELEASE,
                amount=remaining,
                delta=remaining,
                reference=ref,
                description=description,
                hold_id=held.id,
            )
            if entry_id is None:
                return entry_view(_existing(s, ref))
            swapped = s.execute(
                update(CreditHold)
                .where(
                    col(CreditHold.id) == held.id,
                    col(CreditHold.captured) == held.captured,
                    col(CreditHold.released) == held.released,
                )
                .values(released=col(CreditHold.released) + remaining, plan_amount=0)
                .returning(col(CreditHold.id))
            ).scalar_one_or_none()
            if swapped is not None:
                new_balance = _add_to_balance(s, held.user_id, remaining, plan_part)
                metrics.credits_moved(s, "released", remaining)
                return entry_view(_finish_entry(s, entry_id, new_balance))
            # A capture landed between our read and write: drop our row and read again.
            s.execute(delete(CreditEntry).where(col(CreditEntry.id) == entry_id))
            s.expire_all()


@dataclass(frozen=True)
class TakeBack:
    entry: EntryView | None
    shortfall: int


def take_back(
    user_id: int,
    amount: int,
    *,
    reference: str,
    description: str = "",
    plan_first: bool = False,
    session: Session | None = None,
) -> TakeBack:
    """Remove credits after a refund or dispute.

    Takes what the balance still has; if the credits were already spent, the account's spending
    is blocked rather than letting the balance go negative. A refunded plan invoice takes plan
    credits first (`plan_first`), a refunded pack lasting credits first.
    """
    _positive(amount)
    with use_session(session) as s:
        entry_id = _claim_reference(
            s,
            user_id=user_id,
            kind=LedgerKind.REFUND,
            amount=0,
            delta=0,
            reference=reference,
            description=description,
        )
        if entry_id is None:
            existing = _existing(s, reference)
            return TakeBack(entry_view(existing), amount - existing.amount)
        while True:
            current = s.execute(
                select(col(User.credit_balance)).where(col(User.id) == user_id)
            ).scalar_one()
            taken = min(int(current), amount)
            left = int(current) - taken
            new_balance = s.execute(
                update(User)
                .where(col(User.id) == user_id, col(User.credit_balance) == current)
                .values(
                    credit_balance=left,
                    plan_credits=(
                        case(
                            (col(User.plan_credits) > taken, col(User.plan_credits) - taken),
                            else_=0,
                        )
                        if plan_first
                        else case(
                            (col(User.plan_credits) > left, left), else_=col(User.plan_credits)
                        )
                    ),
                    spending_blocked=col(User.spending_blocked) | (taken < amount),
                )
                .returning(col(User.credit_balance))
            ).scalar_one_or_none()
            if new_balance is not None:
                break
            s.expire_all()
        s.execute(
            update(CreditEntry)
            .where(col(CreditEntry.id) == entry_id)
            .values(amount=taken, delta=-taken)
        )
        return TakeBack(entry_view(_finish_entry(s, entry_id, int(new_balance))), amount - taken)


def start_plan_period(
    user_id: int,
    amount: int,
    *,
    keep_at_most: int,
    reference: str,
    description: str = "",
    session: Session | None = None,
) -> EntryView:
    """A paid plan period: unused plan credits beyond `keep_at_most` expire, then the period's
    credits join the plan pool. Purchased, starter and adjustment credits never expire.

    The expiry is its own ledger row (`<reference>:expire`) written just before the grant, so
    the ledger reads in order and a repeated call finds the grant and changes nothing.
    """
    _positive(amount)
    if keep_at_most < 0:
        raise ValueError("keep_at_most must not be negative")
    with use_session(session) as s:
        done = s.execute(
            select(CreditEntry).where(col(CreditEntry.reference) == reference)
        ).scalar_one_or_none()
        if done is not None:
            return entry_view(done)
        pool = s.execute(  # a no-op write that takes the row lock before the pool is read
            update(User)
            .where(col(User.id) == user_id)
            .values(plan_credits=col(User.plan_credits))
            .returning(col(User.plan_credits))
        ).scalar_one_or_none()
        if pool is None:
            raise CreditError(f"Unknown user {user_id}.")
        expiring = max(0, int(pool) - keep_at_most)
        if expiring:
            expire_id = _claim_reference(
                s,
                user_id=user_id,
                kind=LedgerKind.EXPIRE,
                amount=expiring,
                delta=-expiring,
                reference=f"{reference}:expire",
                description="Unused plan credits expired",
            )
            if expire_id is None:  # a twin call got here first and has finished
                return entry_view(_existing(s, reference))
            _finish_entry(s, expire_id, _add_to_balance(s, user_id, -expiring, -expiring))
        entry_id = _claim_reference(
            s,
            user_id=user_id,
            kind=LedgerKind.PLAN,
            amount=amount,
            delta=amount,
            reference=reference,
            description=description,
        )
        if entry_id is None:
            return entry_view(_existing(s, reference))
        return entry_view(_finish_entry(s, entry_id, _add_to_balance(s, user_id, amount, amount)))


def plan_credits(user_id: int, *, session: Session | None = None) -> int:
    """How much of the balance is plan credits that a renewal may expire."""
    with use_session(session) as s:
        return int(
            s.execute(select(col(User.plan_credits)).where(col(User.id) == user_id)).scalar_one()
        )


def balance(user_id: int, *, session: Session | None = None) -> int:
    with use_session(session) as s:
        return int(
            s.execute(select(col(User.credit_balance)).where(col(User.id) == user_id)).scalar_one()
        )


def ledger_sum(user_id: int, *, session: Session | None = None) -> int:
    with use_session(session) as s:
        total = s.execute(
            select(func.coalesce(func.sum(col(CreditEntry.delta)), 0)).where(
                col(CreditEntry.user_id) == user_id
            )
        ).scalar_one()
        return int(total)


def recent_entries(
    user_id: int, *, limit: int = 50, before_id: int | None = None
) -> list[EntryView]:
    """Newest first, keyset-paged by id."""
    with use_session(None) as s:
        query = select(CreditEntry).where(col(CreditEntry.user_id) == user_id)
        if before_id is not None:
            query = query.where(col(CreditEntry.id) < before_id)
        rows = s.execute(query.order_by(col(CreditEntry.id).desc()).limit(limit)).scalars()
        return [entry_view(r) for r in rows]
