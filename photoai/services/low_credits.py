"""The one "you are running low on credits" email per dip below the threshold.

`users.low_credit_notified` is flipped in its own short transaction before sending, so two
concurrent callers send one email and no row lock is held while talking to SMTP. Billing grants
that lift the balance back over the threshold clear the flag (see billing.effects._grant_pack).
"""

import logging

from sqlalchemy import update
from sqlmodel import col

from photoai.db import session_scope
from photoai.models import User
from photoai.services.email import send_email
from photoai.settings import get_settings
from photoai.wording import counted

log = logging.getLogger(__name__)


def maybe_notify_low_credits(user_id: int) -> bool:
    """Send the low-credit email if it is due; True when this call sent it.

    Call after anything that lowers a balance (holds, refunds). If sending fails the flag is
    cleared again, so the next call retries, and the error is raised to the caller.
    """
    settings = get_settings()
    with session_scope() as s:
        claimed = s.execute(
            update(User)
            .where(
                col(User.id) == user_id,
                col(User.credit_balance) < settings.low_credit_threshold,
                col(User.low_credit_notified).is_(False),
            )
            .values(low_credit_notified=True)
            .returning(col(User.email), col(User.credit_balance))
        ).one_or_none()
    if claimed is None:
        return False
    balance = counted(claimed.credit_balance, "credit")
    training = counted(settings.training_cost_credits, "credit")
    image = counted(settings.image_cost_credits, "credit")
    text = (
        f"Your {settings.app_name} balance is down to {balance}.\n\n"
        f"A training costs {training} and each image {image}. "
        f"Top up or change plan at {settings.base_url}/billing\n"
    )
    try:
        send_email(claimed.email, f"Your {settings.app_name} credits are running low", text)
    except Exception:
        with session_scope() as s:
            s.execute(update(User).where(col(User.id) == user_id).values(low_credit_notified=False))
        raise
    log.info("low-credit email sent to user %s", user_id)
    return True


def notify_quietly(user_id: int) -> None:
    """After a balance went down: the email is a courtesy, so its failure only gets logged."""
    try:
        maybe_notify_low_credits(user_id)
    except Exception:
        log.exception("low-credit email for user %s failed", user_id)
