"""Deleting an account and everything it holds, as a resumable job.

`request_deletion` checks the password, then disables the account at once: every session and
sign-in link is revoked and the row's email and password are replaced, so the old cookie stops
working, nobody can sign in, and the email can register again as a new account. The job then
erases, step by step and each step idempotent (a run killed anywhere is finished by the next):

1. every model (a training under way is stopped at its provider and refunded) and every other
   unfinished job;
2. every object under the user's storage prefix `users/<id>/` (training photos, thumbnails,
   training ZIPs, LoRA weights, generated pictures and their thumbnails);
3. active Stripe subscriptions, canceled through Stripe's API;
4. the rows naming the user (sessions, sign-in and reset tokens, consents, models, photos,
   pictures, jobs, pending sign-ups for the email);
5. a confirmation email to the old address, which is then dropped from the job row too.

Kept, anonymised, because accounting needs them: the credit ledger and holds (amounts and
Stripe references, descriptions blanked) and subscription rows, all pointing at the user row
that remains as a tombstone without email, name or password.
"""

import json
import logging
from datetime import timedelta

import stripe
from sqlalchemy import delete, select, update
from sqlmodel import Session, col

from photoai.db import session_scope
from photoai.models import (
    AuthSession,
    Consent,
    CreditEntry,
    GeneratedImage,
    Job,
    JobStatus,
    LoginTicket,
    PasswordResetToken,
    PendingRegistration,
    PersonalModel,
    Subscription,
    TrainingPhoto,
    User,
    utcnow,
)
from photoai.services import accounts, jobs, session_epochs, training
from photoai.services.billing.stripe_api import billing_enabled, stripe_client
from photoai.services.email import send_email
from photoai.services.storage import get_storage
from photoai.settings import get_settings

log = logging.getLogger(__name__)

KIND = "account_deletion"
DELETED_DOMAIN = "deleted.invalid"
UNUSABLE_PASSWORD = "!account-deleted"
_ENDED_SUBSCRIPTIONS = ("canceled", "incomplete_expired")
WRONG_PASSWORD = "That password is not correct. Nothing was deleted."


class DeletionError(Exception):
    """A refusal with a message meant for the user; nothing was changed."""


def tombstone_email(user_id: int) -> str:
    return f"deleted-{user_id}@{DELETED_DOMAIN}"


def _revoke_everything(s: Session, user_id: int) -> None:
    now = utcnow()
    revoked = s.execute(
        update(AuthSession)
        .where(col(AuthSession.user_id) == user_id, col(AuthSession.revoked_at).is_(None))
        .values(revoked_at=now)
        .returning(col(AuthSession.token_hash))
    )
    session_epochs.bump_after_commit(s, list(revoked.scalars()))
    s.execute(delete(LoginTicket).where(col(LoginTicket.user_id) == user_id))
    s.execute(delete(PasswordResetToken).where(col(PasswordResetToken.user_id) == user_id))


def _disable(s: Session, user: User) -> None:
    assert user.id is not None
    _revoke_everything(s, user.id)
    user.email = tombstone_email(user.id)
    user.name = ""
    user.password_hash = UNUSABLE_PASSWORD
    user.spending_blocked = True
    user.updated_at = utcnow()


def request_deletion(user_id: int, password: str) -> int:
    """Disable the account now and queue the job that erases it; returns the job id."""
    if not password:
        raise DeletionError("Enter your password to delete your account.")
    with session_scope() as s:
        user = s.get(User, user_id)
        if user is None or user.email == tombstone_email(user_id):
            raise DeletionError("This account is already being deleted.")
        if not accounts.verify_password(password, user.password_hash):
            raise DeletionError(WRONG_PASSWORD)
        email = user.email
    return _start(user_id, email)


def delete_for_operator(user_id: int) -> int:
    """An operator's deletion (a request by email, say), or a new run for an account whose
    deletion job failed for good: no password, the same job."""
    with session_scope() as s:
        user = s.get(User, user_id)
        if user is None:
            raise DeletionError(f"No account {user_id}.")
        email = user.email
        if email == tombstone_email(user_id):
            email = ""
            for payload in s.execute(
                select(col(Job.payload)).where(col(Job.kind) == KIND).order_by(col(Job.id).desc())
            ).scalars():
                found = json.loads(payload)
                if found.get("user_id") == user_id:
                    email = str(found.get("email", ""))
                    break
    return _start(user_id, email)


def _start(user_id: int, email: str) -> int:
    # The job exists before the account is disabled: if we die in between, the queued job
    # (resent by the reaper) disables it itself as its first step.
    job_id = jobs.create(
        KIND,
        user_id=None,
        payload={"user_id": user_id, "email": email},
        deadline=timedelta(days=1),
        enqueue_now=False,
    )
    with session_scope() as s:
        user = s.get(User, user_id, with_for_update=True)
        assert user is not None
        if user.email != tombstone_email(user_id):
            _disable(s, user)
    from photoai.services.queue import enqueue

    enqueue(job_id)
    return job_id


