"""Explicit consent before a user's face photos are processed.

A consent row records the version of the consent text, when it was given, and the text itself
with its SHA-256, so an operator can show exactly what each user agreed to. Uploading a
training photo is refused (in the training service, not only in the page) until the user has
consented to the current version.
"""

import hashlib

from sqlalchemy import select
from sqlmodel import col

from photoai.db import session_scope
from photoai.models import Consent
from photoai.services import analytics
from photoai.services.privacy import disclosure
from photoai.settings import get_settings

# Bump when the meaning of the consent changes: everyone is asked again before their next upload.
CONSENT_VERSION = "2026-11-face-photos-v2"
MISSING = (
    "Before adding photos, agree to how your face photos are processed "
    "(the consent step above the upload area)."
)


def has_consented(user_id: int) -> bool:
    with session_scope() as s:
        return (
            s.execute(
                select(col(Consent.id)).where(
                    col(Consent.user_id) == user_id, col(Consent.version) == CONSENT_VERSION
                )
            ).first()
            is not None
        )


def record_consent(user_id: int) -> None:
    """Record consent to the current version and text; giving it again changes nothing."""
    if has_consented(user_id):
        return
    text = disclosure.as_text(get_settings())
    with session_scope() as s:
        s.add(
            Consent(
                user_id=user_id,
                version=CONSENT_VERSION,
                text_sha256=hashlib.sha256(text.encode()).hexdigest(),
                summary=text,
            )
        )
    analytics.track(user_id, analytics.Funnel.CONSENTED, {"version": CONSENT_VERSION})