def _payload(job_id: int) -> tuple[int, str]:
    view = jobs.get(job_id)
    if view is None:
        raise jobs.PermanentJobError("The deletion job is gone.")
    return int(view.payload["user_id"]), str(view.payload.get("email", ""))


def _stop_models_and_jobs(user_id: int) -> None:
    with session_scope() as s:
        models = list(
            s.execute(
                select(col(PersonalModel.id)).where(col(PersonalModel.user_id) == user_id)
            ).scalars()
        )
    for model_id in models:
        training.delete_model(user_id, model_id)
    with session_scope() as s:
        unfinished = list(
            s.execute(
                select(col(Job.id)).where(
                    col(Job.user_id) == user_id,
                    col(Job.status).in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value]),
                )
            ).scalars()
        )
    for job_id in unfinished:
        jobs.fail(job_id, "The account was deleted.")


def _cancel_subscriptions(user_id: int) -> None:
    with session_scope() as s:
        active = list(
            s.execute(
                select(col(Subscription.stripe_subscription_id)).where(
                    col(Subscription.user_id) == user_id,
                    col(Subscription.status).not_in(_ENDED_SUBSCRIPTIONS),
                )
            ).scalars()
        )
    if active and not billing_enabled():
        raise jobs.PermanentJobError("Billing is off: active subscriptions cannot be canceled.")
    for subscription_id in active:
        try:
            stripe_client().v1.subscriptions.cancel(
                subscription_id, options={"idempotency_key": f"photoai-erase-{subscription_id}"}
            )
        except stripe.InvalidRequestError as exc:
            # Already canceled or unknown at Stripe: nothing is left to stop.
            log.warning("subscription %s not canceled: %s", subscription_id, exc)
        with session_scope() as s:
            s.execute(
                update(Subscription)
                .where(col(Subscription.stripe_subscription_id) == subscription_id)
                .values(status="canceled", cancel_at_period_end=False, updated_at=utcnow())
            )


def _erase_rows(user_id: int, email: str) -> None:
    with session_scope() as s:
        user = s.get(User, user_id, with_for_update=True)
        if user is not None and user.email != tombstone_email(user_id):
            _disable(s, user)
        _revoke_everything(s, user_id)
        s.execute(delete(AuthSession).where(col(AuthSession.user_id) == user_id))
        s.execute(delete(Consent).where(col(Consent.user_id) == user_id))
        s.execute(delete(GeneratedImage).where(col(GeneratedImage.user_id) == user_id))
        s.execute(delete(TrainingPhoto).where(col(TrainingPhoto.user_id) == user_id))
        s.execute(delete(PersonalModel).where(col(PersonalModel.user_id) == user_id))
        s.execute(delete(Job).where(col(Job.user_id) == user_id))
        if email:
            s.execute(delete(PendingRegistration).where(col(PendingRegistration.email) == email))
        s.execute(
            update(CreditEntry).where(col(CreditEntry.user_id) == user_id).values(description="")
        )


def run_deletion(job_id: int) -> jobs.Outcome:
    user_id, email = _payload(job_id)
    with session_scope() as s:  # first, in case the request died before disabling
        user = s.get(User, user_id, with_for_update=True)
        if user is None:
            raise jobs.PermanentJobError(f"No account {user_id}.")
        if user.email != tombstone_email(user_id):
            _disable(s, user)
    _stop_models_and_jobs(user_id)
    jobs.heartbeat(job_id, 0.3)
    get_storage().delete_prefix(f"users/{user_id}/")
    jobs.heartbeat(job_id, 0.5)
    _cancel_subscriptions(user_id)
    jobs.heartbeat(job_id, 0.7)
    _erase_rows(user_id, email)
    if email:
        send_email(
            email,
            f"Your {get_settings().app_name} account was deleted",
            "Your account and everything it held were deleted: training photos, models, "
            "generated pictures, sessions. Credit and payment records are kept without your "
            "name or email, as accounting law requires.\n\nYou can create a new account with "
            "this email at any time.",
        )
    _forget_email(user_id)
    return jobs.Outcome.DONE


def _forget_email(user_id: int) -> None:
    """Drop the old address from this and any earlier (failed) deletion job of the account."""
    with session_scope() as s:
        rows = s.execute(select(col(Job.id), col(Job.payload)).where(col(Job.kind) == KIND))
        mine = [job_id for job_id, payload in rows if json.loads(payload).get("user_id") == user_id]
        s.execute(
            update(Job)
            .where(col(Job.id).in_(mine))
            .values(payload=json.dumps({"user_id": user_id}))
        )


jobs.register(KIND, run_deletion)
